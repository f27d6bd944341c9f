"""Pretraining methods. MAMP is built in; baselines live in the top-level ``baselines`` package."""

from mamp_bench.methods import mamp  # noqa: F401  (importing registers the built-in method)
