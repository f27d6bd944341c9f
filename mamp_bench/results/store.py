"""The results store: one JSON record per run, with its per-clip predictions beside it.

Layout (browsable)::

    <root>/records/<protocol>/<dataset>/<method>/<config-hash>-s<seed>.json
    <root>/records/<protocol>/<dataset>/<method>/<config-hash>-s<seed>.predictions.npz
    <root>/records/<protocol>/<dataset>/<method>/<config-hash>-s<seed>.log.csv   (one row per epoch)
    <root>/records/<protocol>/<dataset>/<method>/<config-hash>-s<seed>.scores.npy (when kept: the best
        evaluation's class scores, which the GCN family's 3-stream ensemble sums)

A record is identified by its configuration hash and seed, so its location follows from its
content and a re-run of the same job is recognised. Reading the store counts each (configuration,
seed) once: a file that cannot be read, whose checksum does not match (edited after it was
written) or whose location disagrees with its content (a copy under another name) is skipped,
and the reason is reported; ``results/evidence.py`` then holds each record to what it carries. With
``MAMP_BENCH_SIGNING_KEY`` set, every record is written with an HMAC signature. Every file is written
atomically (temporary file, fsync, rename), so two writers both land and the store stays readable.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mamp_bench.config import config_hash
from mamp_bench.errors import DataFormatError
from mamp_bench.fileio import read_json, sha256_file, write_bytes, write_json

RESULTS_ENV = "MAMP_BENCH_RESULTS"


def results_root(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``--results-dir``, ``MAMP_BENCH_RESULTS`` or ``./results``."""
    return Path(explicit or os.environ.get(RESULTS_ENV) or "results").expanduser()


def record_checksum(record: dict[str, Any]) -> str:
    """The sha256 of a record without its checksum: it catches an edit that did not recompute it (a hand edit,
    a bad merge), nothing more; ``results/evidence.py`` holds a record to what it carries."""
    body = {k: v for k, v in record.items() if k != "checksum"}
    return hashlib.sha256(_canonical(body).encode()).hexdigest()


def _canonical(body: dict[str, Any]) -> str:
    return json.dumps(body, sort_keys=True, default=str)


#: a lab's key for signing records (optional): set when writing, given to ``verify --key`` when checking
SIGNING_ENV = "MAMP_BENCH_SIGNING_KEY"


def signing_key() -> bytes | None:
    """The signing key (``MAMP_BENCH_SIGNING_KEY``), or None when it is not set."""
    value = os.environ.get(SIGNING_ENV)
    return value.encode() if value else None


def signature(record: dict[str, Any], key: bytes) -> str:
    """HMAC-SHA256 with ``key`` of a record without its checksum and signature. The record names the sha256 of
    its predictions and log, so the signature covers them too."""
    body = {k: v for k, v in record.items() if k not in ("checksum", "signature")}
    return hmac.new(key, _canonical(body).encode(), hashlib.sha256).hexdigest()


@dataclass
class StoreScan:
    records: list[dict[str, Any]] = field(default_factory=list)  # the valid ones, each (configuration, seed) once
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # (file, why it is not counted)


#: Size bound of a file stored beside a record (its predictions or per-epoch log): 1 GiB, as evidence.py bounds
#: the predictions of every NTU-120 clip over 1,000 epochs.
MAX_STORED_BYTES = 1 << 30
#: The keys of a record's ``encoder`` that its configuration hash covers, by kind (what produced the encoder;
#: the paths where it was found are not part of it): what the plan writes as the encoder's identity.
ENCODER_IDENTITY = {
    "checkpoint": ("kind", "checkpoint_sha256", "checkpoint_method"),
    "pretrained": ("kind", "pretrain_dataset", "pretrain_seed", "pretrain_hash", "pretrain_config", "checkpoint_epoch"),
    "fresh": ("kind", "encoder_config", "init_seed"),
}


def encoder_identity(encoder: dict[str, Any]) -> dict[str, Any]:
    """The part of a record's ``encoder`` its configuration hash covers (``ENCODER_IDENTITY``)."""
    return {k: encoder.get(k) for k in ENCODER_IDENTITY.get(encoder.get("kind"), ())}


def run_hash(protocol: str, method: str, dataset: str, scale: str, protocol_config: Any, encoder: dict) -> str:
    """What identifies a run, and names its record (with its seed): the protocol, method, dataset, scale, the
    protocol's configuration and the encoder's identity (``ENCODER_IDENTITY``)."""
    return config_hash({"protocol": protocol, "method": method, "dataset": dataset, "scale": scale,
                        "protocol_config": protocol_config, "encoder": encoder_identity(encoder)})  # fmt: skip


def row_hash(method: str, protocol: str, scale: str, overrides: dict, setting_keys: tuple[str, ...],
             encoder: dict) -> str:  # fmt: skip
    """What makes a row of a results table: the method, protocol and scale, the user's overrides (not the
    per-dataset presets, which differ between columns, nor the protocol's setting keys, which pick the
    column), and the checkpoint when one was given."""
    row = {"method": method, "protocol": protocol, "scale": scale,
           "overrides": {k: str(v) for k, v in overrides.items() if k not in setting_keys}}  # fmt: skip
    if encoder.get("kind") == "checkpoint":
        row["checkpoint_sha256"] = encoder.get("checkpoint_sha256")
    return config_hash(row)


