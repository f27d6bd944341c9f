"""Issue 25, the third hostile round, one section per class (each behaviour on at least two variants built
here): records held to their evidence, real data proven, readers' ranges, user files never touched, bounded
reading. And the newcomer's points of issue 24 that live here: one fingerprint on every machine and HOME,
``verify`` right after a quick start on another machine, custom runs never beside published numbers, an empty
split said at ``prepare``."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import shutil
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from mamp_bench.checkpoint_checks import check_archive, check_tensors, expected_bytes
from mamp_bench.cli import main
from mamp_bench.data.ntu.prepare import prepare_ntu
from mamp_bench.data.preparation import one_hot
from mamp_bench.data.provenance import (
    MARKER,
    check_prepared_folder,
    data_status,
    file_provenance,
    fingerprint,
)
from mamp_bench.data.specs import get_dataset
from mamp_bench.errors import DataFormatError, StorageError, UserError
from mamp_bench.evaluation.metrics import Predictions
from mamp_bench.fileio import FOLDER_MARKER, adopt_folder, open_own_file, read_json, remove_own_files, sha256_file
from mamp_bench.models.transformer import EncoderConfig, SkeletonEncoder
from mamp_bench.results.evidence import expected_config_hash
from mamp_bench.results.frame import load_checked, results_frame
from mamp_bench.results.render import render
from mamp_bench.results.store import SIGNING_ENV, ResultsStore, record_checksum
from mamp_bench.results.tables import build_table, build_tables
from tests.store_helpers import complete, log_for, write_record
from tests.test_results import record

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("one_torch_thread")  # runs here are tiny; no numbers are compared


def one_line(err: str) -> str:
    assert err.count("\n") == 1 and err.startswith("mamp-bench: error: ") and "Traceback" not in err, err
    return err


def rewrite(path: Path, change) -> tuple[Path, dict]:
    """A forger's edit: change the record, recompute its checksum, and put it where its content belongs."""
    forged = json.loads(path.read_text())
    change(forged)
    forged["checksum"] = record_checksum(forged)
    target = ResultsStore(path.parents[4]).path_for(forged)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.parent != path.parent:  # the predictions and log go along, under the names the record gives
        for entry in (forged.get("predictions"), forged.get("log")):
            shutil.move(path.with_name(entry["file"]), target.with_name(entry["file"]))
    path.unlink()
    target.write_text(json.dumps(forged))
    return target, forged


def pretrained(rec: dict, pretrain_seed: int) -> dict:
    """``rec`` evaluating the pretraining of ``pretrain_seed`` (a row's seeds evaluate their own pretrainings)."""
    from mamp_bench.config import config_hash

    config = {"method": rec["method"], "seed": pretrain_seed}
    rec["encoder"] = {"kind": "pretrained", "pretrain_dataset": rec["dataset"], "pretrain_seed": pretrain_seed,
                      "pretrain_hash": config_hash(config), "pretrain_config": config, "checkpoint_epoch": -1,
                      "checkpoint_sha256": f"{pretrain_seed:064d}"}  # fmt: skip
    return rec


def replace_predictions(path: Path, predictions: Predictions, log: bytes | None = None) -> None:
    """A forger's new predictions (and log), with the record's metrics, sha256s and checksum made to match."""
    record_ = json.loads(path.read_text())
    data = predictions.to_bytes()
    path.with_name(record_["predictions"]["file"]).write_bytes(data)
    record_["predictions"]["sha256"] = __import__("hashlib").sha256(data).hexdigest()
    if log is not None:
        path.with_name(record_["log"]["file"]).write_bytes(log)
        record_["log"]["sha256"] = __import__("hashlib").sha256(log).hexdigest()
    record_["metrics"] = {**record_["metrics"], **predictions.metrics()}
    record_["checksum"] = record_checksum(record_)
    path.write_text(json.dumps(record_))


def stored(root: Path, rec: dict) -> Path:
    return ResultsStore(root).path_for(write_record(ResultsStore(root), rec))


def knn(method: str, dataset: str, seed: int, value: float, checkpoint: str = "a" * 64, scale: str = "paper") -> dict:
    spec = get_dataset(dataset)
    rec = record(method, "knn", dataset, spec.family, spec.split, seed, value, value, scale=scale)
    rec["encoder"] = {"kind": "checkpoint", "checkpoint_sha256": checkpoint, "checkpoint_method": method}
    return rec


def verify_out(root: Path, capsys, *extra: str) -> tuple[int, str]:
    code = main(["verify", str(root), *extra])
    return code, capsys.readouterr().out


# --- class 1: a record is evidence ----------------------------------------------------------------------------


