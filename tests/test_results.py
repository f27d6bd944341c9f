"""Results store, published numbers, tables (golden Markdown on fixed records), comparisons, plots."""

from __future__ import annotations

import json
import multiprocessing as mp
from pathlib import Path

import pandas as pd
import pytest

from mamp_bench.cli import main
from mamp_bench.results.frame import load_results
from mamp_bench.results.render import render
from mamp_bench.results.reported import reported
from mamp_bench.results.store import ResultsStore, scores_npy
from mamp_bench.results.tables import build_table, build_tables, compare
from tests.store_helpers import write_record

GOLDEN = Path(__file__).parent / "golden"


def record(method, protocol, dataset, family, split, seed, best, final, fraction=None, source=None, scale="paper"):
    setting = {"fraction": fraction} if fraction else ({"source": source} if source else {})
    return {
        "method": method, "protocol": protocol, "dataset": dataset, "family": family, "split": split,
        "synthetic": dataset.startswith("synthetic"), "source_dataset": source, "seed": seed, "scale": scale,
        "config_hash": f"{method}{protocol}{dataset}{fraction}{seed}".replace(".", ""),
        "setting": setting, "overrides": {}, "row_hash": f"{method}-{protocol}-{scale}",
        "protocol_config": {"fraction": fraction} if fraction else {},
        "metrics": {"top1_best": best, "top1_final": final, "top5_final": 99.0}, "environment": {"device": "cpu"},
    }  # fmt: skip


def fixed_store(root):
    store = ResultsStore(root)
    for seed, (a, b) in enumerate([(84.0, 83.5), (84.6, 84.1), (84.2, 83.9)]):
        write_record(store, record("mamp", "linear", "ntu60-xsub", "ntu60", "xsub", seed, a, b))
        write_record(store, record("mae", "linear", "ntu60-xsub", "ntu60", "xsub", seed, a - 6, b - 6.2))
    write_record(store, record("mamp", "linear", "pku2-xsub", "pku2", "xsub", 0, 52.0, 51.0))
    write_record(store, record("mamp", "linear", "synthetic-ntu60", "ntu60", "xsub", 0, 60.0, 59.0, scale="smoke"))
    for seed in (0, 1):
        semi = record("mamp", "semi", "ntu60-xsub", "ntu60", "xsub", seed, 65.0 + seed, 64.0, fraction=0.01)
        write_record(store, semi)
    write_record(store, record("mamp", "transfer", "pku2-xsub", "pku2", "xsub", 0, 70.0, 69.5, source="ntu60-xsub"))
    return store


def test_store_roundtrip_and_identity(tmp_path):
    store = fixed_store(tmp_path)
    records = store.records()
    assert len(records) == 11
    path = store.path_for(records[0])
    assert path.relative_to(tmp_path).parts[:2] == ("records", records[0]["protocol"])
    found = store.find("mamp" and "linear", "ntu60-xsub", "mamp", records[0]["config_hash"], records[0]["seed"])
    assert found is None or found["method"] == "mamp"
    frame = load_results(tmp_path)
    assert isinstance(frame, pd.DataFrame) and len(frame) == 11
    assert set(frame["protocol"]) == {"linear", "semi", "transfer"}


def test_corrupt_and_tampered_records_are_skipped(tmp_path):
    store = fixed_store(tmp_path)
    victim = sorted((tmp_path / "records").rglob("*.json"))[0]
    data = json.loads(victim.read_text())
    data["metrics"]["top1_best"] = 99.9
    victim.write_text(json.dumps(data))
    other = sorted((tmp_path / "records").rglob("*.json"))[1]
    other.write_text(other.read_text()[:50])
    assert len(store.records()) == 9
    assert {p for p, _ in store.scan().skipped} == {victim, other}


def _writer(root, index):
    store = ResultsStore(root)
    for i in range(20):
        store.write(record("mamp", "knn", "ntu60-xsub", "ntu60", "xsub", index * 100 + i, 50.0, 50.0))


def test_concurrent_writers_both_land(tmp_path):
    processes = [mp.get_context("fork").Process(target=_writer, args=(tmp_path, k)) for k in range(2)]
    for p in processes:
        p.start()
    for p in processes:
        p.join()
    assert len(ResultsStore(tmp_path).records()) == 40 and not ResultsStore(tmp_path).scan().skipped


