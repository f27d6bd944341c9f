"""The results store: one JSON record per run, append-only, written atomically.

Layout (browsable)::

    <root>/records/<protocol>/<dataset>/<method>/<config-hash>-s<seed>.json

A record is identified by its configuration hash and seed, so a re-run of the same job is
recognised. Two runs writing at the same time each write their own file (temporary file,
fsync, rename), so both land and the store stays readable.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from mamp_bench.errors import DataFormatError
from mamp_bench.fileio import read_json, write_json

RESULTS_ENV = "MAMP_BENCH_RESULTS"


def results_root(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``--results-dir``, ``MAMP_BENCH_RESULTS`` or ``./results``."""
    return Path(explicit or os.environ.get(RESULTS_ENV) or "results").expanduser()


def record_checksum(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "checksum"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


class ResultsStore:
    def __init__(self, root: str | os.PathLike[str] | None = None):
        self.root = results_root(root)

    def path_for(self, record: dict[str, Any]) -> Path:
        return (
            self.root
            / "records"
            / record["protocol"]
            / record["dataset"]
            / record["method"]
            / f"{record['config_hash']}-s{record['seed']}.json"
        )

    def write(self, record: dict[str, Any]) -> Path:
        record = {**record, "checksum": record_checksum(record)}
        path = self.path_for(record)
        write_json(path, record)
        return path

    def find(self, protocol: str, dataset: str, method: str, config_hash: str, seed: int) -> dict[str, Any] | None:
        path = self.root / "records" / protocol / dataset / method / f"{config_hash}-s{seed}.json"
        return read_record(path)

    def records(self) -> list[dict[str, Any]]:
        """Every valid record (a corrupt or tampered file is skipped; see ``invalid``)."""
        out = []
        for path in sorted((self.root / "records").rglob("*.json")):
            record = read_record(path)
            if record is not None:
                out.append(record)
        return out

    def invalid(self) -> list[tuple[Path, str]]:
        bad = []
        for path in sorted((self.root / "records").rglob("*.json")):
            try:
                record = read_json(path, "result record")
            except DataFormatError as exc:
                bad.append((path, f"unreadable: {exc}"))
                continue
            if not isinstance(record, dict) or record.get("checksum") != record_checksum(record):
                bad.append((path, "checksum mismatch"))
        return bad


def read_record(path: Path) -> dict[str, Any] | None:
    """The record at ``path``, or None when there is none: missing, not a regular file (a FIFO would
    hang a plain read), not JSON, or not matching its checksum."""
    if not os.path.lexists(path):
        return None
    try:
        record = read_json(path, "result record")
    except DataFormatError:
        return None
    if not isinstance(record, dict) or record.get("checksum") != record_checksum(record):
        return None
    return record