def test_verify_names_every_kind_of_forged_record_and_the_tables_leave_them_out(tmp_path, capsys):
    """The issue's forged records, each with its checksum recomputed: a copy under another seed, predictions
    rewritten to 100 %, synthetic data relabelled real, a name that injects table cells, forged metrics."""
    results = tmp_path / "results"
    linear = [stored(results, record(m, "linear", "ntu60-xsub", "ntu60", "xsub", s, v + s, v + s - 1))
              for m, v in (("mamp", 84.0), ("mae", 78.0)) for s in (0, 1)]  # fmt: skip
    synthetic = stored(results, knn("mamp", "synthetic-ntu60", 0, 40.0, scale="smoke"))
    assert verify_out(results, capsys)[0] == 0

    forged = {}
    copy = ResultsStore(results).path_for({**json.loads(linear[1].read_text()), "seed": 2})
    for suffix in (".json", ".predictions.npz", ".log.csv"):  # mamp seed 1 copied as seed 2
        shutil.copy(linear[1].with_suffix(suffix), copy.with_suffix(suffix))
    forged["copy"], _ = rewrite(copy, lambda r: r.update(seed=2))
    mae = Predictions.from_bytes(linear[2].with_suffix(".predictions.npz").read_bytes())
    everything_right = dataclasses.replace(mae, top1_by_epoch=np.stack([mae.labels] * 2))
    replace_predictions(linear[2], everything_right)  # 100 %, its metrics and sha256 made to match
    forged["predictions"] = linear[2]
    forged["synthetic"], _ = rewrite(synthetic, lambda r: r.update(synthetic=False))
    injected = complete(record("mae|**99.9**|\n| injected | 99.9 |", "linear", "ntu60-xsub", "ntu60", "xsub", 5,
                               70.0, 70.0))  # fmt: skip
    forged["name"] = ResultsStore(results).write(*injected) and ResultsStore(results).path_for(injected[0])
    forged["metric"], _ = rewrite(linear[3], lambda r: r["metrics"].update(top1_best=1e308))

    code, out = verify_out(results, capsys)
    assert code == 1
    mismatches = [line for line in out.splitlines() if line.startswith("MISMATCH")]
    for kind, path in forged.items():  # each named, on one line (a newline in a name is written as \n)
        assert any(str(path).replace("\n", "\\n") in line for line in mismatches), (kind, mismatches)
    assert "a copy of" in out and "its per-epoch log gives top-1" in out and "says its data is real" in out
    assert "not a name the suite writes" in out and "not an accuracy in [0, 100]" in out

    assert main(["table", "--protocol", "linear", "--format", "markdown", "--results-dir", str(results)]) == 0
    captured = capsys.readouterr()
    assert "left out 6 record file(s)" in captured.err  # of every protocol; the linear table names its 5:
    assert "Left out 5 record file(s) that do not verify" in captured.out
    assert "injected" not in captured.out and "100.0" not in captured.out and "1e+308" not in captured.out
    real = build_table("linear", load_checked(results).frame)
    (mamp,) = [r for r in real.rows if r.kind == "measured"]  # mae's two records were forged
    assert mamp.method == "mamp" and list(mamp.cells[0].by_seed) == [0]  # seed 1 was copied: neither counts
    assert main(["table", "--protocol", "knn", "--format", "csv", "--results-dir", str(results)]) == 0
    assert "synthetic" not in capsys.readouterr().out.split("\n", 1)[1]  # the relabelled stand-in is in no table


def test_a_copy_under_another_seed_never_raises_the_seed_count(tmp_path, capsys):
    """Three copies: of a trained protocol's record (left out), of a k-NN record with its encoder edited to
    look like another seed's pretraining (left out), of a k-NN record of the same checkpoint (a deterministic
    protocol: a legitimate repeat, counted once)."""
    results = tmp_path / "results"
    trained = stored(results, record("mamp", "linear", "ntu60-xsub", "ntu60", "xsub", 0, 84.0, 83.0))
    one = stored(results, knn("mamp", "ntu60-xsub", 0, 50.0, checkpoint="c" * 64))
    other = stored(results, pretrained(knn("mae", "ntu60-xsub", 0, 45.0), pretrain_seed=0))

    def copy_as(path: Path, change) -> Path:  # the copy names the original's predictions and log beside it
        shutil.copy(path, path.with_name("tmp.json"))
        return rewrite(path.with_name("tmp.json"), change)[0]

    copies = {"trained": copy_as(trained, lambda r: r.update(seed=1)),
              "encoder": copy_as(other, lambda r: (r.update(seed=1), pretrained(r, pretrain_seed=1),
                                                   r.update(config_hash=expected_config_hash(r)))),
              "repeat": copy_as(one, lambda r: r.update(seed=1))}  # fmt: skip
    code, out = verify_out(results, capsys, "--verbose")
    assert code == 1
    assert f"MISMATCH {copies['trained']}" in out and "from a protocol that trains with its seed" in out
    assert f"MISMATCH {copies['encoder']}" in out and "from different encoders" in out
    assert str(copies["repeat"]) not in "\n".join(line for line in out.splitlines() if line.startswith("MISMATCH"))
    assert f"{copies['repeat']}: the same measurement as" in out

    frame = load_checked(results).frame
    knn_rows = frame[(frame["protocol"] == "knn") & (frame["method"] == "mamp")]
    assert list(knn_rows["seed"]) == [0]  # two seeds, one measurement: n = 1
    assert not len(frame[frame["method"] == "mae"]) and not len(frame[frame["protocol"] == "linear"])


def test_rewritten_predictions_are_caught_by_the_log_the_labels_and_the_signature(tmp_path, capsys, monkeypatch):
    results = tmp_path / "results"
    monkeypatch.setenv(SIGNING_ENV, "lab secret")
    paths = [stored(results, record("mamp", "linear", "ntu60-xsub", "ntu60", "xsub", s, 84.0, 83.0)) for s in range(4)]
    assert verify_out(results, capsys, "--key")[0] == 0
    original = Predictions.from_bytes(paths[0].with_suffix(".predictions.npz").read_bytes())

    # (a) predictions rewritten, the log left as it was: the log no longer matches
    replace_predictions(paths[0], dataclasses.replace(original, top1_by_epoch=np.stack([original.labels] * 2)))
    # (b) predictions and log rewritten with labels of the forger's choosing: not the labels the run hashed
    zeros = np.zeros_like(original.labels)
    easy = Predictions(zeros, np.stack([zeros] * 2), original.top5_final * 0, original.top5_best * 0, 60)
    replace_predictions(paths[1], easy, log_for(easy, trained=True))
    # (c) a consistent rewrite (the true labels, a matching log): only the signature can tell
    own = Predictions.from_bytes(paths[2].with_suffix(".predictions.npz").read_bytes())
    right = dataclasses.replace(own, top1_by_epoch=np.stack([own.labels] * 2))
    replace_predictions(paths[2], right, log_for(right, trained=True))
    monkeypatch.delenv(SIGNING_ENV)
    code, out = verify_out(results, capsys)
    assert code == 1 and f"MISMATCH {paths[0]}: its per-epoch log gives top-1" in out
    assert f"MISMATCH {paths[1]}" in out and "not the labels of the test split it hashed" in out
    assert str(paths[2]) not in out  # what a signature is for: without the key a consistent forgery passes
    monkeypatch.setenv(SIGNING_ENV, "lab secret")
    code, out = verify_out(results, capsys, "--key")
    assert f"MISMATCH {paths[2]}: its signature does not match" in out and str(paths[3]) not in out
    monkeypatch.setenv(SIGNING_ENV, "another key")
    assert f"MISMATCH {paths[3]}: its signature does not match" in verify_out(results, capsys, "--key")[1]
    monkeypatch.delenv(SIGNING_ENV)
    assert main(["verify", str(results), "--key"]) == 2 and SIGNING_ENV in one_line(capsys.readouterr().err)


