"""Evaluation protocols, registered as plugins (installed as ``mamp_bench.protocols``).

Each protocol's hyperparameters live in ``recipes/*.toml`` (one table per scale, sub-tables per
dataset family and per protocol variant) and are recorded with every run.
"""

from mamp_bench.protocols import finetune, knn, linear  # noqa: F401  (importing registers them)
