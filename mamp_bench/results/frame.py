"""The results store as a pandas DataFrame: one row per record, the columns tables need."""

from __future__ import annotations

import os

import pandas as pd

from mamp_bench.results.store import ResultsStore

COLUMNS = [
    "method", "protocol", "dataset", "family", "split", "synthetic", "scale", "fidelity", "seed", "config_hash",
    "setting", "row", "overrides", "top1_best", "top1_final", "top1_last5", "top5_final", "best_epoch",
    "wall_seconds", "device", "created",
]  # fmt: skip


def load_results(root: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """Every valid record of the store (``--results-dir`` / ``MAMP_BENCH_RESULTS`` / ``./results``)."""
    return results_frame(ResultsStore(root).records())


def results_frame(records: list[dict]) -> pd.DataFrame:
    """Records as rows. ``setting``: the protocol's setting values (label fraction, transfer source),
    which pick a table column; ``row``: what makes a table row (method, protocol, scale, the user's
    overrides); ``synthetic``: the data was synthetic (by name or by the mark of its preparation)."""
    rows = []
    for record in records:
        metrics = record.get("metrics", {})
        rows.append(
            {
                "method": record["method"],
                "protocol": record["protocol"],
                "dataset": record["dataset"],
                "family": record.get("family"),
                "split": record.get("split"),
                "synthetic": bool(record.get("synthetic")),
                "scale": record.get("scale"),
                "fidelity": record.get("fidelity", "clean"),
                "seed": record["seed"],
                "config_hash": record["config_hash"],
                "setting": record.get("setting") or {},
                "row": record.get("row_hash") or record["config_hash"],
                "overrides": record.get("overrides") or {},
                "top1_best": metrics.get("top1_best"),
                "top1_final": metrics.get("top1_final"),
                "top1_last5": metrics.get("top1_last5"),
                "top5_final": metrics.get("top5_final", metrics.get("top5")),
                "best_epoch": metrics.get("best_epoch"),
                "wall_seconds": record.get("wall_seconds"),
                "device": record.get("environment", {}).get("device"),
                "created": record.get("created"),
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)