def test_predictions_of_other_labels_are_caught_against_the_data(ntu60_prepared, tiny_checkpoint, tmp_path, capsys):
    """A run's record (no labels hash: the data itself is the evidence) whose predictions and log were
    rewritten consistently with other labels: ``verify --data-root`` compares them with the prepared data."""
    argv = ["run", "--dataset", "ntu60-xsub", "--data-root", str(ntu60_prepared[0]), "--runs-dir",
            str(tmp_path / "runs"), "--results-dir", str(tmp_path / "results"), "--device", "cpu", "--quiet",
            "--protocol", "knn", "--checkpoint", str(tiny_checkpoint), "--set", "k=5"]  # fmt: skip
    assert main(argv) == 0
    (path,) = (tmp_path / "results" / "records").rglob("*.json")
    assert verify_out(tmp_path / "results", capsys, "--data-root", str(ntu60_prepared[0]))[0] == 0
    original = Predictions.from_bytes(path.with_suffix(".predictions.npz").read_bytes())
    labels = np.roll(original.labels, 1)  # other labels, every prediction right
    forged = Predictions(labels, labels[None], original.top5_final, original.top5_best, original.classes)
    replace_predictions(path, forged, b"epoch,top1,top5\n0," + repr(forged.accuracy(labels)).encode() + b",0\n")
    assert verify_out(tmp_path / "results", capsys)[0] == 0  # without the data, nothing says they are wrong
    code, out = verify_out(tmp_path / "results", capsys, "--data-root", str(ntu60_prepared[0]))
    assert code == 1 and f"MISMATCH {path}: its predictions' labels are not the test labels of" in out


def test_synthetic_data_relabelled_real_never_reaches_the_real_table(tmp_path, capsys):
    """(a) the flag flipped on a stand-in's record; (b) renamed to the benchmark, its provenance removed and a
    'real' status added, every hash recomputed: its 1,000 predictions are not NTU-60 xsub's 16,487 test clips;
    (c) the same without a status: unproven, so in the custom table, without a gap."""
    results = tmp_path / "results"
    flipped = stored(results, knn("mamp", "synthetic-ntu60", 0, 40.0, scale="smoke"))
    rewrite(flipped, lambda r: r.update(synthetic=False))

    def renamed(rec: dict, status: bool) -> None:
        rec.update(dataset="ntu60-xsub", synthetic=False)
        evaluated = rec["data"]["evaluated"]
        evaluated.update(dataset="ntu60-xsub", synthetic=False, provenance={})
        if status:
            evaluated["status"].update(kind="real", test_clips=16487)
        else:
            del evaluated["status"]
        rec["config_hash"] = expected_config_hash(rec)

    claimed = stored(results, knn("mae", "synthetic-ntu60", 0, 41.0, scale="paper"))
    claimed, _ = rewrite(claimed, lambda r: renamed(r, status=True))
    unproven = stored(results, knn("mamp", "synthetic-ntu60", 1, 42.0, scale="paper"))
    unproven, _ = rewrite(unproven, lambda r: renamed(r, status=False))
    code, out = verify_out(results, capsys, "--verbose")
    assert code == 1 and f"MISMATCH {flipped}" in out
    assert f"MISMATCH {claimed}: it claims real NTU RGB+D 60 xsub data (16,487 test clips) but its predictions" in out
    assert f"note: {unproven}: real data unverified" in out
    tables = build_tables("knn", load_checked(results).frame)
    assert [t.kind for t in tables] == ["real", "custom"]
    assert not [r for r in tables[0].rows if r.kind == "measured"]
    (row,) = tables[1].rows
    assert "data not proven to be the benchmark" in row.label and not row.gaps
    assert "Δ vs reported" not in render(tables[1:], "markdown")


def test_names_from_records_are_text_in_every_format():
    """A method name with ``|`` or a newline cannot add cells or rows, nor a link, nor a spreadsheet formula."""
    names = ["a|b", "x\n| injected | 99.9 |", "[^1] <img src=x>", '=HYPERLINK("http://x","y")', "+cmd"]
    records = [complete(knn(name, "synthetic-ntu60", i, 40.0 + i, scale="smoke"))[0] for i, name in enumerate(names)]
    tables = build_tables("knn", results_frame(records), include_reported=False)
    markdown = render(tables, "markdown")
    body = [line for line in markdown.splitlines() if line.startswith("| ")]
    assert len(body) == 1 + len(names)  # the header and one line a row: no row added
    cells = {len([c for c in __import__("re").split(r"(?<!\\)\|", line)]) for line in body}
    assert len(cells) == 1  # every line has the same number of cells
    assert "\\[^1\\] \\<img" in markdown and "<img" not in markdown.replace("\\<img", "")
    frame = pd.read_csv(io.StringIO(render(tables, "csv")))
    rows = list(frame["row"])  # each with its backbone (records that name no encoder: the transformer's)
    assert '\'=HYPERLINK("http://x","y") (Transformer)' in rows and "'+cmd (Transformer)" in rows
    assert not any("\n" in r for r in rows)
    latex = render(tables, "latex")
    assert "a|b" in latex and "x | injected" in latex and "\n| injected" not in latex


