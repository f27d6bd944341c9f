"""Labelled subsets for semi-supervised evaluation.

``labelled_subset`` (fidelity=clean): chosen once per seed, class-stratified, identical in every
process, saved with the run. ``reference_draws`` (fidelity=reference): what the paper's scripts
draw: each of their processes seeds NumPy's global generator with seed + rank and shuffles the
training indices (``feeder_ntu_semi.random_select_data``), so the 5 repeats of ``script_semi.sh``
(all seed 0) share one subset per process, and with 2 processes each trains on its own draw.
``per_class_draws`` (the GCN family's ``Feeder_semi``): round(fraction x n_c) clips of each class.
"""

from __future__ import annotations

import random

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


def reference_draws(clips: int, fraction: float, seed: int, processes: int) -> list[np.ndarray]:
    """The reference's labelled subsets, one per process: indices in the order its dataset holds them.

    Process r: ``np.random.seed(seed + r)``; ``idx = np.arange(clips)``; ``np.random.shuffle(idx)``;
    the first ``int(clips * fraction)`` (a ``RandomState`` with the same seed makes the same calls).
    """
    draws = []
    for rank in range(processes):
        order = np.arange(clips)
        np.random.RandomState(seed + rank).shuffle(order)
        draws.append(order[: int(clips * fraction)])
    if not len(draws[0]):
        raise ValueError(f"fraction {fraction} of {clips} clips selects nothing")
    return draws


def per_class_draws(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """The GCN family's labelled subset (Levigty/AimCLR ``feeder/ntu_feeder.py`` ``Feeder_semi``): for each class
    in the order of its first clip, ``random.sample`` of ``round(fraction * n_c)`` of its clips (Python's
    ``round``, half to even) from Python's generator seeded with ``seed``; sorted indices. (The reference draws
    from the global generator its ``main.py`` seeded with 0; calls made before its feeder would change them.)"""
    rng = random.Random(seed)
    members: dict[int, list[int]] = {}
    for index, label in enumerate(np.asarray(labels).tolist()):
        members.setdefault(int(label), []).append(index)
    chosen = [i for clips in members.values() for i in rng.sample(clips, round(fraction * len(clips)))]
    if not chosen:
        raise ValueError(f"fraction {fraction} of every class of {len(labels)} clips rounds to no clip")
    return np.sort(np.asarray(chosen, dtype=np.int64))
