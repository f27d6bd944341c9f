"""The results store as a pandas DataFrame: one row per record, the columns tables need."""

from __future__ import annotations

import os

import pandas as pd

from mamp_bench.results.store import ResultsStore

COLUMNS = [
    "method", "protocol", "dataset", "family", "split", "synthetic", "scale", "seed", "config_hash",
    "fraction", "source_family", "setting", "settings", "top1_best", "top1_final", "top5_final", "best_epoch",
    "wall_seconds", "device", "created",
]  # fmt: skip


def _family(dataset: str) -> str | None:
    from mamp_bench.data.specs import get_dataset
    from mamp_bench.errors import UserError

    try:
        return get_dataset(dataset).family
    except UserError:
        return None


def load_results(root: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """Every valid record of the store (``--results-dir`` / ``MAMP_BENCH_RESULTS`` / ``./results``)."""
    rows = []
    for record in ResultsStore(root).records():
        metrics = record.get("metrics", {})
        config = record.get("protocol_config", {})
        source = record.get("source_dataset")
        rows.append(
            {
                "method": record["method"],
                "protocol": record["protocol"],
                "dataset": record["dataset"],
                "family": record.get("family"),
                "split": record.get("split"),
                "synthetic": bool(record.get("synthetic")),
                "scale": record.get("scale"),
                "seed": record["seed"],
                "config_hash": record["config_hash"],
                "fraction": config.get("fraction") if record["protocol"] == "semi" else None,
                "source_family": _family(source) if source else None,
                "setting": record.get("row_hash") or _legacy_row(record),
                "settings": record["overrides"] if "overrides" in record else record.get("settings", {}),
                "top1_best": metrics.get("top1_best"),
                "top1_final": metrics.get("top1_final"),
                "top5_final": metrics.get("top5_final", metrics.get("top5")),
                "best_epoch": metrics.get("best_epoch"),
                "wall_seconds": record.get("wall_seconds"),
                "device": record.get("environment", {}).get("device"),
                "created": record.get("created"),
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def _legacy_row(record: dict) -> str:
    """Row identity of a record written before ``row_hash``: its settings without the fraction."""
    from mamp_bench.config import config_hash

    settings = {k: v for k, v in record.get("settings", {}).items() if k != "protocol.fraction"}
    return config_hash(settings) if settings else record["config_hash"]