# --- class 2: real data is proven ---------------------------------------------------------------------------


def unmarked_preparation(tree: Path, out: Path) -> Path:
    """A preparation of raw files that carry no synthetic mark (as real raw files would): data that says it is
    real, with a manifest, but not the official counts."""
    raw = out.parent / f"{out.name}-raw"
    shutil.copytree(tree, raw, ignore=shutil.ignore_patterns(MARKER))
    prepare_ntu("ntu60", raw, out, workers=1, quiet=True)
    return out


@pytest.fixture(scope="module")
def unmarked(ntu60_tree, tmp_path_factory) -> Path:
    return unmarked_preparation(ntu60_tree[0], tmp_path_factory.mktemp("unmarked") / "prepared")


def test_real_is_proven_and_anything_else_is_unverified(unmarked, ntu60_prepared, tmp_path):
    spec = get_dataset("ntu60-xsub")
    npz = unmarked / spec.filename
    status = data_status(npz, spec)
    assert status.kind == "unverified" and "NTU RGB+D 60 xsub has 40,091 / 16,487" in status.reason
    # the rule's other side: the same file, had its counts been the official ones, is real
    counted = dataclasses.replace(spec, official_clips=(status.train_clips, status.test_clips))
    assert data_status(npz, counted).kind == "real"
    # a plain np.savez re-save (no provenance member): of a synthetic preparation, alone in a folder
    with np.load(ntu60_prepared[0] / spec.filename) as arrays:
        resaved = {key: arrays[key] for key in ("x_train", "y_train", "x_test", "y_test")}
    (tmp_path / "alone").mkdir()
    np.savez(tmp_path / "alone" / spec.filename, **resaved)
    alone = data_status(tmp_path / "alone" / spec.filename, counted)
    assert alone.kind == "unverified" and "no manifest" in alone.reason
    assert file_provenance(tmp_path / "alone" / spec.filename) == {}
    # ... and in place of a prepared file, beside the manifest that describes another
    shutil.copytree(unmarked, tmp_path / "replaced")
    np.savez(tmp_path / "replaced" / spec.filename, **resaved)
    replaced = data_status(tmp_path / "replaced" / spec.filename, counted)
    assert replaced.kind == "unverified" and "sha256 differs" in replaced.reason
    assert data_status(ntu60_prepared[0] / spec.filename, counted).kind == "synthetic"  # the mark travelled


def test_a_folder_of_mixed_generations_is_refused_naming_the_file(unmarked, ntu60_tree, tmp_path, monkeypatch):
    spec = get_dataset("ntu60-xsub")
    check_prepared_folder(unmarked / spec.filename, spec)  # one generation: fine
    half = tmp_path / "half"  # another preparation: half of the raw files
    half.mkdir()
    for path in sorted(ntu60_tree[0].rglob("*.skeleton"))[::2]:
        shutil.copy(path, half / path.name)
    prepare_ntu("ntu60", half, tmp_path / "other", workers=1, quiet=True)
    mixed = tmp_path / "mixed"
    shutil.copytree(unmarked, mixed)
    shutil.copy(tmp_path / "other" / "NTU60_XView.npz", mixed / "NTU60_XView.npz")  # copied in from elsewhere
    with pytest.raises(UserError, match=r"NTU60_XView\.npz is not the file NTU60_manifest\.json describes"):
        check_prepared_folder(mixed / spec.filename, spec)

    # a re-preparation interrupted after its first file (a full disk on the second): new XSub, old XView
    interrupted = tmp_path / "interrupted"
    shutil.copytree(unmarked, interrupted)
    import mamp_bench.data.ntu.prepare as ntu_prepare

    real_write, calls = ntu_prepare.write_split_npz, []

    def full_disk_on_the_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise StorageError("cannot write NTU60_XView.npz: No space left on device")
        return real_write(*args, **kwargs)

    monkeypatch.setattr(ntu_prepare, "write_split_npz", full_disk_on_the_second)
    with pytest.raises(StorageError):
        prepare_ntu("ntu60", half, interrupted, workers=1, quiet=True)
    with pytest.raises(UserError, match=r"NTU60_XSub\.npz is not the file"):
        check_prepared_folder(interrupted / spec.filename, spec)


def test_a_toy_run_on_unproven_data_is_a_custom_row_with_its_settings_and_no_gap(unmarked, tiny_checkpoint, tmp_path,
                                                                                capsys):  # fmt: skip
    """Issue 24: a run with overridden settings on a handful of clips prepared from unmarked raw files (as the
    real samples are) is not beside the published rows: it is in the custom table with its settings and its
    clips, without a gap."""
    argv = ["run", "--dataset", "ntu60-xsub", "--data-root", str(unmarked), "--runs-dir", str(tmp_path / "runs"),
            "--results-dir", str(tmp_path / "results"), "--device", "cpu", "--quiet", "--protocol", "knn",
            "--checkpoint", str(tiny_checkpoint), "--set", "k=5", "--set", "batch_size=8"]  # fmt: skip
    assert main(argv) == 0
    (stored_record,) = ResultsStore(tmp_path / "results").records()
    assert stored_record["synthetic"] is False
    assert main(["table", "--protocol", "knn", "--format", "markdown", "--results-dir", str(tmp_path / "results")]) == 0
    text = capsys.readouterr().out
    real, custom = text.split("Custom settings or unproven data:")
    assert "| mamp" not in real and "Δ vs reported" not in text  # no measured row beside the published ones
    (row,) = [line for line in custom.splitlines() if line.startswith("| mamp")]
    assert "batch_size=8" in row and "k=5" in row and "data not proven to be the benchmark" in row
    assert "test clips" in row


