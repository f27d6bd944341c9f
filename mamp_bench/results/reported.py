"""Published numbers: the "reported" rows of every table, shipped in ``reported.csv``.

One row a number: method, protocol (linear, finetune, semi-1pct, semi-10pct, transfer), dataset
(ntu60, ntu120, pku1, pku2), split (xsub, xview, xset; transfer: from-ntu60 / from-ntu120),
metric (top1), value, source (where it was read and which table), verified. Copied with their
sources from the research notes of this project. ``MAMP`` is the paper's figure (as reprinted by
later papers); ``MAMP-README-ckpt`` the retrained checkpoints of the authors' README, a different
set of weights; the two are never merged. ``venues.csv`` gives each method's venue and year (read in
the sources it names), by which the tables order the published rows.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import pandas as pd


@cache
def reported() -> pd.DataFrame:
    """Every published number with its source, its method's venue and year."""
    files = resources.files("mamp_bench.results")
    with files.joinpath("reported.csv").open() as handle:
        frame = pd.read_csv(handle)
    with files.joinpath("venues.csv").open() as handle:
        venues = pd.read_csv(handle)[["method", "venue", "year"]]
    frame["value"] = frame["value"].astype(float)
    return frame.merge(venues, on="method", how="left").fillna({"venue": "venue unknown", "year": 0})
