"""Protocols: the recipes (optimizer groups, layer decay, schedules, heads, subsets), the runner,
records, resume, and bad input."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys

import numpy as np
import pytest
import torch

from mamp_bench.cli import main
from mamp_bench.engine.optim import CosineSchedule, layer_decay_groups
from mamp_bench.errors import UserError
from mamp_bench.evaluation.heads import Classifier, FinetuneHead, LinearHead
from mamp_bench.evaluation.metrics import Tally
from mamp_bench.evaluation.subset import labelled_subset
from mamp_bench.models.transformer import SkeletonEncoder
from mamp_bench.protocols.knn import knn_classify
from mamp_bench.registry import PROTOCOLS
from mamp_bench.results.store import ResultsStore


def test_paper_recipes():
    linear = PROTOCOLS.get("linear").config("ntu60", "paper")
    assert (linear.epochs, linear.batch_size, linear.lr, linear.min_lr, linear.warmup_epochs) == (100, 256, 0.1, 0.0, 0)
    assert linear.momentum == 0.9 and linear.weight_decay == 0.0 and linear.augment
    assert PROTOCOLS.get("linear").config("pku1", "paper").batch_size == 128
    pku2 = PROTOCOLS.get("linear").config("pku2", "paper")
    assert (pku2.batch_size, pku2.lr) == (32, 0.01)
    ft = PROTOCOLS.get("finetune").config("ntu120", "paper")
    assert (ft.epochs, ft.batch_size, ft.lr, ft.min_lr, ft.warmup_epochs) == (100, 48, 3e-4, 1e-5, 5)
    assert (ft.layer_decay, ft.drop_path, ft.head_dropout, ft.label_smoothing, ft.weight_decay) == (
        0.8,
        0.3,
        0.3,
        0.1,
        0.05,
    )
    assert (ft.beta1, ft.beta2, ft.hidden_dim) == (0.9, 0.999, 2048)
    assert PROTOCOLS.get("scratch").config("ntu60", "paper").layer_decay == 1.0
    assert PROTOCOLS.get("semi").config("ntu60", "paper", {"fraction": "0.1"}).fraction == 0.1
    knn = PROTOCOLS.get("knn").config("ntu60", "paper")
    assert (knn.k, knn.temperature) == (20, 0.07)
    with pytest.raises(UserError, match="unknown setting"):
        PROTOCOLS.get("linear").config("ntu60", "paper", {"lr_max": "1"})
    with pytest.raises(UserError, match="augment=false"):
        PROTOCOLS.get("linear").config("ntu60", "paper", {"cache_train_features": "true"})


def test_schedules():
    linear = CosineSchedule(0.1, 0.0, 0, 100)
    assert linear(0) == pytest.approx(0.1) and linear(50) == pytest.approx(0.05) and linear(100) == pytest.approx(0.0)
    ft = CosineSchedule(3e-4, 1e-5, 5, 100)
    assert ft(0) == 0 and ft(2.5) == pytest.approx(1.5e-4) and ft(5) == pytest.approx(3e-4)
    assert ft(52.5) == pytest.approx(1e-5 + (3e-4 - 1e-5) / 2) and ft(100) == pytest.approx(1e-5)


def test_layer_decay_values_over_the_nine_layer_ids():
    encoder = SkeletonEncoder()
    model = Classifier(encoder, FinetuneHead(256, 60))
    groups = layer_decay_groups(model, depth=8, weight_decay=0.05, decay=0.8)
    scale = {n: g["lr_scale"] for g in groups for n in g["names"]}
    decay = {n: g["weight_decay"] for g in groups for n in g["names"]}
    assert scale["encoder.joints_embed.proj.weight"] == pytest.approx(0.8**9)
    assert scale["encoder.pos_embed"] == pytest.approx(0.8**9) and scale["encoder.temp_embed"] == pytest.approx(
        0.134, abs=1e-3
    )
    for i in range(8):
        assert scale[f"encoder.blocks.{i}.attn.qkv.weight"] == pytest.approx(0.8 ** (8 - i))
    assert scale["encoder.blocks.0.mlp.fc1.weight"] == pytest.approx(0.168, abs=1e-3)
    assert scale["encoder.norm.weight"] == 1.0 and scale["head.fc2.weight"] == 1.0
    assert decay["encoder.pos_embed"] == 0.05 and decay["encoder.blocks.3.norm1.weight"] == 0.0
    assert decay["head.bn.weight"] == 0.0 and decay["head.fc1.weight"] == 0.05
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))


def test_heads_shapes_and_parameters():
    features = torch.randn(4, 2, 30, 25, 256)
    linear = LinearHead(256, 60)
    assert linear(features).shape == (4, 60) and linear(features.mean((1, 2, 3))).shape == (4, 60)
    assert not linear.fc[0].affine and linear.fc[0].eps == 1e-6
    assert 0.005 < linear.fc[1].weight.std() < 0.015 and torch.all(linear.fc[1].bias == 0)
    head = FinetuneHead(256, 60)
    assert head(features).shape == (4, 60)
    assert head.fc1.in_features == 6400 and head.fc1.out_features == 2048 and head.dropout.p == 0.3
    assert sum(p.numel() for p in head.parameters()) == 13_236_284  # 13.24 M, as the reference notes
    assert sum(p.numel() for p in Classifier(SkeletonEncoder(), head).parameters()) == 19_572_284  # 19.57 M
    names = set(dict(Classifier(SkeletonEncoder(), head).named_parameters()))
    assert {"head.fc1.weight", "head.bn.weight", "head.fc2.bias"} <= names
    assert {"fc.0.running_mean", "fc.1.weight"} <= set(linear.state_dict())  # reference names


def test_labelled_subset_is_stratified_and_fixed_by_the_seed():
    labels = np.arange(40091) % 60  # NTU-60 xsub size
    one = labelled_subset(labels, 0.01, seed=3)
    assert len(one) == 400 and len(np.unique(labels[one])) == 60
    assert np.array_equal(one, labelled_subset(labels, 0.01, seed=3))
    assert not np.array_equal(one, labelled_subset(labels, 0.01, seed=4))
    ten = labelled_subset(labels, 0.1, seed=3)
    assert len(ten) == 4009
    counts = np.bincount(labels[ten])
    assert counts.max() - counts.min() <= 1
    few = labelled_subset(np.arange(100) % 60, 0.1, seed=0)  # 10 clips for 60 classes
    assert len(few) == 10 and len(np.unique(few % 60)) == 10


def test_knn_votes():
    train = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    labels = torch.tensor([0, 0, 1, 1])
    tally = knn_classify(train, labels, torch.tensor([[1.0, 0.05], [0.05, 1.0]]), torch.tensor([0, 1]), 2, k=3)
    assert tally.top1 == 100.0 and tally.count == 2


def test_tally_per_class_and_confusion():
    tally = Tally.empty(3)
    tally.add(torch.tensor([[5.0, 1, 0], [0, 5, 1], [5, 0, 1]]), torch.tensor([0, 1, 1]))
    assert tally.top1 == pytest.approx(200 / 3) and tally.per_class() == [100.0, 50.0, None]
    assert tally.confusion.tolist() == [[1, 0, 0], [1, 1, 0], [0, 0, 0]]


def _sets(*pairs: str) -> list[str]:
    return [arg for pair in pairs for arg in ("--set", pair)]


def _run(argv):
    return main(argv)


def _base(data_root, tmp_path, *extra):
    return ["run", "--dataset", "ntu60-xsub", "--data-root", str(data_root), "--runs-dir", str(tmp_path / "runs"),
            "--results-dir", str(tmp_path / "results"), "--device", "cpu", "--quiet", *extra]  # fmt: skip


@pytest.mark.parametrize(
    "protocol, sets",
    [
        ("linear", ["epochs=3", "batch_size=16", "workers=0"]),
        ("finetune", ["epochs=2", "batch_size=16", "hidden_dim=64"]),
        ("semi", ["epochs=2", "batch_size=4", "hidden_dim=64", "fraction=0.1"]),
        ("knn", ["k=5"]),
    ],
)
def test_every_protocol_runs_and_records(protocol, sets, ntu60_prepared, tiny_checkpoint, tmp_path):
    argv = _base(ntu60_prepared[0], tmp_path, "--protocol", protocol, "--checkpoint", str(tiny_checkpoint))
    for s in sets:
        argv += ["--set", s]
    assert _run(argv) == 0
    (record,) = ResultsStore(tmp_path / "results").records()
    for key in ("method", "protocol", "dataset", "split", "seed", "protocol_config", "config_hash", "encoder",
                "environment", "wall_seconds", "metrics", "suite_version"):  # fmt: skip
        assert key in record, key
    assert record["encoder"]["checkpoint_sha256"] and record["environment"]["torch"] == torch.__version__
    assert record["environment"]["processes"] == 1 and record["environment"]["device"] == "cpu"
    metrics = record["metrics"]
    assert 0 <= metrics["top1_final"] <= 100 and 0 <= metrics["top1_best"] <= 100
    assert len(metrics["per_class_final"]) == 60
    run_dir = tmp_path / "runs" / protocol
    (folder,) = run_dir.iterdir()
    assert (folder / "record.json").is_file() and (folder / "confusion_final.csv").is_file()
    if protocol in ("linear", "finetune", "semi"):
        assert metrics["top1_best"] >= metrics["top1_final"] and metrics["epochs_run"] == int(sets[0].split("=")[1])
        log = [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines()]
        assert max(e["top1"] for e in log) == metrics["top1_best"]
    if protocol == "semi":
        subset = json.loads((folder / "subset.json").read_text())
        assert len(subset["indices"]) == record["extras"]["subset"]["size"] == int(metrics["train_clips"])
    # the same job again is recognised and skipped
    assert _run(argv) == 0 and len(ResultsStore(tmp_path / "results").records()) == 1


def test_run_pretrains_once_and_shares_the_pretraining(ntu60_prepared, tmp_path):
    pre = _sets(
        "pretrain.epochs=1", "pretrain.warmup_epochs=0", "pretrain.batch_size=8", "pretrain.max_clips=16",
        "pretrain.workers=0", "method.encoder.dim=32", "method.encoder.depth=1", "method.encoder.heads=2",
        "method.decoder_dim=32", "pretrain.window=40",
    )  # fmt: skip
    assert _run(_base(ntu60_prepared[0], tmp_path, "--protocol", "knn", *pre)) == 0
    assert _run(_base(ntu60_prepared[0], tmp_path, "--protocol", "linear", *pre, "--set", "epochs=1",
                      "--set", "batch_size=16", "--set", "workers=0")) == 0  # fmt: skip
    assert len(list((tmp_path / "runs" / "pretrain").iterdir())) == 1
    records = ResultsStore(tmp_path / "results").records()
    assert len({r["encoder"]["pretrain_hash"] for r in records}) == 1


def test_class_count_mismatch_and_missing_keys(ntu60_prepared, tiny_checkpoint, tmp_path, capsys):
    bad = tmp_path / "NTU120_XSub.npz"
    bad.symlink_to(ntu60_prepared[0] / "NTU60_XSub.npz")  # a 60-class file where 120 classes are expected
    argv = ["run", "--protocol", "knn", "--dataset", "ntu120-xsub", "--data-root", str(tmp_path), "--checkpoint",
            str(tiny_checkpoint), "--runs-dir", str(tmp_path / "runs"), "--results-dir", str(tmp_path / "r"),
            "--device", "cpu", "--quiet"]  # fmt: skip
    assert main(argv) == 2
    assert "has 60 classes but ntu120-xsub has 120" in capsys.readouterr().err
    state = torch.load(tiny_checkpoint, weights_only=True)
    del state["model"]["encoder.norm.weight"]
    torch.save(state, tmp_path / "broken.pth")
    argv = _base(ntu60_prepared[0], tmp_path, "--protocol", "knn", "--checkpoint", str(tmp_path / "broken.pth"))
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "missing norm.weight" in err and err.count("\n") == 1


def test_protocol_resume_after_a_kill(ntu60_prepared, tiny_checkpoint, tmp_path):
    argv = _base(ntu60_prepared[0], tmp_path, "--protocol", "linear", "--checkpoint", str(tiny_checkpoint),
                 "--set", "epochs=3", "--set", "batch_size=16", "--set", "workers=0")  # fmt: skip
    env = {"MAMP_BENCH_KILL_AT": "protocol-step:5"}  # 3 steps an epoch (58 clips): in the second epoch
    import os

    killed = subprocess.run([sys.executable, "-m", "mamp_bench", *argv], capture_output=True, text=True,
                            env={**os.environ, **env}, timeout=300)  # fmt: skip
    assert killed.returncode == -9
    # Ctrl-C in the continued run (its first step): status 130, and the command that continues it
    env = {"MAMP_BENCH_KILL_AT": "protocol-step:1", "MAMP_BENCH_KILL_SIGNAL": "INT"}
    interrupted = subprocess.run([sys.executable, "-m", "mamp_bench", *argv], capture_output=True, text=True,
                                 env={**os.environ, **env}, timeout=300)  # fmt: skip
    assert interrupted.returncode == 130 and "Traceback" not in interrupted.stderr
    assert f"continue with: {shlex.join(['mamp-bench', *argv])}" in interrupted.stderr
    assert main(argv) == 0  # the same command continues it
    resumed = ResultsStore(tmp_path / "results").records()[0]["metrics"]
    fresh = tmp_path / "fresh"
    assert main(_base(ntu60_prepared[0], fresh, "--protocol", "linear", "--checkpoint", str(tiny_checkpoint),
                      "--set", "epochs=3", "--set", "batch_size=16", "--set", "workers=0")) == 0  # fmt: skip
    uninterrupted = ResultsStore(fresh / "results").records()[0]["metrics"]
    assert resumed["top1_final"] == uninterrupted["top1_final"] and resumed["top1_best"] == uninterrupted["top1_best"]


def test_same_job_and_seed_give_identical_metrics_on_cpu(ntu60_prepared, tiny_checkpoint, tmp_path):
    """Determinism: data order, augmentation, dropout and drop-path depend only on the seed."""
    metrics = []
    for name in ("a", "b"):
        argv = _base(ntu60_prepared[0], tmp_path / name, "--protocol", "finetune", "--checkpoint",
                     str(tiny_checkpoint), "--seed", "3", "--set", "epochs=2", "--set", "batch_size=16",
                     "--set", "hidden_dim=64")  # fmt: skip
        assert _run(argv) == 0
        (record,) = ResultsStore(tmp_path / name / "results").records()
        metrics.append({k: v for k, v in record["metrics"].items() if "seconds" not in k and "per_s" not in k})
    assert metrics[0] == metrics[1]
    assert metrics[0]["per_class_final"] == metrics[1]["per_class_final"]
