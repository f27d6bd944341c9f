"""Evaluation protocols, registered as plugins (entry point group ``mamp_bench.protocols``).

Each protocol's hyperparameters live in ``recipes/*.toml`` (one table per scale, sub-tables per
dataset family and per protocol variant) and are recorded with every run.
"""

from protocols import finetune, knn, linear  # noqa: F401  (importing registers them)
