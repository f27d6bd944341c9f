"""What ties a record to its evidence: the checks ``mamp-bench verify`` and the tables share.

A record is a claim; its checksum only says it was not edited *without* recomputing the checksum, which
anyone can do. What a record can be held to is what it carries and what the data says:

* **its files**: the per-clip predictions, the per-epoch log and the class scores (where kept) are the files the
  record names (sha256), read within their size bounds; the scores give the predictions of the best evaluation;
* **its numbers**: every metric a number in its range, equal to what the predictions give, and every
  epoch of the log equal to the predictions of that epoch;
* **its identity**: the configuration hash is the hash of the configuration the record carries (and the
  pretraining's hash of the pretraining's), the row hash that of its method, protocol, scale and settings;
* **its data**: ``synthetic`` follows from the dataset and the data's provenance; "real" holds only when
  the run proved it (``data.evaluated.status``, see ``data/provenance.py``) and the predictions hold the
  benchmark's official number of test clips and the labels the run hashed; given the prepared file (``verify
  --data-root``, or a synthetic stand-in already built here), the labels are compared with the data's;
* **its measurement**: records of one row under different seeds with identical predictions are one
  measurement (a deterministic protocol evaluating the same encoder: counted once), or a copy (different
  encoders, or a protocol that trained: left out);
* **its signature** (optional): an HMAC-SHA256 with a lab's key over the record, which names the sha256 of
  its predictions and log (``MAMP_BENCH_SIGNING_KEY`` when writing, ``verify --key`` when checking). It
  proves that a holder of the key wrote these bytes and nobody changed them since; not that the numbers are
  right, that the data was what the record says, nor anything once the key is out.

``check_record`` gives problems (the record's own content does not verify: exit 1, left out of every table)
and notes (what could not be checked here: a checkpoint on another machine, data not given).
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import math
import numbers
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mamp_bench.config import config_hash
from mamp_bench.data.npzio import read_small_npz
from mamp_bench.data.provenance import data_status, fingerprint, labels_sha256, split_labels_sha256
from mamp_bench.data.specs import DATASETS
from mamp_bench.errors import DataFormatError, UserError
from mamp_bench.evaluation.metrics import Predictions
from mamp_bench.fileio import check_regular, read_regular, sha256_file
from mamp_bench.registry import PROTOCOLS
from mamp_bench.results.store import ENCODER_IDENTITY, encoder_identity, row_hash, run_hash, signature

#: Size bound of a predictions file, compressed or expanded: int64 labels, the predicted class after every
#: epoch and two top-5 lists for every test clip: at most every NTU-120 clip (114,480) over 1,000 epochs (the
#: recipes run at most 100) is 114,480 x (1 + 1,000 + 10) x 8 bytes = 926 MB; 1 GiB.
MAX_PREDICTIONS_BYTES = 1 << 30
#: Size bound of a per-epoch log (CSV): one row of about 300 bytes an epoch; 64 MiB, as the run's own log.
MAX_LOG_CSV_BYTES = 64 << 20
#: The most classes a predictions file may name (NTU-120 has 120).
MAX_CLASSES = 10_000
#: ``--set`` keys that never change a number (how many loader processes, how a step is chunked): a run that
#: sets only these is at its recipe
RUNTIME_KEYS = ("workers", "pretrain.workers", "pretrain.compile", "pretrain.checkpoint_every",
                "pretrain.micro_batch", "pretrain.keep_epochs", "pretrain.batched_transform")  # fmt: skip


@dataclass
class Evidence:
    """The outcome of checking one record."""

    problems: list[str] = field(default_factory=list)  # its own content does not verify
    notes: list[str] = field(default_factory=list)  # what could not be checked here, and why
    data: str = "unverified"  # "real", "synthetic" or "unverified": what its data is proven to be
    data_reason: str = ""
    predictions: Predictions | None = None
    measurement: str | None = None  # the predictions' sha256: records with the same one measured the same thing
    trained: bool = False  # its log shows a training loss: the run trained something with its seed

    @property
    def ok(self) -> bool:
        return not self.problems


# ---------------------------------------------------------------------------------------------------------
# one record


def check_record(
    record: dict[str, Any], record_path: Path, data_root: str | None = None, key: bytes | None = None,
    checkpoints: bool = True,
) -> Evidence:  # fmt: skip
    """Every check of the module's docstring that one record allows (``check_measurements`` compares
    records). ``data_root``: compare with the prepared real data there; ``key``: require a valid signature;
    ``checkpoints``: re-hash the checkpoint the record names where it is on this machine (a note if it
    differs: another run may have written that path since)."""
    evidence = Evidence()
    problems = evidence.problems
    problems += _name_problems(record)
    problems += _metric_ranges(record.get("metrics"))
    files = _stored_files(record, record_path, evidence)
    if files is not None:
        predictions, log = files
        evidence.predictions = predictions
        problems += [f"{m}" for m in _metric_mismatches(record.get("metrics") or {}, predictions)]
        problems += _log_mismatches(log, predictions)
        problems += _scores_problems(record, record_path, predictions)
        evidence.trained = log is not None and b"loss" in log.split(b"\n", 1)[0].split(b",")
        problems += _prediction_shape(record, predictions)
    problems += _identity_mismatches(record)
    _data_claims(record, evidence, data_root)
    if key is not None:
        problems += _signature_problems(record, key)
    if checkpoints:
        evidence.notes += _checkpoint_notes(record)
    return evidence


#: what a method, protocol or dataset name the suite writes looks like (it is a folder of the store)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$")


def _name_problems(record: dict[str, Any]) -> list[str]:
    return [f"its {key} is not a name the suite writes (letters, digits, . _ + -): {record.get(key)!r}"
            for key in ("method", "protocol", "dataset") if not _NAME.match(str(record.get(key, "")))]  # fmt: skip


def _stored_files(record: dict[str, Any], path: Path, evidence: Evidence) -> tuple[Predictions, bytes | None] | None:
    """(predictions, log bytes) when they are the files the record names; else a problem and None."""
    entry, log_entry = record.get("predictions"), record.get("log")
    if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
        evidence.problems.append("no saved predictions: its accuracies cannot be recomputed")
        return None
    try:
        data_path = _beside(path, entry["file"])
        if sha256_file(data_path, MAX_PREDICTIONS_BYTES, "predictions file") != entry.get("sha256"):
            evidence.problems.append(f"{data_path.name} is not the file the record was written with (sha256 differs)")
            return None
        evidence.measurement = entry["sha256"]
        predictions = load_predictions(data_path)
        log = None
        if isinstance(log_entry, dict) and isinstance(log_entry.get("file"), str):
            log_path = _beside(path, log_entry["file"])
            log = read_regular(log_path, MAX_LOG_CSV_BYTES, "per-epoch log")
            if hashlib.sha256(log).hexdigest() != log_entry.get("sha256"):
                evidence.problems.append(f"its per-epoch log {log_path.name} is not the file it was written with")
    except DataFormatError as exc:
        evidence.problems.append(_missing_or(str(exc)))
        return None
    return predictions, log


def load_scores(record: dict[str, Any], record_path: Path) -> np.ndarray:
    """The (N, classes) float32 class scores of a record's best evaluation, the file it names (sha256 checked),
    read within ``MAX_PREDICTIONS_BYTES``; ``DataFormatError`` with the reason otherwise (none kept included)."""
    entry = record.get("scores")
    if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
        raise DataFormatError("it kept no class scores (only an encoder with input streams keeps them)")
    path = _beside(record_path, entry["file"])
    data = read_regular(path, MAX_PREDICTIONS_BYTES, "class scores file")
    if hashlib.sha256(data).hexdigest() != entry.get("sha256"):
        raise DataFormatError(f"{path.name} is not the file the record was written with (sha256 differs)")
    try:
        scores = np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as exc:
        raise DataFormatError(f"{path.name} is not a .npy array ({exc})") from None
    if scores.ndim != 2 or scores.dtype != np.float32 or not np.isfinite(scores).all():
        raise DataFormatError(f"{path.name} is not a finite (clips, classes) float32 array")
    return scores


def _scores_problems(record: dict[str, Any], record_path: Path, predictions: Predictions) -> list[str]:
    """The kept class scores (if any) are the file the record names and give its best evaluation's predictions."""
    if record.get("scores") is None:
        return []
    try:
        scores = load_scores(record, record_path)
    except DataFormatError as exc:
        return [_missing_or(str(exc))]
    best = predictions.metrics()["best_epoch"] - 1  # counted from 1; an index of top1_by_epoch here
    if scores.shape != (len(predictions.labels), predictions.classes):
        return [f"its class scores have shape {scores.shape}, its predictions {len(predictions.labels)} clips of "
                f"{predictions.classes} classes"]  # fmt: skip
    if not np.array_equal(scores.argmax(axis=1), predictions.top1_by_epoch[best]):
        return ["its class scores do not give the predictions of its best evaluation"]
    return []


