"""The reference's process layout under ``fidelity=reference``: the paper's scripts ran two processes, each
with its own batch and BatchNorm statistics over its own share of the data; a run of the suite on any number
of processes that divides theirs reproduces that layout (docs/fidelity.md)."""

from __future__ import annotations

import numpy as np

from mamp_bench.errors import UserError


def reference_layout(config, train_clips: int, runtime) -> tuple[int, list[np.ndarray]]:
    """(BatchNorm chunk, every reference process's dataset positions) for fidelity=reference on the
    full training set: the reference's processes each see the whole set through their sampler."""
    ghost = per_process_batch(config, runtime)
    return ghost, [np.arange(train_clips)] * config.reference_processes


def per_process_batch(config, runtime) -> int:
    """The reference's per-process batch; this run's processes must split its processes evenly."""
    processes, suite = config.reference_processes, runtime.world_size
    if processes % suite:
        raise UserError(f"fidelity=reference emulates the reference's {processes} processes: run on a number of "
                        f"processes that divides {processes}, or use --set fidelity=clean")  # fmt: skip
    if config.batch_size % processes:
        raise UserError(f"batch_size {config.batch_size} must split into the reference's {processes} processes")
    return config.batch_size // processes
