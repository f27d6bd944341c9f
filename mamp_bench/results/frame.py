"""The results store as a pandas DataFrame: one row per verified measurement, the columns tables need."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from mamp_bench.models.loading import PRE_REGISTRY_ENCODER
from mamp_bench.results.evidence import Evidence, clip_counts, custom_settings

COLUMNS = [
    "method", "protocol", "dataset", "family", "split", "synthetic", "data", "data_reason", "custom", "train_clips",
    "test_clips", "scale", "fidelity", "recipe", "encoder", "seed", "config_hash", "setting", "row", "overrides",
    "top1_best", "top1_final", "top1_last5", "top5_final", "best_epoch", "wall_seconds", "device", "created",
    "record_file", "scores",
]  # fmt: skip


@dataclass
class Results:
    """The records that verify (each measurement once) as a frame, and the record files left out with why."""

    frame: pd.DataFrame
    left_out: list[tuple[Path, str]] = field(default_factory=list)


def load_checked(root: str | os.PathLike[str] | None = None, data_root: str | None = None) -> Results:
    """Every record of the store (``--results-dir`` / ``MAMP_BENCH_RESULTS`` / ``./results``) held to its evidence
    (``results/evidence.py``): the ones that verify, each distinct measurement once, and the ones left out."""
    from mamp_bench.results.store import ResultsStore
    from mamp_bench.results.verify import check_store

    checked = check_store(root, data_root)
    passed, store = checked.passed(), ResultsStore(root)
    frame = results_frame([r for r, _ in passed], [e for _, e in passed], [store.path_for(r) for r, _ in passed])
    return Results(frame, checked.left_out())


def load_results(root: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """The frame of ``load_checked``."""
    return load_checked(root).frame


def results_frame(records: list[dict], evidence: Sequence[Evidence | None] | None = None,
                  paths: Sequence[Path | None] | None = None) -> pd.DataFrame:  # fmt: skip
    """Records as rows. ``setting``: the protocol's setting values (label fraction, transfer source), which pick
    a table column; ``row``: what makes a table row (method, protocol, scale, the user's overrides); ``data``:
    what the data is proven to be ("real", "synthetic", "unverified"; without ``evidence``, "synthetic" or
    "unverified" by what the record says); ``custom``: the settings by which the run differs from its recipe;
    ``recipe`` and ``encoder``: the recipe family and the registered encoder (a record written before encoders
    were registered names neither: the transformer's, then every method's encoder); ``record_file`` (from
    ``paths``) and ``scores``: where its kept class scores are (the 3-stream ensemble reads them)."""
    rows = []
    paths = paths or [None] * len(records)
    for record, found, path in zip(records, evidence or [None] * len(records), paths, strict=True):
        metrics = record.get("metrics", {})
        synthetic = bool(record.get("synthetic"))
        data = found.data if found is not None else ("synthetic" if synthetic else "unverified")
        train, test = clip_counts(record, found or Evidence())
        rows.append(
            {
                "method": record["method"],
                "protocol": record["protocol"],
                "dataset": record["dataset"],
                "family": record.get("family"),
                "split": record.get("split"),
                "synthetic": data == "synthetic",
                "data": data,
                "data_reason": found.data_reason if found is not None else "",
                "custom": custom_settings(record),
                "train_clips": train,
                "test_clips": test,
                "scale": record.get("scale"),
                "fidelity": record.get("fidelity", "clean"),
                "recipe": record.get("recipe") or PRE_REGISTRY_ENCODER.recipe,
                "encoder": (record.get("encoder") or {}).get("name") or PRE_REGISTRY_ENCODER.name,
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
                "record_file": str(path) if path is not None else None,
                "scores": record.get("scores"),
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)