def test_reported_numbers_keep_paper_and_checkpoint_apart():
    rep = reported()
    paper = rep[(rep["method"] == "MAMP") & (rep["protocol"] == "linear") & (rep["dataset"] == "ntu60")]
    ckpt = rep[(rep["method"] == "MAMP-README-ckpt") & (rep["protocol"] == "linear") & (rep["dataset"] == "ntu60")]
    assert set(paper["value"]) == {84.9, 89.1} and set(ckpt["value"]) == {85.0, 89.0}
    assert rep["source"].notna().all() and (rep["verified"] == "yes").all()


@pytest.mark.parametrize("protocol", ["linear", "semi", "transfer"])
def test_golden_markdown(protocol, tmp_path):
    fixed_store(tmp_path)
    text = render(build_tables(protocol, load_results(tmp_path), include_reported=False), "markdown")
    golden = GOLDEN / f"{protocol}.md"
    if not golden.exists():  # pragma: no cover - written once, then compared
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(text)
    assert text == golden.read_text()


def test_reported_rows_and_gap(tmp_path):
    fixed_store(tmp_path)
    table = build_table("linear", load_results(tmp_path), scale="paper")
    mamp = next(r for r in table.rows if r.kind == "measured" and r.method == "mamp")
    assert mamp.gaps[0] == pytest.approx((84.0 + 84.6 + 84.2) / 3 - 84.9, abs=0.01)  # to within a clip of 16,487
    assert mamp.gaps[5] == pytest.approx(52.0 - 53.8)
    reported_mamp = next(r for r in table.rows if r.kind == "reported" and r.method == "MAMP")
    assert reported_mamp.cells[0].reported == 84.9 and reported_mamp.label == "MAMP (ICCV 2023)"
    text = render([table], "markdown")
    assert "84.3 ± 0.3 (3)" in text and "—" in text and "-0.8 (2)" not in text


def test_paired_comparison(tmp_path):
    fixed_store(tmp_path)
    rows = compare(load_results(tmp_path), "linear", "mamp", "mae", scale="paper")
    (row,) = [r for r in rows if r.column == "NTU-60 xsub"]
    # the same difference on every seed (to within a clip of the 16,487)
    assert row.n == 3 and row.mean_difference == pytest.approx(6.0, abs=0.01) and row.std_difference < 0.01


