"""Trustworthy records and tables: every number says exactly what produced it, and nothing
mislabelled reaches a table (one test per point of the issue, each from the user's side)."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from mamp_bench.checkpoints import load_checkpoint, save_checkpoint
from mamp_bench.cli import main
from mamp_bench.engine.run_folder import RunFolder
from mamp_bench.errors import UserError
from mamp_bench.plan import Options, Request, resolve
from mamp_bench.registry import PROTOCOLS
from mamp_bench.results.export import ablation_markdown, summary
from mamp_bench.results.frame import load_results, results_frame
from mamp_bench.results.render import print_rich, render, rich_text
from mamp_bench.results.store import ResultsStore, record_checksum
from mamp_bench.results.tables import build_table, build_tables, table_names
from tests.store_helpers import complete, write_record
from tests.test_checkpoints import _official_state
from tests.test_results import fixed_store, record


def one_line(err: str) -> str:
    assert err.count("\n") == 1 and err.startswith("mamp-bench: error: "), err
    return err


def run_argv(data_root, tmp_path, *extra):
    return ["run", "--dataset", "ntu60-xsub", "--data-root", str(data_root), "--runs-dir", str(tmp_path / "runs"),
            "--results-dir", str(tmp_path / "results"), "--device", "cpu", "--quiet", *extra]  # fmt: skip


# 1. Method mislabelled ---------------------------------------------------------------------------


def test_a_checkpoint_of_another_method_is_refused_and_method_is_not_a_setting(
    ntu60_prepared, tiny_checkpoint, tmp_path, capsys
):
    state = {k: v for k, v in load_checkpoint(tiny_checkpoint).items() if k not in ("format", "format_version")}
    save_checkpoint(tmp_path / "mae.pth", {**state, "method": "mae"})
    refused = run_argv(ntu60_prepared[0], tmp_path, "--protocol", "knn", "--method", "mamp",
                       "--checkpoint", str(tmp_path / "mae.pth"), "--set", "k=5")  # fmt: skip
    assert main(refused) == 2
    err = one_line(capsys.readouterr().err)
    assert "pretrained by 'mae', not 'mamp'" in err and "--method mae" in err
    assert not ResultsStore(tmp_path / "results").records()
    assert main([*refused[:-6], "--method", "mae", *refused[-4:]]) == 0
    (stored,) = ResultsStore(tmp_path / "results").records()
    assert stored["method"] == "mae" and stored["encoder"]["checkpoint_method"] == "mae"

    pretrain = ["pretrain", "--runs-dir", str(tmp_path / "r"), "--device", "cpu", "--set", "method=mae"]
    assert main(pretrain) == 2 and "'method' is not a setting" in one_line(capsys.readouterr().err)
    assert main([*refused[:-6], "--method", "mamp", "--set", "pretrain.method=mae"]) == 2
    assert "unknown setting 'pretrain.method'" in one_line(capsys.readouterr().err)


def test_an_official_checkpoint_is_the_method_its_args_name(tmp_path, capsys):
    import mamp_bench

    tiny = mamp_bench.build_method("mae", encoder__dim=32, encoder__depth=1, encoder__heads=2, decoder_dim=32)
    args = argparse.Namespace(model="model_mae.transformer.Transformer", mask_ratio=0.9, motion_aware_tau=0.8)
    torch.save({"model": _official_state(tiny), "args": args, "epoch": 399}, tmp_path / "official.pth")
    assert main(["convert-checkpoint", str(tmp_path / "official.pth"), str(tmp_path / "suite.pth")]) == 0
    converted = load_checkpoint(tmp_path / "suite.pth")
    full = mamp_bench.build_method("mae").config
    assert converted["method"] == "mae" and set(converted["method_config"]) == set(vars(full))
    # the reference's MAE ignores motion_aware_tau: the converted configuration keeps random masking
    assert converted["method_config"]["tau"] == 0.0 and converted["method_config"]["target"] == "coords"
    with pytest.raises(UserError, match="pretrained by 'mae', not 'mamp'"):
        resolve(Request("mamp", "knn", "ntu60-xsub", checkpoint=str(tmp_path / "official.pth")), Options())


# 2. Settings merged ------------------------------------------------------------------------------


def _record(method, protocol, dataset, seed, value, *, setting=None, overrides=None):
    spec = {"ntu60-xsub": ("ntu60", "xsub"), "pku2-xsub": ("pku2", "xsub")}[dataset]
    r = record(method, protocol, dataset, *spec, seed, value, value)
    r["setting"], r["overrides"] = setting or {}, overrides or {}  # hashed as the pipeline does (store_helpers)
    return r


def test_fractions_sources_and_mask_ratios_never_merge(tmp_path):
    store = ResultsStore(tmp_path)
    for seed in (0, 1):
        for fraction, value in ((0.01, 10.0), (0.1, 50.0)):
            semi = _record("mamp", "semi", "ntu60-xsub", seed, value + seed, setting={"fraction": fraction},
                           overrides={"fraction": str(fraction)})  # fmt: skip
            write_record(store, semi)
        for source, value in (("ntu60-xsub", 60.0), ("ntu120-xsub", 70.0)):
            transfer = _record("mamp", "transfer", "pku2-xsub", seed, value + seed, setting={"source": source})
            write_record(store, transfer)
        for ratio, value in ((None, 80.0), ("0.8", 30.0)):
            overrides = {"method.mask_ratio": ratio} if ratio else {}
            write_record(store, _record("mamp", "linear", "ntu60-xsub", seed, value + seed, overrides=overrides))
    frame = load_results(tmp_path)
    rows = summary(frame)
    assert len(rows) == 6 and (rows["n"] == 2).all()  # 2 fractions + 2 sources + 2 mask ratios, 2 seeds each
    assert sorted(rows.loc[rows["protocol"] == "semi", "top1_best_mean"]) == [10.5, 50.5]
    semi = build_table("semi", frame).rows[0].cells
    assert [c.mean for c in semi[:2]] == pytest.approx([10.5, 50.5], abs=0.01)
    transfer = build_table("transfer", frame).rows[0].cells
    assert [c.mean for c in transfer[:2]] == pytest.approx([60.5, 70.5], abs=0.01)
    linear = {r.label: r.cells[0].mean for r in build_table("linear", frame).rows if r.kind == "measured"}
    assert linear == {"mamp (Transformer)": pytest.approx(80.5, abs=0.01)}  # the mask ratio differs: custom
    custom = {r.label: r.cells[0].mean for r in build_table("linear", frame, kind="custom").rows}
    assert custom == {"mamp (Transformer; method.mask_ratio=0.8; 40,091 train / 16,487 test clips)":
                      pytest.approx(30.5, abs=0.01)}  # fmt: skip
    ablation = ablation_markdown(frame.assign(synthetic=True), "paper")
    assert re.search(r"\| motion target, motion-aware masking \(MAMP\) +\| 80.5 ± 0.7 \(2\)", ablation)
    assert re.search(r"\| mamp, mask_ratio 0.8 \(default 0.9\) +\| 30.5 ± 0.7 \(2\)", ablation)


# 3. Synthetic numbers under real headings ---------------------------------------------------------


def test_synthetic_runs_get_their_own_table_and_no_gap(tmp_path):
    fixed_store(tmp_path)  # real mamp 84.0/84.6/84.2 on NTU-60 xsub and one synthetic-ntu60 run (60.0)
    real, synthetic = build_tables("linear", load_results(tmp_path))
    assert not real.synthetic and synthetic.synthetic
    mamp = next(r for r in real.rows if r.kind == "measured" and r.method == "mamp")
    assert mamp.cells[0].values == pytest.approx([84.0, 84.2, 84.6], abs=0.01)  # the synthetic 60.0 is not there
    (row,) = [r for r in synthetic.rows]
    assert row.cells[0].values == [60.0] and not row.gaps and all(r.kind == "measured" for r in synthetic.rows)
    text = render([real, synthetic], "markdown")
    paragraphs = text.split("\n\n")
    synthetic_caption = next(i for i, p in enumerate(paragraphs) if p.startswith("Synthetic stand-in data:"))
    assert paragraphs[synthetic_caption].startswith("Synthetic stand-in data: these numbers are not comparable")
    assert "NTU-60 xsub (synthetic)" in paragraphs[synthetic_caption + 1]
    assert "NTU-60 xsub (synthetic)" in text


def test_a_table_shows_only_what_was_measured_where(tmp_path):
    """The committed smoke tables: a real-benchmark table with no run on real data has no empty Δ column
    and says so; the synthetic table has columns only for the stand-ins that were run; a caption names
    the fidelity of the rows, not a recipe they may not have used."""
    store = ResultsStore(tmp_path)
    for seed in (0, 1):
        write_record(
            store, record("mamp", "linear", "synthetic-ntu60", "ntu60", "xsub", seed, 60.0 + seed, 59.0, scale="smoke")
        )
    real, synthetic = build_tables("linear", load_results(tmp_path))
    assert not [r for r in real.rows if r.kind == "measured"]
    text = render([real], "markdown")
    assert "Δ vs reported" not in text and "no run on real data" in text
    assert synthetic.column_labels == ["NTU-60 xsub (synthetic)"]
    assert "—" not in render([synthetic], "markdown").split("\n\n", 1)[1]  # no cell of a stand-in not run
    for name in PROTOCOLS.names():
        assert "reference recipe" not in PROTOCOLS.get(name).description
    fixed_store(tmp_path / "both")  # with real rows the gap column is back
    assert "Δ vs reported" in render(build_tables("linear", load_results(tmp_path / "both")), "markdown")


def test_data_prepared_from_synth_output_is_recorded_as_synthetic(ntu60_prepared, tiny_checkpoint, tmp_path):
    manifest = json.loads((ntu60_prepared[0] / "NTU60_manifest.json").read_text())
    assert manifest["synthetic"] is True  # the tree came from the synthetic generator, prepared as "ntu60"
    argv = run_argv(ntu60_prepared[0], tmp_path, "--protocol", "knn", "--checkpoint", str(tiny_checkpoint),
                    "--set", "k=5")  # fmt: skip
    assert main(argv) == 0
    (stored,) = ResultsStore(tmp_path / "results").records()
    assert stored["dataset"] == "ntu60-xsub" and stored["synthetic"] is True
    assert stored["data"]["evaluated"]["provenance"]["generator"] == "mamp-bench synth"
    tables = build_tables("knn", load_results(tmp_path / "results"), include_reported=False)
    assert [t.synthetic for t in tables] == [True]


# 4. Exports ------------------------------------------------------------------------------------


TINY_PRETRAINING = ("--set", "pretrain.epochs=1", "--set", "pretrain.warmup_epochs=0", "--set", "pretrain.batch_size=8",
                    "--set", "pretrain.max_clips=16", "--set", "pretrain.workers=0", "--set", "pretrain.window=40",
                    "--set", "method.encoder.dim=32", "--set", "method.encoder.depth=1", "--set",
                    "method.encoder.heads=2", "--set", "method.decoder_dim=32", "--set", "k=5")  # fmt: skip


def test_a_pretraining_or_record_is_never_reused_on_data_that_changed(ntu60_prepared, tmp_path, capsys):
    """The prepared file is replaced (prepared again from other raw files, or another synthetic stand-in)
    under the same name: the finished pretraining and the stored record were produced from other data,
    so neither may stand for the new data; --restart trains and evaluates again."""
    data = tmp_path / "data"
    shutil.copytree(ntu60_prepared[0], data)
    argv = run_argv(data, tmp_path, "--protocol", "knn", *TINY_PRETRAINING)
    assert main(argv) == 0
    (first,) = ResultsStore(tmp_path / "results").records()
    assert main(argv) == 0 and "already done" not in capsys.readouterr().err  # quiet; the same record
    assert ResultsStore(tmp_path / "results").records() == [first]

    npz = data / "NTU60_XSub.npz"
    with np.load(npz) as arrays:
        changed = {key: arrays[key] for key in arrays.files}
    changed["x_train"] = changed["x_train"][::-1].copy()  # the same shapes, other clips under the labels
    np.savez(npz, **changed)
    for manifest in data.glob("*_manifest.json"):  # a file from elsewhere (with its manifest, the folder's
        manifest.unlink()  # mixed generations are refused first: test_evidence.py)
    assert main(argv) == 2
    err = one_line(capsys.readouterr().err)
    assert "was trained on other data than the prepared file holds now" in err and "--restart" in err
    assert ResultsStore(tmp_path / "results").records() == [first]  # nothing rewritten under the old data

    assert main([*argv, "--restart"]) == 0
    (second,) = ResultsStore(tmp_path / "results").records()
    for key in ("evaluated", "pretrained_on"):
        assert second["data"][key]["fingerprint"] != first["data"][key]["fingerprint"]
    assert second["encoder"]["checkpoint_sha256"] != first["encoder"]["checkpoint_sha256"]


def test_committed_records_are_compared_with_not_reused_in_a_fresh_clone(ntu60_prepared, tiny_checkpoint, tmp_path,
                                                                         capsys):  # fmt: skip
    """A fresh clone holds the committed records but no runs folder: the quick start runs its job instead of
    answering 'already done' from another machine's run, and reproduces the record; here, it is done."""
    argv = [a for a in run_argv(ntu60_prepared[0], tmp_path, "--protocol", "knn", "--checkpoint", str(tiny_checkpoint),
                                "--set", "k=5") if a != "--quiet"]  # fmt: skip
    assert main(argv) == 0
    (first,) = ResultsStore(tmp_path / "results").records()
    shutil.rmtree(tmp_path / "runs")  # the clone: the records, not the runs
    capsys.readouterr()
    assert main(argv) == 0 and "already done" not in capsys.readouterr().err
    (second,) = ResultsStore(tmp_path / "results").records()
    untimed = [
        {k: v for k, v in r["metrics"].items() if "seconds" not in k and "per_s" not in k} for r in (first, second)
    ]
    assert untimed[0] == untimed[1] and second["predictions"]["sha256"] == first["predictions"]["sha256"]
    assert main(argv) == 0 and "already done" in capsys.readouterr().err


