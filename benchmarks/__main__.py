"""Run every benchmark in turn (``python -m benchmarks``)."""

from benchmarks import prepare_throughput

prepare_throughput.main([])
