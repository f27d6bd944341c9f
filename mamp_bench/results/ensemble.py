"""The GCN family's 3-stream ensemble rows: a method's joint, motion and bone runs, their class scores summed.

As Levigty/AimCLR ``ensemble_ntu_cs.py`` (``ensemble_ntu_cv.py``, ``ensemble_pkup1cs.py``): each stream's linear
evaluation keeps the class scores of its best evaluation (``test_result.pkl``); the ensemble's prediction for a
clip is the argmax of 0.6 x joint + 0.6 x bone + 0.4 x motion (``data/gcn/streams.py`` ``ENSEMBLE_WEIGHTS``), its
top-1 the share of test clips it gets right. Here each stream's scores are the ones its record keeps (``scores``,
checked by ``results/evidence.py``); the members of one ensemble are verified records of one method, protocol,
dataset, scale and seed whose settings differ only in the stream (``method.encoder.stream``; none: the joint
stream). The ensemble is a derived number: it is shown as its own row, never stored as a record.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mamp_bench.data.gcn.streams import ENSEMBLE_WEIGHTS
from mamp_bench.errors import DataFormatError
from mamp_bench.results.evidence import load_predictions, load_scores

#: the setting that picks a stream (a method override); a run without it is the joint stream's
STREAM_KEY = "method.encoder.stream"
JOINT = "joint"
#: how tables name an ensemble row's recipe
WEIGHTS_TEXT = " + ".join(f"{w} {s}" for s, w in sorted(ENSEMBLE_WEIGHTS.items(), key=lambda item: -item[1]))


def stream_of(overrides: dict[str, Any]) -> str:
    return str(overrides.get(STREAM_KEY, JOINT))


def _base(overrides: dict[str, Any]) -> str:
    """The settings of a run other than its stream (what its ensemble partners share)."""
    return json.dumps({k: str(v) for k, v in sorted(overrides.items()) if k != STREAM_KEY})


def ensemble_top1(members: dict[str, pd.Series]) -> float:
    """Top-1 (%) of the weighted sum of the members' best-evaluation class scores ({stream: frame row})."""
    total, labels = None, None
    for stream, row in members.items():
        scores = load_scores({"scores": row["scores"]}, Path(row["record_file"]))
        total = ENSEMBLE_WEIGHTS[stream] * scores if total is None else total + ENSEMBLE_WEIGHTS[stream] * scores
        found = load_predictions(Path(row["record_file"]).with_suffix(".predictions.npz")).labels  # the store's layout
        if labels is not None and not np.array_equal(labels, found):
            raise DataFormatError("the streams' predictions are of different test clips")
        labels = found
    return 100.0 * float((total.argmax(axis=1) == labels).sum()) / max(len(labels), 1)


def ensembles(data: pd.DataFrame) -> list[tuple[tuple[str, str, str, str], dict[tuple[str, int], float]]]:
    """The ensembles the frame's records make: ((method, protocol, scale, its other settings), {(dataset, seed):
    top-1}) for each group whose joint, motion and bone runs all kept their scores."""
    if not len(data) or "scores" not in data:
        return []
    kept = data[data["scores"].apply(lambda s: isinstance(s, dict)) & data["record_file"].notna()]
    groups: dict[tuple[str, str, str, str], dict[tuple[str, int], dict[str, pd.Series]]] = {}
    for _, row in kept.iterrows():
        key = (row["method"], row["protocol"], row["scale"], _base(row["overrides"]))
        groups.setdefault(key, {}).setdefault((row["dataset"], int(row["seed"])), {})[stream_of(row["overrides"])] = row
    out = []
    for key, cells in sorted(groups.items()):
        values = {}
        for cell, members in cells.items():
            if set(members) == set(ENSEMBLE_WEIGHTS):
                try:
                    values[cell] = ensemble_top1(members)
                except DataFormatError:
                    continue  # a member's files changed since it was checked: no ensemble from it
        if values:
            out.append((key, values))
    return out
