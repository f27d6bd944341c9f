"""Published numbers: the "reported" rows of every table, shipped in ``reported.csv``.

One row a number: method, protocol (linear, finetune, semi-1pct, semi-10pct, transfer), dataset
(ntu60, ntu120, pku1, pku2), split (xsub, xview, xset; transfer: from-ntu60 / from-ntu120),
metric (top1), value, source (where it was read and which table), verified. Copied with their
sources from the research notes of this project. ``MAMP`` is the paper's figure (as reprinted by
later papers); ``MAMP-README-ckpt`` the retrained checkpoints of the authors' README, a different
set of weights; the two are never merged.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import pandas as pd


@cache
def reported() -> pd.DataFrame:
    with resources.files("mamp_bench.results").joinpath("reported.csv").open() as handle:
        frame = pd.read_csv(handle)
    frame["value"] = frame["value"].astype(float)
    return frame


def short_source(source: str) -> str:
    """``github:KAIST-VICLab/SOfA README.md ...`` -> ``SOfA``; a URL -> its host."""
    head = source.split(" ")[0]
    if head.startswith("github:"):
        return head.split("/")[-1]
    if head.startswith("http"):
        return head.split("/")[2]
    return head