#: the files a record names beside it (``record[kind] = {"file", "sha256"}``): its evidence
RECORD_FILES = ("predictions", "log", "scores")


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

    def predictions_path(self, record: dict[str, Any]) -> Path:
        return self.path_for(record).with_suffix(".predictions.npz")

    def log_path(self, record: dict[str, Any]) -> Path:
        return self.path_for(record).with_suffix(".log.csv")

    def scores_path(self, record: dict[str, Any]) -> Path:
        return self.path_for(record).with_suffix(".scores.npy")

    def write(self, record: dict[str, Any], predictions: bytes | None = None, log: bytes | None = None,
              scores: bytes | None = None) -> dict:  # fmt: skip
        """Write the predictions, the per-epoch log and the class scores (those given), then the record naming
        their sha256s; the stored record."""
        for key, data, path in (("predictions", predictions, self.predictions_path(record)),
                                ("log", log, self.log_path(record)),
                                ("scores", scores, self.scores_path(record))):  # fmt: skip
            if data is not None:
                write_bytes(path, data)
                record = {**record, key: {"file": path.name, "sha256": hashlib.sha256(data).hexdigest()}}
        key = signing_key()
        if key is not None:
            record = {**record, "signature": signature(record, key)}
        record = {**record, "checksum": record_checksum(record)}
        write_json(self.path_for(record), record)
        return record

    def find(self, protocol: str, dataset: str, method: str, config_hash: str, seed: int) -> dict[str, Any] | None:
        path = self.root / "records" / protocol / dataset / method / f"{config_hash}-s{seed}.json"
        record, _ = read_record(path)
        return record if record is not None and self.path_for(record) == path else None

    def reusable(self, protocol: str, dataset: str, method: str, config_hash: str, seed: int, run_folder: Path,
                 fingerprints: dict[str, str | None]) -> dict[str, Any] | None:  # fmt: skip
        """The stored record of a run, if its run folder ``run_folder`` (in this runs folder) produced it (a
        record from elsewhere, such as the committed smoke records in a fresh clone, is a result to compare
        with: the job runs, and
        ``git diff results/`` shows whether it reproduced) and the data it read has not changed since
        (``fingerprints``: now, by the record's ``data`` keys, ``evaluated`` and ``pretrained_on``)."""
        record = self.find(protocol, dataset, method, config_hash, seed)
        if record is None or not (run_folder / "config.json").is_file() or self.stored_files_problem(record):
            return None  # (a deleted or replaced predictions file or log: the run repairs them)
        for key, now in fingerprints.items():
            recorded = record.get("data", {}).get(key, {}).get("fingerprint")
            if recorded and recorded != now:
                return None
        return record

    def stored_files_problem(self, record: dict[str, Any]) -> str | None:
        """Why the predictions or per-epoch log a stored record names are not beside it as written (deleted,
        replaced, not a regular file), or None when they are."""
        for key in ("predictions", "log"):
            entry = record.get(key)
            if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
                return f"it names no {key} file" if key == "predictions" else None
            path = self.path_for(record).with_name(Path(entry["file"]).name)
            try:
                if sha256_file(path, MAX_STORED_BYTES, f"{key} file") != entry.get("sha256"):
                    return f"{path.name} is not the file the record was written with (sha256 differs)"
            except DataFormatError as exc:
                return str(exc).splitlines()[0]
        return None

    def scan(self) -> StoreScan:
        """Every record file: the valid records, and the skipped files with their reasons. A record's
        location follows from its (configuration, seed), so a copy under another name is misplaced."""
        scan = StoreScan()
        for path in sorted((self.root / "records").rglob("*.json")):
            record, problem = read_record(path)
            if record is None:
                scan.skipped.append((path, problem))
            elif self.path_for(record) != path:
                scan.skipped.append((path, f"misplaced or duplicate: its content belongs at {self.path_for(record)}"))
            else:
                scan.records.append(record)
        return scan

    def records(self) -> list[dict[str, Any]]:
        """Every valid record, each (configuration, seed) once (see ``scan`` for what is left out)."""
        return self.scan().records


def read_record(path: Path) -> tuple[dict[str, Any] | None, str]:
    """(the record, '') or (None, why it cannot be used: missing, not a regular file (a FIFO would hang a
    plain read), not JSON, edited, incomplete)."""
    if not os.path.lexists(path):
        return None, "missing"
    try:
        record = read_json(path, "result record")
    except DataFormatError as exc:
        return None, f"unreadable: {str(exc).splitlines()[0]}"
    if not isinstance(record, dict):
        return None, "unreadable: not a JSON object"
    if record.get("checksum") != record_checksum(record):
        return None, "edited: its checksum does not match its content"
    missing = [k for k in ("protocol", "dataset", "method", "config_hash", "seed") if k not in record]
    if missing:
        return None, f"unreadable: no {', '.join(missing)}"
    return record, ""


def scores_npy(scores: Any) -> bytes | None:
    """A ``.npy`` file of (N, classes) float32 class scores, or None when the protocol kept none."""
    if scores is None:
        return None
    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(scores, dtype=np.float32), allow_pickle=False)
    return buffer.getvalue()


def epoch_log_csv(epochs: list[dict[str, Any]]) -> bytes:
    """A run's per-epoch log (``log.jsonl`` lines) as CSV: one row per epoch, one column per quantity
    (loss, lr, throughput, test accuracy), for spreadsheets and ``pandas.read_csv``. Its ``epoch`` counts from
    1, as the progress log, the records' ``best_epoch`` and the figures do (``log.jsonl`` keeps the 0-based index
    of the checkpoint files, ``checkpoint-<index>.pth``, named as the reference names them)."""
    columns: list[str] = []
    for row in epochs:
        columns += [key for key in row if key not in columns and key != "checkpoint_sha256"]
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows({**row, "epoch": row["epoch"] + 1} if isinstance(row.get("epoch"), int) else row for row in epochs)
    return out.getvalue().encode()