def _beside(record_path: Path, name: str) -> Path:
    """A file the record names, which must sit beside it (a name, not a path elsewhere)."""
    if Path(name).name != name or name in ("", ".", ".."):
        raise DataFormatError(f"it names {name!r} as a file beside it, which is not a plain file name")
    return record_path.with_name(name)


def _missing_or(message: str) -> str:
    return message.replace("does not exist", "is missing (run the same command again to write it)")


def load_predictions(path: Path) -> Predictions:
    """A run's per-clip predictions, read within ``MAX_PREDICTIONS_BYTES`` (``data.npzio.read_small_npz``) and
    checked for what ``Predictions`` needs: integer arrays of consistent shapes whose classes are in range;
    ``DataFormatError`` with the reason otherwise."""
    arrays = read_small_npz(path, MAX_PREDICTIONS_BYTES, "predictions file")
    expected = {"labels", "top1_by_epoch", "top5_final", "top5_best", "classes"}
    if set(arrays) != expected:
        raise DataFormatError(f"predictions file {path} holds {sorted(arrays)}, expected {sorted(expected)}")
    bad = [k for k, v in arrays.items() if v.dtype.kind not in "iu"]
    if bad:
        raise DataFormatError(f"predictions file {path}: {', '.join(sorted(bad))} must hold integers")
    labels, by_epoch = arrays["labels"], arrays["top1_by_epoch"]
    classes = int(arrays["classes"]) if arrays["classes"].shape == () else -1
    n = len(labels) if labels.ndim == 1 else -1
    shapes = (labels.ndim == 1 and n > 0 and by_epoch.ndim == 2 and by_epoch.shape[0] >= 1 and by_epoch.shape[1] == n
              and all(arrays[k].ndim == 2 and arrays[k].shape[0] == n and 1 <= arrays[k].shape[1] <= 5
                      for k in ("top5_final", "top5_best")))  # fmt: skip
    if not shapes or not 1 <= classes <= MAX_CLASSES:
        described = ", ".join(f"{k} {arrays[k].shape}" for k in sorted(arrays))
        raise DataFormatError(f"predictions file {path} has inconsistent shapes or class count ({described})")
    for key in ("labels", "top1_by_epoch", "top5_final", "top5_best"):
        values = arrays[key]
        if values.size and (values.min() < 0 or values.max() >= classes):
            raise DataFormatError(f"predictions file {path}: {key} holds a class outside 0..{classes - 1}")
    return Predictions(labels.astype(np.int64), by_epoch.astype(np.int64), arrays["top5_final"].astype(np.int64),
                       arrays["top5_best"].astype(np.int64), classes)  # fmt: skip