def test_table_and_compare_commands(tmp_path, capsys):
    fixed_store(tmp_path)
    for fmt in ("markdown", "latex", "csv"):
        assert main(["table", "--protocol", "linear", "--format", fmt, "--results-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "84.9" in out and r"$\pm$" in out and "gap_vs_reported" in out
    assert main(["table", "--protocol", "linear", "--compare", "mamp", "mae", "--results-dir", str(tmp_path)]) == 0
    assert "paired seeds" in capsys.readouterr().out
    assert main(["table", "--protocol", "linear", "--compare", "mamp", "nope", "--results-dir", str(tmp_path)]) == 2


def test_plot_writes_pngs(tmp_path, capsys):
    fixed_store(tmp_path / "results")
    run = tmp_path / "runs" / "pretrain" / "mamp-x-abc"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"method": "mamp"}))
    (run / "log.jsonl").write_text("".join(json.dumps({"epoch": e, "loss": 1 / (e + 1)}) + "\n" for e in range(5)))
    args = [
        "plot",
        "--runs-dir",
        str(tmp_path / "runs"),
        "--results-dir",
        str(tmp_path / "results"),
        "--out",
        str(tmp_path / "fig"),
    ]
    assert main(args) == 0
    for name in ("pretrain_loss.png", "label_fraction.png"):
        assert (tmp_path / "fig" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_rows_are_method_and_overrides_not_per_dataset_presets(tmp_path):
    store = ResultsStore(tmp_path)
    for dataset in ("synthetic-ntu60", "synthetic-ntu120"):
        for ratio, top1 in (("0.9", 80.0), ("0.8", 70.0)):
            base = record("mamp", "linear", dataset, "", "xsub", 0, top1, top1, scale="smoke")
            base["overrides"] = {} if ratio == "0.9" else {"method.mask_ratio": ratio}
            write_record(store, base)
    table = build_table("linear", load_results(tmp_path), include_reported=False, kind="synthetic")
    rows = {row.label: [cell.mean for cell in row.cells[:2]] for row in table.rows}
    assert rows == {"mamp (Transformer)": [80.0, 80.0], "mamp (Transformer; mask_ratio=0.8)": [70.0, 70.0]}


def test_records_written_before_encoders_were_registered_are_the_transformers(tmp_path):
    """Before the encoder registry every method ran on the transformer, and the suite's MoCo control was called
    ``skeletonclr``: such a record (no encoder name) is shown as a Transformer row, never as the ST-GCN SkeletonCLR;
    a record that names its encoder keeps it."""
    store = ResultsStore(tmp_path)
    old = record("skeletonclr", "linear", "synthetic-ntu60", "ntu60", "xsub", 0, 27.0, 26.0, scale="smoke")
    new = {**record("aimclr", "linear", "synthetic-ntu60", "ntu60", "xsub", 0, 30.0, 29.0, scale="smoke"),
           "encoder": {"kind": "fresh", "name": "stgcn"}, "recipe": "gcn"}  # fmt: skip
    write_record(store, old)
    write_record(store, new)
    frame = load_results(tmp_path)
    assert dict(zip(frame["method"], zip(frame["encoder"], frame["recipe"], strict=True), strict=True)) == {
        "skeletonclr": ("transformer", "transformer"), "aimclr": ("stgcn", "gcn")}  # fmt: skip
    labels = {row.label for row in build_table("linear", frame, include_reported=False, kind="synthetic").rows}
    assert labels == {"skeletonclr (Transformer)", "aimclr (ST-GCN)"}


def test_the_three_stream_ensemble_row_is_the_argmax_of_the_weighted_scores(tmp_path):
    """AimCLR's ensemble: a clip's prediction is the argmax of 0.6 x joint + 0.6 x bone + 0.4 x motion class
    scores (each stream's best evaluation); the row's top-1 is the share of clips that gets right, computed here
    from the stored predictions independently of the table code."""
    import numpy as np

    from mamp_bench.evaluation.metrics import Predictions
    from tests.store_helpers import complete

    store, kept = ResultsStore(tmp_path), {}
    for index, (stream, accuracy) in enumerate((("joint", 60.0), ("motion", 40.0), ("bone", 50.0))):
        overrides = {} if stream == "joint" else {"method.encoder.stream": stream}
        base = record("aimclr", "linear", "synthetic-ntu60", "ntu60", "xsub", 0, accuracy, accuracy - 5, scale="smoke")
        base.update(overrides=overrides, encoder={"kind": "fresh", "name": "stgcn", "init_seed": 0,
                                                  "encoder_config": {"stream": stream}})  # fmt: skip
        full, predictions, log = complete(base)
        loaded = Predictions.from_bytes(predictions)
        accuracies = [loaded.accuracy(row) for row in loaded.top1_by_epoch]
        best = loaded.top1_by_epoch[int(np.argmax(accuracies))]
        # class scores whose argmax is the best evaluation's prediction, the other classes scored at random below it
        scores = np.random.default_rng(index).uniform(0, 0.9, (len(best), loaded.classes)).astype(np.float32)
        scores[np.arange(len(best)), best] = 1.0
        kept[stream] = scores
        store.write(full, predictions, log, scores_npy(scores))
    weighted = sum(w * kept[s].astype(np.float64) for s, w in {"joint": 0.6, "motion": 0.4, "bone": 0.6}.items())
    expected = 100.0 * float((weighted.argmax(axis=1) == loaded.labels).mean())
    table = build_table("linear", load_results(tmp_path), include_reported=False, kind="synthetic")
    rows = {row.label: row.cells[0].mean for row in table.rows}
    (ensemble,) = [label for label in rows if "0.6 joint + 0.6 bone + 0.4 motion" in label]
    assert ensemble == "3s-aimclr (ST-GCN; 0.6 joint + 0.6 bone + 0.4 motion)"
    assert rows[ensemble] == pytest.approx(expected)
    assert all(mean != pytest.approx(expected) for label, mean in rows.items() if label != ensemble)  # no member's
