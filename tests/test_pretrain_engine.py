"""The pretraining engine: kill-and-resume equals uninterrupted, the synthetic default trains, failures are
reported cleanly (DDP against one process: test_reproducibility.py)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys

import pytest
import torch

from mamp_bench.checkpoints import load_checkpoint
from mamp_bench.cli import main
from mamp_bench.engine.optim import CosineSchedule, weight_decay_groups
from mamp_bench.engine.sampler import ShardedSampler

TINY = [
    "--set", "method.encoder.dim=32", "--set", "method.encoder.depth=1", "--set", "method.encoder.heads=2",
    "--set", "method.decoder_dim=32", "--set", "method.decoder_depth=1", "--set", "window=40",
    "--set", "warmup_epochs=1", "--set", "workers=0",
    # the reference's loss: every sequence counts, so each process's mean has the same weight
    "--set", "method.skip_empty_persons=false",
]  # fmt: skip


def _pretrain_cmd(data_root, out, *extra):
    return [
        "pretrain", "--dataset", "ntu60-xsub", "--data-root", str(data_root), "--output-dir", str(out),
        "--device", "cpu", "--quiet", *TINY, *extra,
    ]  # fmt: skip


def _run(args, env=None, launcher=None):
    cmd = [sys.executable, "-m", *(launcher or []), "mamp_bench", *args] if not launcher else [
        sys.executable, "-m", *launcher, "-m", "mamp_bench", *args]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=300)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _weights(path):
    return load_checkpoint(path)["model"]


def test_sampler_batches_do_not_depend_on_process_count():
    single = list(ShardedSampler(37, 8, seed=3))
    assert len(single) == 32  # drop_last: 4 whole batches
    ranks = [list(ShardedSampler(37, 8, rank=r, world_size=2, seed=3)) for r in range(2)]
    for step in range(4):
        union = ranks[0][step * 4 : (step + 1) * 4] + ranks[1][step * 4 : (step + 1) * 4]
        assert sorted(union) == sorted(single[step * 8 : (step + 1) * 8])
    other_epoch = ShardedSampler(37, 8, seed=3)
    other_epoch.set_epoch(1)
    assert list(other_epoch) != single


def test_schedule_points_and_weight_decay_groups():
    schedule = CosineSchedule(1e-3, 5e-4, 20, 400)
    assert schedule(0) == 0 and schedule(10) == pytest.approx(5e-4) and schedule(20) == pytest.approx(1e-3)
    assert schedule(210) == pytest.approx(7.5e-4) and schedule(400) == pytest.approx(5e-4)
    import mamp_bench

    method = mamp_bench.build_method("mamp", encoder__depth=1, decoder_depth=1)
    no_decay, decay = weight_decay_groups(method, 0.05)
    names = {id(p): n for n, p in method.named_parameters()}
    no_decay_names = {names[id(p)] for p in no_decay["params"]}
    decay_names = {names[id(p)] for p in decay["params"]}
    assert "encoder.pos_embed" in decay_names and "decoder.mask_token" in decay_names  # not 1-D: decayed
    assert "encoder.blocks.0.norm1.weight" in no_decay_names and "encoder.joints_embed.proj.bias" in no_decay_names
    assert decay["weight_decay"] == 0.05 and no_decay["weight_decay"] == 0.0


def test_kill_between_checkpoints_then_resume_equals_uninterrupted(ntu60_prepared, tmp_path):
    data_root = ntu60_prepared[0]
    extra = ["--set", "epochs=3", "--set", "batch_size=8", "--set", "max_clips=32", "--set", "checkpoint_every=5"]
    full = _run(_pretrain_cmd(data_root, tmp_path / "full", *extra))
    assert full.returncode == 0, full.stderr
    # 4 steps an epoch: step 6 is in the middle of the second epoch
    killed = _run(_pretrain_cmd(data_root, tmp_path / "killed", *extra), env={"MAMP_BENCH_KILL_AT": "pretrain-step:6"})
    assert killed.returncode == -9
    assert load_checkpoint(tmp_path / "killed" / "checkpoint-last.pth")["epoch"] == 0
    # Ctrl-C in the continued run (step 2 of its first epoch): status 130 and the command that continues
    interrupted = _run(_pretrain_cmd(data_root, tmp_path / "killed", *extra),
                       env={"MAMP_BENCH_KILL_AT": "pretrain-step:2", "MAMP_BENCH_KILL_SIGNAL": "INT"})  # fmt: skip
    assert interrupted.returncode == 130 and "Traceback" not in interrupted.stderr
    command = interrupted.stderr.split("continue with: ")[1].strip()
    assert shlex.split(command)[1:] == _pretrain_cmd(data_root, tmp_path / "killed", *extra)
    resumed = _run(shlex.split(command)[1:])  # the same command continues it
    assert resumed.returncode == 0, resumed.stderr
    a, b = _weights(tmp_path / "full" / "checkpoint-2.pth"), _weights(tmp_path / "killed" / "checkpoint-2.pth")
    for key in a:
        assert torch.equal(a[key], b[key]), key
    epochs = [json.loads(line)["epoch"] for line in (tmp_path / "killed" / "log.jsonl").read_text().splitlines()]
    assert epochs == [0, 1, 2]
    assert not list((tmp_path / "killed").glob(".*tmp"))


def test_smoke_preset_on_the_synthetic_default_lowers_the_loss(tmp_path, capsys):
    args = ["pretrain", "--runs-dir", str(tmp_path), "--device", "cpu", "--set", "epochs=3", "--set", "max_clips=128",
            "--set", "workers=0", "--set", "warmup_epochs=1"]  # fmt: skip
    assert main(args) == 0
    (run,) = (tmp_path / "pretrain").iterdir()
    assert run.name.startswith("mamp-synthetic-ntu60-")
    losses = [json.loads(line)["loss"] for line in (run / "log.jsonl").read_text().splitlines()]
    assert len(losses) == 3 and losses[-1] < losses[0]
    config = json.loads((run / "config.json").read_text())
    assert config["method_config"]["encoder"]["dim"] == 64 and config["pretrain"]["epochs"] == 3
    assert config["environment"]["torch"] == torch.__version__
    assert main(args) == 0  # finished: reused, not run again
    assert "already finished" in capsys.readouterr().err


def test_bad_settings_fail_before_work(tmp_path, capsys):
    base = ["pretrain", "--runs-dir", str(tmp_path), "--device", "cpu"]
    for sets, message in [
        (["lr=-1"], "lr must be positive"),
        (["epochz=3"], "unknown setting 'pretrain.epochz'"),
        (["batch_size=many"], "expected int"),
        (["method.mask_ratio=1.0"], "mask_ratio must be in (0, 1)"),
        (["batch_size=100000"], "larger than"),
    ]:
        argv = base + [x for s in sets for x in ("--set", s)]
        assert main(argv) == 2, sets
        errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]  # (not the note
        assert len(errors) == 1 and message in errors[0], errors  # of a first build of the synthetic data)
    assert not (tmp_path / "pretrain").exists() or not any((tmp_path / "pretrain").rglob("*.pth"))


def test_non_finite_loss_stops_with_the_step(ntu60_prepared, tmp_path, capsys):
    args = _pretrain_cmd(ntu60_prepared[0], tmp_path / "run", "--set", "epochs=2", "--set", "batch_size=8",
                         "--set", "max_clips=16", "--set", "lr=1e30", "--set", "min_lr=1e30")  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "loss became" in err and "epoch" in err and "step" in err
    assert not (tmp_path / "run" / "summary.json").exists()
