"""Tocsin: cross-cutting glue (settings, key helpers, the CLI and the dev-stack launcher)."""
