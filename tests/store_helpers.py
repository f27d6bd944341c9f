"""Records for table and store tests, written as the pipeline writes them: per-clip predictions that give the
record's accuracies, a per-epoch log, the configuration and row hashes of what the record carries, and for real
benchmarks the data status a run proves (the official number of test clips, the labels it hashed). A test that
wants a forged record starts from one of these and changes what it forges."""

from __future__ import annotations

import csv
import io
from typing import Any

import numpy as np

from mamp_bench.data.provenance import labels_sha256
from mamp_bench.data.specs import get_dataset
from mamp_bench.evaluation.metrics import Predictions
from mamp_bench.results.evidence import expected_config_hash, expected_row_hash
from mamp_bench.results.store import ResultsStore

#: test clips of the benchmarks whose official count is not known exactly (PKU-MMD), and of stand-ins
OTHER_TEST_CLIPS = 1000


def predictions_for(dataset: str, seed: int, accuracies: list[float], top5: float = 99.0) -> Predictions:
    """Predictions whose epochs score ``accuracies`` (to within one clip), different for every seed."""
    spec = get_dataset(dataset)
    n = spec.official_clips[1] if spec.official_clips else OTHER_TEST_CLIPS
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, spec.num_classes, size=n)
    rows = []
    for value in accuracies:
        right = np.zeros(n, dtype=bool)
        right[rng.permutation(n)[: round(value / 100 * n)]] = True
        rows.append(np.where(right, labels, (labels + 1) % spec.num_classes))
    top5_rows = np.stack([(labels + k) % spec.num_classes for k in range(1, 6)], 1)
    top5_rows[: round(top5 / 100 * n), 0] = labels[: round(top5 / 100 * n)]
    return Predictions(labels, np.stack(rows), top5_rows, top5_rows, spec.num_classes)


def log_for(predictions: Predictions, trained: bool) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["epoch", "top1"] + (["loss"] if trained else []))
    for epoch, row in enumerate(predictions.top1_by_epoch):
        writer.writerow([epoch, repr(predictions.accuracy(row))] + ([1.0 / (epoch + 1)] if trained else []))
    return out.getvalue().encode()


def complete(record: dict[str, Any]) -> tuple[dict[str, Any], bytes, bytes]:
    """(the record as the pipeline would write it, its predictions, its log) from a record that states at
    least method, protocol, dataset, seed, scale and ``metrics`` top1_best / top1_final."""
    record = dict(record)
    spec = get_dataset(record["dataset"])
    metrics = record.get("metrics", {})
    best, final = metrics["top1_best"], metrics.get("top1_final", metrics["top1_best"])
    epochs = [best] if best == final and record["protocol"] == "knn" else [best, final]
    predictions = predictions_for(record["dataset"], record["seed"], epochs, metrics.get("top5_final", 99.0))
    record["metrics"] = predictions.metrics()
    record.setdefault("synthetic", spec.synthetic)
    record.setdefault("protocol_config", {})
    setting = record.get("setting") or {}
    record["protocol_config"] = {**record["protocol_config"], **setting}
    record.setdefault("encoder", {"kind": "fresh", "encoder_config": {"method": record["method"],
                                                                      "overrides": record.get("overrides") or {}},
                                  "init_seed": record["seed"]})  # fmt: skip
    status = {"kind": "synthetic" if spec.synthetic else "real", "reason": "test fixture", "fingerprint": "f",
              "train_clips": spec.clips[0], "test_clips": len(predictions.labels),
              "labels_sha256": labels_sha256(predictions.labels)}  # fmt: skip
    record.setdefault("data", {"evaluated": {"dataset": spec.name, "synthetic": spec.synthetic, "fingerprint": "f",
                                             "provenance": {}, "status": status}})  # fmt: skip
    record["config_hash"] = expected_config_hash(record)
    record["row_hash"] = expected_row_hash(record)
    return record, predictions.to_bytes(), log_for(predictions, trained=len(epochs) > 1)


def write_record(store: ResultsStore, record: dict[str, Any]) -> dict[str, Any]:
    """``complete`` the record and write it with its predictions and log; the stored record."""
    full, predictions, log = complete(record)
    return store.write(full, predictions, log)
