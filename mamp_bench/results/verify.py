"""Checking the claims of a results store: every record is re-hashed, its accuracies recomputed from
its saved per-clip predictions, and the checkpoint it names re-hashed where it is on this machine."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mamp_bench.evaluation.metrics import Predictions
from mamp_bench.fileio import sha256_file
from mamp_bench.results.store import ResultsStore


@dataclass
class Verification:
    records: int = 0  # records checked
    problems: list[str] = field(default_factory=list)  # mismatches: a claim that does not hold
    notes: list[str] = field(default_factory=list)  # what could not be checked here, and why


def verify_store(root: str | Path | None = None) -> Verification:
    store = ResultsStore(root)
    scan = store.scan()
    result = Verification(records=len(scan.records) + len(scan.skipped))
    result.problems += [f"{path}: {reason}" for path, reason in scan.skipped]
    for record in scan.records:
        problems, notes = verify_record(store, record)
        result.problems += problems
        result.notes += notes
    return result


def verify_record(store: ResultsStore, record: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(mismatches, notes) of one valid record."""
    path = store.path_for(record)
    entry = record.get("predictions")
    if not entry:
        return [f"{path}: no saved predictions: its accuracies cannot be recomputed"], []
    data_path = path.with_name(entry["file"])
    if not data_path.is_file():
        return [f"{path}: its predictions file {data_path.name} is missing"], []
    data = data_path.read_bytes()
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        return [f"{path}: {data_path.name} is not the file the record was written with (sha256 differs)"], []
    problems = [f"{path}: {message}" for message in _metric_mismatches(record["metrics"], Predictions.from_bytes(data))]
    log = record.get("log")
    if log and not (
        path.with_name(log["file"]).is_file() and sha256_file(path.with_name(log["file"])) == log["sha256"]
    ):
        problems.append(f"{path}: its per-epoch log {log['file']} is missing or not the file it was written with")
    notes: list[str] = []
    checkpoint, digest = record.get("encoder", {}).get("checkpoint"), record.get("encoder", {}).get("checkpoint_sha256")
    if checkpoint and digest:
        if not Path(checkpoint).is_file():
            notes.append(f"{path}: checkpoint {checkpoint} is not on this machine (not checked)")
        elif sha256_file(checkpoint) != digest:
            problems.append(f"{path}: checkpoint {checkpoint} has changed since the run (sha256 differs)")
    return problems, notes


def _metric_mismatches(stated: dict[str, Any], predictions: Predictions) -> list[str]:
    out = []
    for key, value in predictions.metrics().items():
        claim = stated.get(key)
        if not _same(claim, value):
            out.append(f"{key} is {_short(claim)} but its predictions give {_short(value)}")
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def _short(value: Any) -> str:
    return f"[{len(value)} values]" if isinstance(value, list) else repr(value)