#: metric -> (lowest, highest) value; None: the number of epochs or clips
_PERCENT = (0.0, 100.0)
_RANGES = {"top1_final": _PERCENT, "top1_best": _PERCENT, "top1_last5": _PERCENT, "top5_final": _PERCENT,
           "top5_at_best": _PERCENT, "top5": _PERCENT}  # fmt: skip
_COUNTS = ("best_epoch", "epochs_run", "test_clips", "train_clips", "features_dim")


def _metric_ranges(metrics: Any) -> list[str]:
    """Every metric a finite number in its range (an accuracy in [0, 100], a count a non-negative integer)."""
    if not isinstance(metrics, dict) or "top1_best" not in metrics:
        return ["no metrics (top1_best missing)"]
    out = []
    for key, (low, high) in _RANGES.items():
        if key in metrics and not _number_in(metrics[key], low, high):
            out.append(f"metric {key} is {metrics[key]!r}, not an accuracy in [0, 100]")
    for key in _COUNTS:
        value = metrics.get(key)
        if key in metrics and not (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
            out.append(f"metric {key} is {value!r}, not a count")
    per_class = metrics.get("per_class_final")
    if per_class is not None and not (
        isinstance(per_class, list) and all(v is None or _number_in(v, *_PERCENT) for v in per_class)
    ):
        out.append("metric per_class_final is not a list of accuracies in [0, 100]")
    return out


def _number_in(value: Any, low: float, high: float) -> bool:
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and (low <= value <= high)
    )


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
    if isinstance(a, numbers.Real) and isinstance(b, numbers.Real) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def _short(value: Any) -> str:
    return f"[{len(value)} values]" if isinstance(value, list) else repr(value)