def test_every_table_renders_in_every_format_and_latex_is_escaped(tmp_path):
    fixed_store(tmp_path)
    # a name no record that verifies can carry, rendered from an unchecked record: LaTeX still escapes it
    odd = complete(record("m&m_50%#{x}$~^", "linear", "ntu60-xsub", "ntu60", "xsub", 0, 70.0, 70.0))[0]
    odd_row = results_frame([odd]).assign(data="real", synthetic=False)
    frame = pd.concat([load_results(tmp_path), odd_row], ignore_index=True)
    for name in table_names():
        tables = build_tables(name, frame)
        for fmt in ("markdown", "latex", "csv", "rich"):
            assert render(tables, fmt).strip(), (name, fmt)
    latex = render(build_tables("linear", frame), "latex")
    assert r"m\&m\_50\%\#\{x\}\$\textasciitilde{}\textasciicircum{}" in latex and r"P\&C" in latex
    assert r"$\Delta$ vs reported" in latex and "Δ" not in latex and "±" not in latex
    assert latex.index(r"\toprule") < latex.index(r"\midrule") < latex.index(r"\bottomrule")
    body = latex[latex.index(r"\toprule") : latex.index(r"\bottomrule")]
    lines = [line for line in body.splitlines() if line.endswith(r"\\")]
    columns = len(lines[0].split(" & "))
    assert columns == 8 and all(len(re.split(r"(?<!\\)&", line)) == columns for line in lines)
    assert latex.count("{") == latex.count("}")