def test_prepare_says_when_a_split_is_empty(ntu60_tree, real_samples, tmp_path, capsys):
    # the real samples: subject 1 trains in xsub and camera 1 tests in xview
    ntu = next(real_samples.rglob("*.skeleton")).parent
    assert main(["prepare", "ntu60", "--raw", str(ntu), "--out", str(tmp_path / "real"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "NTU60_XSub.npz: the test split is empty (0 clips): no run can evaluate on it" in out
    assert "NTU60_XView.npz: the train split is empty" in out
    # a synthetic tree of training subjects only
    raw = tmp_path / "train-only"
    raw.mkdir()
    for path in ntu60_tree[0].rglob("*.skeleton"):
        if path.name[8:12] in ("P001", "P002"):
            shutil.copy(path, raw / path.name)
    assert main(["prepare", "ntu60", "--raw", str(raw), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    assert "NTU60_XSub.npz: the test split is empty" in capsys.readouterr().out


# --- class 3: readers enforce the dataset's ranges -------------------------------------------------------------


@pytest.mark.parametrize(("variant", "names", "reasons"), [
    ("ntu60", ["S001C001P001R001A000", "S001C001P001R001A121", "S001C004P001R001A001", "S001C001P001R003A001",
               "S001C001P041R001A001", "S000C001P001R001A001"],
     ["action 0 is outside 1..120", "action 121 is outside 1..120", "camera 4 is outside 1..3",
      "replication 3 is outside 1..2", "subject 41 is outside 1..40 of ntu60", "setup 0 is outside 1..32"]),
    ("ntu120", ["S001C001P107R001A001", "S033C001P001R001A001", "S001C001P001R001A999"],
     ["subject 107 is outside 1..106", "setup 33 is outside 1..32", "action 999 is outside 1..120"]),
])  # fmt: skip
def test_names_outside_the_datasets_ranges_are_skipped_with_their_reason(ntu60_tree, tmp_path, variant, names,
                                                                        reasons):  # fmt: skip
    """An out-of-range action became another class (A000 -> label -1 -> class 59) with "0 skipped"."""
    raw = tmp_path / "raw"
    shutil.copytree(ntu60_tree[0], raw)
    content = next(p for p in sorted(raw.rglob("*.skeleton")) if p.stat().st_size < 400_000).read_bytes()
    for name in names:
        (raw / f"{name}.skeleton").write_bytes(content)
    manifest = prepare_ntu(variant, raw, tmp_path / "out", workers=1, quiet=True)
    skipped = {s.item: s.reason for s in manifest.skipped}
    for name, reason in zip(names, reasons, strict=True):
        assert reason in skipped[f"{name}.skeleton"], (name, skipped.get(f"{name}.skeleton"))
    prefix = "NTU60" if variant == "ntu60" else "NTU120"
    with np.load(tmp_path / "out" / f"{prefix}_XSub.npz") as arrays:
        assert arrays["y_train"].shape[1] == (60 if variant == "ntu60" else 120)
        assert len(arrays["y_train"]) + len(arrays["y_test"]) == manifest.samples  # nothing else was prepared


def test_pku_videos_on_both_sides_of_a_split_are_refused(tmp_path):
    from mamp_bench.data.pku.prepare import prepare_pku
    from mamp_bench.data.synthetic.pku_tree import write_pku_tree

    write_pku_tree(tmp_path / "raw", 1, 3, 4, 0)
    split = tmp_path / "raw" / "cross-view.txt"
    lines = split.read_text().splitlines()
    lines[3] = lines[3] + " " + lines[1].split(",")[0] + ","  # a training video listed as test too
    split.write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError, match=r"lists 1 video\(s\) in both the training and the test list: 0002-[LMR]"):
        prepare_pku("pku1", tmp_path / "raw", tmp_path / "out", quiet=True)
    assert not (tmp_path / "out").exists()


def test_pyskl_names_out_of_range_are_skipped_and_samples_on_both_sides_refused(tmp_path):
    import pickle

    from mamp_bench.data.pyskl import prepare_from_pyskl

    keypoint = np.random.default_rng(0).normal(0, 0.3, size=(1, 20, 25, 3)).astype(np.float16)
    names = ["S001C001P001R001A001", "S001C001P003R001A001", "S001C001P001R001A000", "S001C001P003R001A061"]
    annotations = [{"frame_dir": n, "label": 0, "keypoint": keypoint, "total_frames": 20} for n in names]
    content = {"split": {"xsub_train": names[:1] + names[2:3], "xsub_val": names[1:2] + names[3:],
                         "xview_train": names[1:], "xview_val": names[:1]}, "annotations": annotations}  # fmt: skip
    (tmp_path / "a.pkl").write_bytes(pickle.dumps(content))
    manifest = prepare_from_pyskl("ntu60", tmp_path / "a.pkl", tmp_path / "out")
    reasons = {s.item: s.reason for s in manifest.skipped}
    assert reasons == {"S001C001P001R001A000": "action 0 is outside 1..60 of ntu60",
                       "S001C001P003R001A061": "action 61 is outside 1..60 of ntu60"}  # fmt: skip
    content["split"]["xsub_val"].append(names[0])
    (tmp_path / "b.pkl").write_bytes(pickle.dumps(content))
    with pytest.raises(UserError, match="lists 1 sample"):
        prepare_from_pyskl("ntu60", tmp_path / "b.pkl", tmp_path / "out2")


@pytest.mark.parametrize("label", [-1, 60, 1000])
def test_a_label_outside_the_classes_is_never_written(label):
    with pytest.raises(ValueError, match=f"label {label} of sample 1 is outside 0..59"):
        one_hot([3, label], 60)


# --- class 4: never write or delete what the suite did not create ----------------------------------------------


def test_extract_features_never_replaces_its_own_input(ntu60_prepared, tiny_checkpoint, tmp_path, capsys):
    data = tmp_path / "NTU60_XSub.npz"
    shutil.copy(ntu60_prepared[0] / "NTU60_XSub.npz", data)
    before = {p: sha256_file(p) for p in (data, tiny_checkpoint)}
    os.symlink(data, tmp_path / "link.npy")
    os.link(tiny_checkpoint, tmp_path / "hard.labels.npy")  # the labels file would replace the checkpoint
    for out in (data, tmp_path / "link.npy", tmp_path / "hard.npy"):
        argv = ["extract-features", "--checkpoint", str(tiny_checkpoint), "--data", str(data), "--out", str(out),
                "--device", "cpu"]  # fmt: skip
        assert main(argv) == 2
        assert "the command's own input" in one_line(capsys.readouterr().err)
    assert {p: sha256_file(p) for p in before} == before


def test_convert_and_export_never_replace_their_source(tiny_checkpoint, tmp_path, capsys):
    source = tmp_path / "official.pth"
    shutil.copy(tiny_checkpoint, source)
    digest = sha256_file(source)
    os.symlink(source, tmp_path / "alias.pth")
    for output in (source, tmp_path / "alias.pth"):
        assert main(["convert-checkpoint", str(source), str(output)]) == 2
        assert "the same file as" in one_line(capsys.readouterr().err)
    zoo = tmp_path / "zoo"
    assert main(["export-checkpoint", str(source), "--dataset", "synthetic-ntu60", "--zoo-dir", str(zoo),
                 "--results-dir", str(tmp_path / "results")]) == 0  # fmt: skip
    metafile = next(zoo.glob("*.json"))
    capsys.readouterr()
    metafile.unlink()
    shutil.copy(source, metafile)  # a checkpoint where the export's metafile goes
    assert main(["export-checkpoint", str(metafile), "--dataset", "synthetic-ntu60", "--zoo-dir", str(zoo),
                 "--results-dir", str(tmp_path / "results")]) == 2  # fmt: skip
    assert "the command's own input" in one_line(capsys.readouterr().err)
    assert sha256_file(source) == digest == sha256_file(metafile)


def test_prepare_never_writes_over_a_file_it_reads(ntu60_tree, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    shutil.copy(ntu60_tree[0] / "samples_with_missing_skeletons.txt", out / "NTU60_manifest.json")
    before = sha256_file(out / "NTU60_manifest.json")
    argv = ["prepare", "ntu60", "--raw", str(ntu60_tree[0]), "--out", str(out), "--quiet",
            "--missing-list", str(out / "NTU60_manifest.json")]  # fmt: skip
    assert main(argv) == 2 and "--missing-list" in one_line(capsys.readouterr().err)
    assert sha256_file(out / "NTU60_manifest.json") == before and not (out / "NTU60_XSub.npz").exists()


def test_lock_and_marker_files_are_never_opened_through_a_link(tmp_path):
    user = tmp_path / "thesis.tex"
    user.write_text("years of work")
    os.symlink(user, tmp_path / "run.lock")
    with pytest.raises(StorageError, match="is a symbolic link"):
        open_own_file(tmp_path / "run.lock", "the run folder's lock")
    os.link(user, tmp_path / "hard.lock")
    with pytest.raises(StorageError, match="has other hard links"):
        open_own_file(tmp_path / "hard.lock", "the run folder's lock")
    os.mkfifo(tmp_path / "fifo.lock")
    with pytest.raises(StorageError, match="not a regular file"):
        open_own_file(tmp_path / "fifo.lock", "the run folder's lock")
    assert user.read_text() == "years of work"
    with open_own_file(tmp_path / "own.lock", "a lock") as handle:  # the suite's own: created, read and written
        handle.write("123")
    assert (tmp_path / "own.lock").read_text() == "123"


def test_the_synthetic_builders_lock_is_not_followed(tmp_path, monkeypatch):
    from mamp_bench.data.synthetic.builder import RECIPES, synthetic_file

    user = tmp_path / "notes.txt"
    user.write_text("mine")
    base = tmp_path / "cache" / "synthetic"
    base.mkdir(parents=True)
    os.symlink(user, base / f"{RECIPES['pku2'].key}.lock")
    with pytest.raises(StorageError, match="symbolic link"):
        synthetic_file("pku2", "PKUv2_XSub.npz", root=tmp_path / "cache")
    assert user.read_text() == "mine"


def test_a_folder_is_adopted_only_when_empty_or_marked_and_cleanup_removes_only_the_suites_files(tmp_path):
    users = tmp_path / "mine"
    users.mkdir()
    (users / "config.json").write_text('{"my": "settings"}')
    with pytest.raises(UserError, match=r"holds files the suite did not write \(config\.json\)"):
        adopt_folder(users, "run folder")
    assert not (users / FOLDER_MARKER).exists()
    assert adopt_folder(tmp_path / "new" / "run", "run folder") is True  # created, with its marker
    (tmp_path / "empty").mkdir()
    assert adopt_folder(tmp_path / "empty", "run folder") is False and (tmp_path / "empty" / FOLDER_MARKER).is_file()
    run = tmp_path / "new" / "run"
    assert adopt_folder(run, "run folder") is False  # marked: the suite's, adopted again
    (run / "config.json").write_text("{}")
    (run / "notes.txt").write_text("a user's file added later")
    remove_own_files(run, ["config.json", "log.jsonl"])
    assert sorted(p.name for p in run.iterdir()) == [FOLDER_MARKER, "notes.txt"]  # the user's file stays
    (run / "notes.txt").unlink()
    remove_own_files(run, [])
    assert not run.exists()  # nothing else left: the folder the suite made goes too
    remove_own_files(users, ["config.json"])  # not the suite's folder: nothing removed
    assert (users / "config.json").read_text() == '{"my": "settings"}'


# --- class 5: bounded everywhere --------------------------------------------------------------------------------


@pytest.mark.parametrize("content", ["[" * 100_000 + "]" * 100_000, '{"a": ' * 70 + "1" + "}" * 70,
                                     '{"metrics": {"top1_best": NaN}}'])  # fmt: skip
def test_a_hostile_json_file_under_records_is_one_reason_in_every_command(tmp_path, content, capsys):
    results = tmp_path / "results"
    good = stored(results, record("mamp", "linear", "synthetic-ntu60", "ntu60", "xsub", 0, 40.0, 39.0, scale="smoke"))
    bad = good.with_name("hostile.json")
    bad.write_text(content)
    code, out = verify_out(results, capsys)
    assert code == 1 and f"MISMATCH {bad}: unreadable:" in out and "Traceback" not in out
    for argv in (["table", "--protocol", "linear", "--format", "markdown", "--results-dir", str(results)],
                 ["zoo", "--results-dir", str(results), "--zoo-dir", str(tmp_path / "zoo"), "--runs-dir",
                  str(tmp_path / "runs")],
                 ["plot", "--results-dir", str(results), "--runs-dir", str(tmp_path / "runs"), "--out",
                  str(tmp_path / "fig")]):  # fmt: skip
        assert main(argv) == 0, argv
        assert "Traceback" not in capsys.readouterr().err
    with pytest.raises(DataFormatError):
        read_json(bad, "result record")


def test_verify_reads_every_file_within_its_bound(tmp_path, capsys):
    """A predictions file of 3 GB and a log of 1 TB (sparse: no disk used) are refused at once, not read."""
    results = tmp_path / "results"
    paths = [stored(results, record("mamp", "linear", "ntu60-xsub", "ntu60", "xsub", s, 84.0, 83.0)) for s in (0, 1)]
    for path, suffix, size in ((paths[0], ".predictions.npz", 3 << 30), (paths[1], ".log.csv", 1 << 40)):
        with open(path.with_suffix(suffix), "r+b") as handle:
            handle.truncate(size)
    started = time.perf_counter()
    code, out = verify_out(results, capsys)
    assert code == 1 and time.perf_counter() - started < 20
    assert f"MISMATCH {paths[0]}: predictions file" in out and "3,221,225,472 bytes, more than" in out
    assert f"MISMATCH {paths[1]}: per-epoch log" in out and "1,099,511,627,776 bytes" in out


def test_a_predictions_file_that_expands_to_gigabytes_is_refused_before_decompressing(tmp_path, capsys):
    results = tmp_path / "results"
    path = stored(results, record("mamp", "linear", "ntu60-xsub", "ntu60", "xsub", 0, 84.0, 83.0))
    bomb = path.with_suffix(".predictions.npz")
    with (zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive,
          archive.open("labels.npy", "w", force_zip64=True) as member):  # fmt: skip
        np.lib.format.write_array_header_1_0(member, {"descr": "<i8", "fortran_order": False, "shape": (2**28,)})
        zeros = bytes(64 << 20)
        for _ in range(32):  # 2 GiB of zeros, about 2 MB compressed
            member.write(zeros)
    assert bomb.stat().st_size < 8 << 20
    replace = json.loads(path.read_text())
    replace["predictions"]["sha256"] = sha256_file(bomb)
    replace["checksum"] = record_checksum(replace)
    path.write_text(json.dumps(replace))
    code, out = verify_out(results, capsys)
    assert code == 1 and "expands to 2,147,483,776 bytes, more than the 1,073,741,824" in out


def test_checkpoints_are_checked_before_their_weights_are_trusted(tiny_checkpoint, tmp_path):
    """The archive: a 4 GiB sparse file, a compressed member, members beyond the architecture's size. The
    tensors: integer or boolean weights, a missing block, an unexpected key, a shape of another configuration."""
    config = EncoderConfig(dim=32, depth=2, heads=2, frames=40)
    shapes = {k: tuple(v.shape) for k, v in SkeletonEncoder(config).state_dict().items()}
    check_archive(tiny_checkpoint, expected_bytes(shapes) * 4)  # the genuine one (with its decoder) passes
    sparse = tmp_path / "sparse.pth"
    with open(sparse, "wb") as handle:
        handle.truncate(4 << 30)
    started = time.perf_counter()
    with pytest.raises(DataFormatError, match="not a PyTorch checkpoint"):
        check_archive(sparse, 16 << 30)
    assert time.perf_counter() - started < 2
    compressed = tmp_path / "compressed.pth"
    with zipfile.ZipFile(tiny_checkpoint) as source, zipfile.ZipFile(compressed, "w", zipfile.ZIP_DEFLATED) as out:
        for info in source.infolist():
            out.writestr(info.filename, source.read(info))
    with pytest.raises(DataFormatError, match="compressed members"):
        check_archive(compressed, 16 << 30)
    with pytest.raises(DataFormatError, match="more than the 100,000 bytes"):
        check_archive(tiny_checkpoint, 100_000)  # a real checkpoint of a bigger model than declared
    lying = tmp_path / "lying.pth"  # a small file whose directory declares a 3 GB tensor
    lying.write_bytes(declare_member_size(tiny_checkpoint.read_bytes(), "data/0", 3_000_000_000))
    with pytest.raises(DataFormatError, match="bytes of members, more than the"):
        check_archive(lying, expected_bytes(shapes) * 4)

    state = SkeletonEncoder(config).state_dict()
    check_tensors(state, shapes, "checkpoint encoder")
    first = next(iter(state))
    variants = {
        "not floating point": {**state, first: state[first].long()},
        "bool": {**state, first: state[first] > 0},
        "missing": {k: v for k, v in state.items() if not k.startswith("blocks.1.")},
        "unexpected": {**state, "backdoor.weight": torch.zeros(1)},
        "wrong shape": {k: v for k, v in SkeletonEncoder(dataclasses.replace(config, dim=64)).state_dict().items()},
    }
    for label, bad in variants.items():
        with pytest.raises(DataFormatError, match="is not the declared architecture") as refused:
            check_tensors(bad, shapes, "checkpoint encoder")
        assert (label if label != "bool" else "not floating point") in str(refused.value)


def declare_member_size(data: bytes, suffix: str, size: int) -> bytes:
    """A zip archive whose central directory declares ``size`` bytes for the member ending in ``suffix``."""
    import struct

    out, i = bytearray(data), data.find(b"PK\x01\x02")
    while i >= 0:
        length = struct.unpack("<H", out[i + 28 : i + 30])[0]
        if bytes(out[i + 46 : i + 46 + length]).endswith(suffix.encode()):
            out[i + 24 : i + 28] = struct.pack("<I", size)
        i = data.find(b"PK\x01\x02", i + 1)
    return bytes(out)


ABSURD = [["ntu60", "--clips-per-class", "1000000000"], ["ntu120", "--clips-per-class", "0"],
          ["pku2", "--performances", "339"], ["pku1", "--actions-per-video", "100000"]]  # fmt: skip


@pytest.mark.parametrize("argv", ABSURD)
def test_synth_refuses_absurd_counts_at_once(argv, tmp_path, capsys):
    started = time.perf_counter()
    assert main(["synth", *argv, "--out", str(tmp_path / "raw")]) == 2
    assert "must be in [1, " in one_line(capsys.readouterr().err) and time.perf_counter() - started < 5
    assert not any((tmp_path / "raw").rglob("*.skeleton")) if (tmp_path / "raw").exists() else True


# --- issue 24: claims that hold on another machine --------------------------------------------------------------


def test_the_same_synthetic_data_has_the_same_fingerprint_in_two_homes(tmp_path, monkeypatch):
    """Two generations of a stand-in (the builder's own path: raw tree in a random temporary folder under the
    cache, preparation, compression) in two HOMEs give the same fingerprint, and even the same bytes: no path
    and no temporary name is in the file."""
    from mamp_bench.data.synthetic import builder

    monkeypatch.setitem(builder.RECIPES, "pku2", dataclasses.replace(builder.RECIPES["pku2"], performances=3))
    monkeypatch.delenv("MAMP_BENCH_CACHE")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    files = []
    for home in ("alice", "bob-on-another-machine"):
        monkeypatch.setenv("HOME", str(tmp_path / home))
        files.append(builder.synthetic_file("pku2", "PKUv2_XSub.npz"))
    assert files[0].parent != files[1].parent and str(tmp_path / "alice") in str(files[0])
    assert fingerprint(files[0]) == fingerprint(files[1]) is not None
    assert sha256_file(files[0]) == sha256_file(files[1])
    assert file_provenance(files[0])["marker"] == MARKER and str(tmp_path) not in json.dumps(file_provenance(files[0]))


def test_verify_right_after_a_quick_start_on_another_machine_exits_0(tmp_path, monkeypatch, capsys):
    """The committed records name checkpoints under runs/; a quick start on another machine writes its own
    checkpoint at that path. That is not a record that fails: a note, and exit 0."""
    shutil.copytree(REPO / "results", tmp_path / "results")
    monkeypatch.chdir(tmp_path)
    named = {json.loads(p.read_text())["encoder"].get("checkpoint") for p in (tmp_path / "results").rglob("*.json")
             if "records" in p.parts} - {None}  # fmt: skip
    for checkpoint in sorted(named)[:3]:  # as the quick start writes them: same paths, other bytes
        Path(checkpoint).parent.mkdir(parents=True, exist_ok=True)
        Path(checkpoint).write_bytes(b"another machine's weights")
    code, out = verify_out(tmp_path / "results", capsys, "--verbose")
    assert code == 0 and "0 mismatch(es)" in out
    assert "is not the checkpoint of this record" in out and "MISMATCH" not in out


@pytest.mark.slow
def test_the_quick_start_then_verify_exits_0_in_a_fresh_home(tmp_path, monkeypatch, capsys):
    """The README's quick start as a newcomer runs it: a fresh HOME (the stand-in generated there), the
    committed results store, the first command, then ``mamp-bench verify``: exit 0, no mismatch."""
    shutil.copytree(REPO / "results", tmp_path / "clone" / "results")
    monkeypatch.chdir(tmp_path / "clone")
    monkeypatch.delenv("MAMP_BENCH_CACHE")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert main(["run", "--method", "mamp", "--protocol", "linear", "--quiet"]) == 0
    code, out = verify_out(Path("results"), capsys)
    assert code == 0 and "0 mismatch(es)" in out, out
