"""Labelled subsets for semi-supervised evaluation: chosen once per seed, class-stratified.

The reference shuffles the training indices with NumPy's global seed 0 + rank, so its 5 repeated
runs share one subset and, with 2 DDP processes, each process trains on its own subset. Here the
subset depends on the seed only, is identical in every process, and is saved with the run.
"""

from __future__ import annotations

import numpy as np


def labelled_subset(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of ``int(len(labels) * fraction)`` training clips, stratified by class.

    Each class gets ``floor(n_c * fraction)`` clips; the clips left over go to the classes with
    the largest remainders (ties broken at random). With fewer clips than classes, that many
    classes get one clip each.
    """
    labels = np.asarray(labels)
    total = int(len(labels) * fraction)
    if total < 1:
        raise ValueError(f"fraction {fraction} of {len(labels)} clips selects nothing")
    rng = np.random.default_rng([seed, 7])
    classes, counts = np.unique(labels, return_counts=True)
    quota = np.floor(counts * fraction).astype(int)
    remainder = counts * fraction - quota
    order = np.lexsort((rng.random(len(classes)), -remainder))  # largest remainder first, random ties
    for c in order[: total - quota.sum()]:
        quota[c] += 1
    chosen = []
    for c, k in zip(classes, quota, strict=True):
        members = np.flatnonzero(labels == c)
        chosen.append(rng.choice(members, size=min(k, len(members)), replace=False))
    return np.sort(np.concatenate(chosen)).astype(np.int64)