def test_the_terminal_table_folds_at_the_terminal_width_instead_of_cutting(tmp_path, capsys):
    fixed_store(tmp_path)
    table = build_table("linear", load_results(tmp_path))
    narrow = rich_text(table, width=80)
    assert "…" not in narrow and max(len(line) for line in narrow.splitlines()) <= 80
    first_column = re.sub(r"\s+", "", "".join(line.split("│")[1] for line in narrow.splitlines() if line[0] == "│"))
    position = 0
    for row in table.rows:  # every label is there whole, folded over lines of its cell, in order
        position = first_column.index(re.sub(r"\s+", "", row.label), position)
    assert "87.1" in narrow and "84.3" in narrow
    print_rich([table])
    wide = capsys.readouterr().out
    assert "…" not in wide


# 5. Metric ---------------------------------------------------------------------------------------


def test_last5_is_the_mean_of_the_last_five_epochs_and_every_caption_names_the_metric(
    ntu60_prepared, tiny_checkpoint, tmp_path, capsys
):
    argv = run_argv(ntu60_prepared[0], tmp_path, "--protocol", "linear", "--checkpoint", str(tiny_checkpoint),
                    "--set", "epochs=7", "--set", "batch_size=16", "--set", "workers=0")  # fmt: skip
    assert main(argv) == 0
    (stored,) = ResultsStore(tmp_path / "results").records()
    log = [json.loads(line) for line in (Path(stored["run_dir"]) / "log.jsonl").read_text().splitlines()]
    last5 = [e["top1"] for e in log][-5:]
    assert stored["metrics"]["top1_last5"] == pytest.approx(sum(last5) / 5)
    assert stored["metrics"]["top1_best"] == max(e["top1"] for e in log)
    capsys.readouterr()
    for metric, words in (("last5", "mean of the last 5 epochs"), ("best", "best epoch"), ("final", "final epoch")):
        assert main(["table", "--protocol", "linear", "--format", "markdown", "--metric", metric,
                     "--results-dir", str(tmp_path / "results")]) == 0  # fmt: skip
        assert f"metric: {words}" in capsys.readouterr().out
    assert "top1_last5_mean" in summary(load_results(tmp_path / "results")).columns