def _log_mismatches(log: bytes | None, predictions: Predictions) -> list[str]:
    """The per-epoch log's test top-1 against the accuracy of each epoch's saved predictions (a record whose
    predictions were rewritten no longer matches the log it was written with)."""
    if log is None:
        return []
    try:
        rows = [row for row in csv.DictReader(io.StringIO(log.decode("utf-8"))) if row.get("top1") not in (None, "")]
        logged = [float(row["top1"]) for row in rows]
    except (UnicodeDecodeError, ValueError, csv.Error):
        return ["its per-epoch log is not a CSV table with a numeric top1 column"]
    accuracies = [predictions.accuracy(row) for row in predictions.top1_by_epoch]
    if len(logged) != len(accuracies):
        return [f"its per-epoch log has {len(logged)} evaluated epochs but its predictions {len(accuracies)}"]
    for epoch, (a, b) in enumerate(zip(logged, accuracies, strict=True)):
        if not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9):
            return [f"its per-epoch log gives top-1 {a:.4f} after epoch {epoch + 1}, its predictions {b:.4f}"]
    return []


def _prediction_shape(record: dict[str, Any], predictions: Predictions) -> list[str]:
    spec = DATASETS.get(record.get("dataset")) if record.get("dataset") in DATASETS else None
    if spec is not None and predictions.classes != spec.num_classes:
        return [f"its predictions have {predictions.classes} classes but {spec.name} has {spec.num_classes}"]
    return []


# ---------------------------------------------------------------------------------------------------------
# identity: the hashes a record carries are those of what it carries


def expected_config_hash(record: dict[str, Any]) -> str:
    """The configuration hash of what a record carries (``store.run_hash``, as the plan computed it)."""
    return run_hash(record.get("protocol"), record.get("method"), record.get("dataset"), record.get("scale"),
                    record.get("protocol_config"), record.get("encoder") or {})  # fmt: skip


def expected_row_hash(record: dict[str, Any]) -> str:
    """The row hash of what a record carries (``store.row_hash``)."""
    return row_hash(record.get("method"), record.get("protocol"), record.get("scale"), record.get("overrides") or {},
                    _setting_keys(record.get("protocol")), record.get("encoder") or {})  # fmt: skip


def _setting_keys(protocol: Any) -> tuple[str, ...]:
    return PROTOCOLS.get(protocol).setting_keys if isinstance(protocol, str) and protocol in PROTOCOLS else ()


