"""The model zoo from the user's side: `mamp-bench zoo` lists the official checkpoints with their
published numbers and the user's own, `export-checkpoint` names a file by its sha256 and describes
it with a metafile that lists the records that evaluated it."""

from __future__ import annotations

import hashlib
import json
import re

import torch

import mamp_bench
from mamp_bench.cli import main


def test_export_a_pretraining_then_list_it_with_the_records_that_evaluated_it(ntu60_prepared, tmp_path, capsys,
                                                                            monkeypatch):  # fmt: skip
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "300")  # one line per checkpoint
    tiny = ["--set", "pretrain.epochs=2", "--set", "pretrain.batch_size=8", "--set", "pretrain.max_clips=32",
            "--set", "pretrain.warmup_epochs=0", "--set", "method.encoder.dim=32", "--set", "method.encoder.depth=1",
            "--set", "method.encoder.heads=2", "--set", "method.decoder_dim=32"]  # fmt: skip
    data = ["--data-root", str(ntu60_prepared[0]), "--dataset", "ntu60-xsub", "--device", "cpu", "--quiet"]
    assert main(["run", "--method", "mamp", "--protocol", "knn", *data, *tiny]) == 0
    assert main(["run", "--method", "mamp", "--protocol", "knn", *data, *tiny, "--set", "k=5"]) == 0
    capsys.readouterr()

    assert main(["zoo"]) == 0  # before the export: the official checkpoints and the finished pretraining
    listing = capsys.readouterr().out
    assert re.search(r"\| official +\| mamp-official-ntu60-xsub .*linear \(published\) ntu60-xsub: 85\.0", listing)
    assert re.search(r"\| official +\| mamp-official-ntu120-xset .*finetune \(published\) ntu120-xset: 91\.5", listing)
    assert re.search(r"\| run +\| mamp-ntu60-xsub-\w+ +\| mamp .*knn ntu60-xsub s0: \d+\.\d", listing)
    assert re.search(r"knn ntu60-xsub \(k=5\) s0: \d+\.\d", listing)  # each setting says which it is

    (run,) = (tmp_path / "runs" / "pretrain").iterdir()
    assert main(["export-checkpoint", str(run)]) == 0
    weights, meta_file = (tmp_path / line for line in capsys.readouterr().out.split())
    sha = hashlib.sha256(weights.read_bytes()).hexdigest()
    assert weights.name == f"mamp_2e_ntu60-xsub-{sha[:8]}.pth" and weights.parent == tmp_path / "runs" / "zoo"
    assert weights.read_bytes() == (run / "checkpoint-1.pth").read_bytes()
    meta = json.loads(meta_file.read_text())
    assert meta["Method"] == "mamp" and meta["sha256"] == sha and meta["Weights"] == weights.name
    assert meta["Metadata"]["Training Data"] == "ntu60-xsub" and meta["Metadata"]["Epochs"] == 2
    assert meta["Config"]["pretrain"]["epochs"] == 2 and meta["Config"]["method_config"]["encoder"]["dim"] == 32
    assert sorted(r["Setting"].get("k", "") for r in meta["Results"]) == ["", "5"]
    assert all(r["Task"] == "knn" and (tmp_path / r["Record"]).is_file() for r in meta["Results"])
    assert mamp_bench.load_encoder(weights).config.dim == 32

    assert main(["zoo", "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert [e["kind"] for e in entries].count("official") == 4
    (mine,) = [e for e in entries if e["kind"] in ("export", "run")]  # the export replaces the run entry
    assert mine["kind"] == "export" and mine["sha256"] == sha and mine["results"][0]["protocol"] == "knn"


def test_export_refuses_a_corrupt_checkpoint_and_asks_for_the_dataset_when_unknown(tiny_checkpoint, tmp_path,
                                                                                 capsys):  # fmt: skip
    zoo = ["--zoo-dir", str(tmp_path / "zoo"), "--results-dir", str(tmp_path / "results")]
    assert main(["export-checkpoint", str(tiny_checkpoint), *zoo]) == 2
    err = capsys.readouterr().err
    assert "--dataset" in err and err.count("\n") == 1
    assert main(["export-checkpoint", str(tiny_checkpoint), "--dataset", "ntu60-xsub", *zoo]) == 0
    assert capsys.readouterr().out.split()[0].endswith(".pth")

    run = tmp_path / "run"
    run.mkdir()
    state = torch.load(tiny_checkpoint, weights_only=True)
    torch.save(state, run / "checkpoint-0.pth")
    (run / "log.jsonl").write_text(json.dumps({"epoch": 0, "checkpoint_sha256": "0" * 64}) + "\n")
    assert main(["export-checkpoint", str(run / "checkpoint-0.pth"), "--dataset", "ntu60-xsub", *zoo]) == 2
    assert "is corrupt" in capsys.readouterr().err