def test_generated_tables_carry_paired_differences_against_the_reference_method(tmp_path):
    store = fixed_store(tmp_path)
    write_record(store, record("mae", "linear", "ntu60-xsub", "ntu60", "xsub", 3, 80.0, 80.0))
    write_record(store, record("mamp", "linear", "ntu60-xsub", "ntu60", "xsub", 3, 84.5, 84.0))
    text = render(build_tables("linear", load_results(tmp_path)), "markdown")
    assert "Paired differences against `mamp`" in text
    (line,) = [line for line in text.splitlines() if line.startswith("| mae ") and "NTU-60 xsub" in line]
    cells = [c.strip() for c in line.strip("|").split("|")]
    # seeds 0-2 differ by -6.0, seed 3 by -4.5: 4 paired seeds, mean -5.625, and a defined p-value
    assert cells[2] == "4" and float(cells[3]) == pytest.approx(-5.625, abs=0.01) and 0 < float(cells[5]) < 0.05


# 6. Integrity ------------------------------------------------------------------------------------


def test_copies_edits_and_recomputed_checksums_are_caught(ntu60_prepared, tiny_checkpoint, tmp_path, capsys):
    argv = run_argv(ntu60_prepared[0], tmp_path, "--protocol", "knn", "--checkpoint", str(tiny_checkpoint),
                    "--set", "k=5")  # fmt: skip
    assert main(argv) == 0 and main([*argv, "--seed", "1"]) == 0
    results = tmp_path / "results"
    paths = sorted((results / "records").rglob("*.json"))
    assert main(["verify", "--verbose", str(results)]) == 0
    out = capsys.readouterr().out
    # k-NN of one checkpoint is deterministic: the two seeds measured the same thing once
    assert "0 mismatch(es)" in out and "the same measurement as" in out and "counted once" in out
    stored = json.loads(paths[0].read_text())
    assert stored["predictions"]["sha256"] and isinstance(stored["environment"]["git_dirty"], bool | None)

    for copy in ("copy-a.json", "copy-b.json"):  # the same record under two other names counts once
        shutil.copy(paths[0], paths[0].with_name(copy))
    assert main(["table", "--protocol", "knn", "--format", "csv", "--results-dir", str(results)]) == 0
    out = capsys.readouterr()
    assert "left out 2 record file(s) that do not verify (2 misplaced or duplicate)" in out.err
    cells = pd.read_csv(__import__("io").StringIO(out.out))
    assert cells.loc[(cells["kind"] == "measured") & (cells["column"] == "NTU-60 xsub (synthetic)"), "n"].item() == 1

    edited = dict(stored, metrics={**stored["metrics"], "top1_best": 99.0})
    paths[1].write_text(json.dumps(edited))  # edited by hand: skipped, and said so
    assert main(["table", "--protocol", "knn", "--format", "csv", "--results-dir", str(results)]) == 0
    assert "1 edited" in capsys.readouterr().err
    edited["checksum"] = record_checksum(edited)  # the checksum recomputed after the edit: verify catches it
    paths[0].write_text(json.dumps(edited))
    assert main(["verify", str(results)]) == 1
    out = capsys.readouterr().out
    assert f"MISMATCH {paths[0]}: top1_best is 99.0 but its predictions give" in out