def _identity_mismatches(record: dict[str, Any]) -> list[str]:
    encoder = record.get("encoder")
    if not isinstance(record.get("protocol_config"), dict) or not isinstance(encoder, dict):
        return ["it does not carry its configuration (protocol_config and encoder): its hash cannot be checked"]
    if encoder.get("kind") not in ENCODER_IDENTITY:
        return [f"its encoder kind {encoder.get('kind')!r} is not one the suite writes"]
    out = []
    if expected_config_hash(record) != record.get("config_hash"):
        out.append(f"config_hash {record.get('config_hash')} is not the hash of the configuration it carries "
                   f"({expected_config_hash(record)})")  # fmt: skip
    if record.get("row_hash") is not None and expected_row_hash(record) != record.get("row_hash"):
        out.append("row_hash is not the hash of its method, protocol, scale and settings")
    pretrain = encoder.get("pretrain_config")
    if encoder.get("kind") == "pretrained" and config_hash(pretrain) != encoder.get("pretrain_hash"):
        out.append("its pretraining's hash is not the hash of the pretraining configuration it carries")
    return out


# ---------------------------------------------------------------------------------------------------------
# data: synthetic follows from the data, real is proven


def claimed_synthetic_by(record: dict[str, Any]) -> str | None:
    """Why a record's data is synthetic (its dataset or pretraining dataset is a stand-in, or the data's own
    provenance or status says so), or None when nothing it carries says so."""
    for key in ("dataset", "source_dataset"):
        name = record.get(key)
        if isinstance(name, str) and name in DATASETS and DATASETS.get(name).synthetic:
            return f"{name} is a synthetic stand-in"
    for role, entry in _data_entries(record):
        status = entry.get("status") if isinstance(entry.get("status"), dict) else {}
        provenance = entry.get("provenance") if isinstance(entry.get("provenance"), dict) else {}
        if entry.get("synthetic") or provenance.get("synthetic") or status.get("kind") == "synthetic":
            return f"the data it {role} is synthetic ({entry.get('dataset', '?')})"
        spec_name = entry.get("dataset")
        if isinstance(spec_name, str) and spec_name in DATASETS and DATASETS.get(spec_name).synthetic:
            return f"the data it {role} is a synthetic stand-in ({spec_name})"
    return None


