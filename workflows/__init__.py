"""Durable incident logic. Deterministic code only: no I/O, no table classes."""