def test_a_checkpoint_must_match_the_sha256_of_its_own_epoch(ntu60_prepared, tmp_path, capsys):
    run = tmp_path / "run"
    argv = ["pretrain", "--dataset", "ntu60-xsub", "--data-root", str(ntu60_prepared[0]), "--output-dir", str(run),
            "--device", "cpu", "--quiet", "--set", "method.encoder.dim=32", "--set", "method.encoder.depth=1",
            "--set", "method.encoder.heads=2", "--set", "method.decoder_dim=32", "--set", "epochs=2",
            "--set", "batch_size=8", "--set", "max_clips=16", "--set", "checkpoint_every=1",
            "--set", "warmup_epochs=0"]  # fmt: skip
    assert main(argv) == 0
    final, _ = RunFolder(run).final_checkpoint()
    shutil.copy(run / "checkpoint-0.pth", final)  # a genuine checkpoint of this run, but of epoch 0
    with pytest.raises(UserError, match="recorded for epoch 1"):
        RunFolder(run).final_checkpoint()
    shutil.copy(run / "checkpoint-last.pth", final)  # epoch 1's bytes again
    (run / "log.jsonl").unlink()
    with pytest.raises(UserError, match="no recorded sha256.*--allow-unverified"):
        RunFolder(run).final_checkpoint()
    assert RunFolder(run).final_checkpoint(allow_unverified=True)[0] == final


