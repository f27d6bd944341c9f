"""Throughput benchmarks (``nox -s bench`` or ``python -m benchmarks``). Not tests: they time things."""