def _data_entries(record: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    data = record.get("data") if isinstance(record.get("data"), dict) else {}
    roles = (("evaluated", "evaluated"), ("pretrained_on", "was pretrained on"))
    return [(role, data[key]) for key, role in roles if isinstance(data.get(key), dict)]


def _data_claims(record: dict[str, Any], evidence: Evidence, data_root: str | None) -> None:
    """``evidence.data`` (real only when proven) and the problems of a record whose data claims do not hold."""
    synthetic = claimed_synthetic_by(record)
    if synthetic:
        evidence.data, evidence.data_reason = "synthetic", synthetic
        if record.get("synthetic") is not True:
            evidence.problems.append(f"it says its data is real, but {synthetic}")
        _compare_with_data(record, evidence, data_root)
        return
    if record.get("synthetic") is not False:
        evidence.problems.append("it does not say whether its data is synthetic")
        return
    statuses = [(role, entry.get("status")) for role, entry in _data_entries(record)]
    evaluated = next((s for role, s in statuses if role == "evaluated"), None)
    if not isinstance(evaluated, dict):
        evidence.data_reason = "recorded without a data status, before real data had to be proven (run it again)"
    elif any(isinstance(s, dict) and s.get("kind") != "real" for _, s in statuses):
        reason = next(s.get("reason", "?") for _, s in statuses if isinstance(s, dict) and s.get("kind") != "real")
        evidence.data_reason = f"data not proven real: {reason}"
    else:
        evidence.data, evidence.data_reason = "real", str(evaluated.get("reason", ""))
        evidence.problems += _real_claim_problems(record, evaluated, evidence.predictions)
    _compare_with_data(record, evidence, data_root)


def _real_claim_problems(record: dict[str, Any], status: dict[str, Any], predictions: Predictions | None) -> list[str]:
    """A claim of real data against the predictions: the official test clips, and the labels hashed at run time."""
    if predictions is None:
        return []
    out = []
    spec = DATASETS.get(record["dataset"]) if record.get("dataset") in DATASETS else None
    if spec is None or spec.synthetic:
        return [f"it claims real data of {record.get('dataset')!r}, which is not a real benchmark"]
    official = spec.official_clips[1] if spec.official_clips else status.get("test_clips")
    if len(predictions.labels) != official:
        out.append(f"it claims real {spec.description} data ({official:,} test clips) but its predictions hold "
                   f"{len(predictions.labels):,}")  # fmt: skip
    if status.get("labels_sha256") != labels_sha256(predictions.labels):
        out.append("its predictions' labels are not the labels of the test split it hashed at run time")
    return out


def _compare_with_data(record: dict[str, Any], evidence: Evidence, data_root: str | None) -> None:
    """The predictions' labels against the prepared file the dataset resolves to here (real data: under
    ``data_root``; a synthetic stand-in: only when already built, never generated for this)."""
    name, predictions = record.get("dataset"), evidence.predictions
    if predictions is None or not isinstance(name, str) or name not in DATASETS:
        return
    spec = DATASETS.get(name)
    path = _prepared_here(spec, data_root)
    if path is None:
        if not spec.synthetic:
            where = f"{spec.filename} is not under {data_root}" if data_root else "pass --data-root to compare it"
            evidence.notes.append(f"its data was not checked ({where})")
        return
    entry = dict(_data_entries(record)).get("evaluated", {})
    same_file = entry.get("fingerprint") == fingerprint(path)
    if split_labels_sha256(path) != labels_sha256(predictions.labels):
        if same_file:
            evidence.problems.append(f"its predictions' labels are not the test labels of {path}")
        else:
            evidence.notes.append(f"its data was not checked: {path} is not the prepared file it evaluated "
                                  "(another preparation: its fingerprint and test labels differ)")  # fmt: skip
        return
    if same_file and evidence.data == "real" and data_status(path, spec).kind != "real":
        status = data_status(path, spec)
        evidence.problems.append(f"it claims real data but {path} is {status.kind}: {status.reason}")


def _prepared_here(spec: Any, data_root: str | None) -> Path | None:
    from mamp_bench.data.synthetic.builder import is_built, synthetic_file

    if spec.synthetic:
        return synthetic_file(spec.family, spec.filename) if is_built(spec.family, spec.filename) else None
    if data_root is None:
        return None
    try:
        return spec.path(data_root)
    except UserError:
        return None


def custom_settings(record: dict[str, Any]) -> dict[str, str]:
    """The settings by which a record differs from its protocol's recipe at its scale: the record's ``custom``
    when it carries one, else its ``--set`` overrides other than the protocol's setting keys (which pick a
    table column) and the runtime keys that never change a number; and ``method`` when it evaluated a
    checkpoint that does not say which method trained it (a bare state dict: the method is the user's word)."""
    if isinstance(record.get("custom"), dict):
        custom = {str(k): str(v) for k, v in record["custom"].items()}
    else:
        keys = set(_setting_keys(record.get("protocol"))) | set(RUNTIME_KEYS)
        custom = {str(k): str(v) for k, v in sorted((record.get("overrides") or {}).items()) if k not in keys}
    encoder = record.get("encoder") if isinstance(record.get("encoder"), dict) else {}
    if encoder.get("kind") == "checkpoint" and not encoder.get("checkpoint_method"):
        custom["method"] = "as given (the checkpoint does not say which method trained it)"
    return custom


def clip_counts(record: dict[str, Any], evidence: Evidence) -> tuple[int | None, int | None]:
    """(training clips, test clips) of a record's evaluated data: from its data status, else its metrics and
    predictions."""
    status = dict(_data_entries(record)).get("evaluated", {}).get("status")
    status = status if isinstance(status, dict) else {}
    metrics = record.get("metrics") if isinstance(record.get("metrics"), dict) else {}
    train = status.get("train_clips", metrics.get("train_clips"))
    test = len(evidence.predictions.labels) if evidence.predictions is not None else metrics.get("test_clips")
    return (train if isinstance(train, int) else None), (test if isinstance(test, int) else None)


# ---------------------------------------------------------------------------------------------------------
# checkpoints and signatures


def _checkpoint_notes(record: dict[str, Any]) -> list[str]:
    from mamp_bench.checkpoints import MAX_CHECKPOINT_BYTES

    encoder = record.get("encoder") if isinstance(record.get("encoder"), dict) else {}
    checkpoint, digest = encoder.get("checkpoint"), encoder.get("checkpoint_sha256")
    if not (isinstance(checkpoint, str) and digest):
        return []
    if not os.path.lexists(checkpoint):
        return [f"checkpoint {checkpoint} is not on this machine (not checked)"]
    try:
        check_regular(checkpoint, MAX_CHECKPOINT_BYTES, "checkpoint")
        found = sha256_file(checkpoint, MAX_CHECKPOINT_BYTES, "checkpoint")
    except DataFormatError as exc:
        return [f"checkpoint not checked: {str(exc).splitlines()[0]}"]
    if found != digest:
        return [f"{checkpoint} is not the checkpoint of this record (another run wrote that path since; the "
                "record's sha256 names its own)"]  # fmt: skip
    return []


def _signature_problems(record: dict[str, Any], key: bytes) -> list[str]:
    found = record.get("signature")
    if not isinstance(found, str):
        return ["it is not signed (a signing key was given: every record must carry a valid signature)"]
    if not hmac.compare_digest(found, signature(record, key)):
        return ["its signature does not match (written with another key, or changed since it was signed)"]
    return []


# ---------------------------------------------------------------------------------------------------------
# measurements: what several records share


def measurement_group(record: dict[str, Any]) -> tuple[Any, ...]:
    """The records that measure the same thing under different seeds: same row, dataset and setting."""
    setting = record.get("setting") if isinstance(record.get("setting"), dict) else {}
    return (record.get("protocol"), record.get("dataset"), record.get("method"), record.get("scale"),
            record.get("row_hash") or record.get("config_hash"), config_hash(setting))  # fmt: skip


def check_measurements(checked: list[tuple[dict[str, Any], Path, Evidence]]) -> dict[Path, str]:
    """Records of one group with identical predictions under different seeds: ``{path: note}`` of each record
    that repeats an earlier seed's measurement (a deterministic protocol evaluating the same encoder, counted
    once), and problems added to the evidence of copies (identical predictions from different encoders, or from
    a protocol that trained with its seed: one cannot have measured them)."""
    repeats: dict[Path, str] = {}
    seen: dict[tuple[Any, ...], list[tuple[dict[str, Any], Path, Evidence]]] = {}
    for item in sorted(checked, key=lambda item: (item[0].get("seed", 0), str(item[1]))):
        record, path, evidence = item
        if evidence.measurement is None or not evidence.ok:
            continue
        seen.setdefault((*measurement_group(record), evidence.measurement), []).append(item)
    for items in seen.values():
        if len(items) < 2:
            continue
        first, first_path, first_evidence = items[0]
        for record, path, evidence in items[1:]:
            why = _copy_reason(first, record, first_evidence.trained or evidence.trained)
            if why:
                evidence.problems.append(f"a copy of {first_path.name}: identical predictions under seed "
                                         f"{record.get('seed')} and seed {first.get('seed')}, {why}")  # fmt: skip
                items[0][2].problems.append(f"copied as {path.name} (identical predictions, {why})")
            else:
                repeats[path] = (f"the same measurement as {first_path.name} (seed {first.get('seed')}): the protocol "
                                 "is deterministic given its encoder; counted once")  # fmt: skip
    return repeats


def _copy_reason(a: dict[str, Any], b: dict[str, Any], trained: bool) -> str | None:
    """Why two records with identical predictions cannot both have been measured, or None when they can."""
    encoders = [r.get("encoder") if isinstance(r.get("encoder"), dict) else {} for r in (a, b)]
    if encoder_identity(encoders[0]) != encoder_identity(encoders[1]) or (
        encoders[0].get("checkpoint_sha256") != encoders[1].get("checkpoint_sha256")
    ):
        return "from different encoders"
    if trained:
        return "from a protocol that trains with its seed"
    return None