def test_two_processes_never_share_a_run_folder(ntu60_prepared, tiny_checkpoint, tmp_path):
    argv = run_argv(ntu60_prepared[0], tmp_path, "--protocol", "knn", "--checkpoint", str(tiny_checkpoint),
                    "--set", "k=5")  # fmt: skip
    request = Request("mamp", "knn", "ntu60-xsub", checkpoint=str(tiny_checkpoint), overrides={"k": "5"})
    options = Options(data_root=str(ntu60_prepared[0]), runs_dir=str(tmp_path / "runs"))
    resolved = resolve(request, options)
    with resolved.folder.lock(resolved.digest):  # as if this process were running the same job
        other = subprocess.run([sys.executable, "-m", "mamp_bench", *argv], capture_output=True, text=True,
                               timeout=300)  # fmt: skip
    assert other.returncode == 2 and f"in use by process {os.getpid()}" in one_line(other.stderr)
    assert "--wait" in other.stderr and not ResultsStore(tmp_path / "results").records()


# 7. Reported rows --------------------------------------------------------------------------------


def test_recent_published_rows_are_in_ordered_by_year_with_the_best_marked(tmp_path):
    table = build_table("linear", load_results(tmp_path))
    published = [r for r in table.rows if r.kind == "reported"]
    labels = [r.label for r in published]
    for name in ("STARS (arXiv 2024)", "Rethinking (AAAI 2025)", "SCD-Net (AAAI 2024)", "USDRL+ (TPAMI 2025)"):
        assert name in labels
    stars = next(r for r in published if r.method == "STARS")
    assert stars.cells[0].reported == 87.1
    years = [int(re.search(r"\((?:\D+ )?(\d{4})", label)[1]) for label in labels]
    assert years == sorted(years) and labels[0].startswith("P&C (CVPR 2020)")
    best = [max(r.cells[i].reported for r in published if r.cells[i].reported is not None) for i in range(6)]
    for i, value in enumerate(best):
        assert [r.cells[i].best for r in published] == [r.cells[i].reported == value for r in published]
    text = render([table], "markdown")
    assert "| method " in text and "| kind" not in text  # sources are notes, not a long last column
    assert f"**{best[0]:.1f}**" in text and "[^1]: " in text
    for row in published:
        for note in row.notes:
            assert f"[^{note}]" in text and f"[^{note}]: {table.sources[note - 1]}" in text
    assert PROTOCOLS.get("linear").columns[0].label == "NTU-60 xsub"
