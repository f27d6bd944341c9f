"""Evaluation protocols, registered as plugins (installed as ``mamp_bench.protocols``, entered through the
``mamp_bench.protocols`` entry point). Each protocol is one module; its hyperparameters live in
``recipes/*.toml`` (one table per scale, sub-tables per dataset family and per protocol variant) and are
recorded with every run.
"""

from mamp_bench.protocols import finetune, knn, linear, scratch, semi, transfer  # noqa: F401  (registers them)
