"""Benchmarks that start their own Tocsin stack; results go to bench/results/ and
docs/benchmarks.md."""
