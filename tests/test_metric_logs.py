"""Metric logs, read back by the tools researchers use: TensorBoard event files from the one training
loop (pretraining and protocols, per step and per epoch, correct after a resume), a CSV log beside
every record, and Weights & Biases only when asked for."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pandas as pd
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # the dev extra's reader

from mamp_bench.cli import main
from mamp_bench.results.store import ResultsStore

from .test_pretrain_engine import TINY


def scalars(folder) -> dict[str, list[tuple[int, float]]]:
    """Every scalar TensorBoard shows for a run folder: tag -> [(step, value)]."""
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def log_lines(folder) -> list[dict]:
    return [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines()]


def test_protocol_runs_write_tensorboard_events_and_a_csv_log_beside_the_record(ntu60_prepared, tiny_checkpoint,
                                                                              tmp_path):  # fmt: skip
    base = ["run", "--dataset", "ntu60-xsub", "--data-root", str(ntu60_prepared[0]), "--runs-dir",
            str(tmp_path / "runs"), "--results-dir", str(tmp_path / "results"), "--device", "cpu", "--quiet",
            "--checkpoint", str(tiny_checkpoint)]  # fmt: skip
    assert main([*base, "--protocol", "linear", "--set", "epochs=2", "--set", "batch_size=16"]) == 0
    assert main([*base, "--protocol", "knn"]) == 0
    store = ResultsStore(tmp_path / "results")
    linear, knn = sorted(store.records(), key=lambda r: r["protocol"], reverse=True)
    run = tmp_path / linear["run_dir"]
    epochs = log_lines(run)
    shown = scalars(run)
    assert [step for step, _ in shown["step/loss"]] == list(range(1, 7))  # 58 clips, batch 16: 3 steps an epoch
    assert [v for _, v in shown["epoch/top1"]] == pytest.approx([e["top1"] for e in epochs])
    assert [s for s, _ in shown["epoch/top1"]] == [3, 6] and [v for _, v in shown["epoch/epoch"]] == [1, 2]
    csv = pd.read_csv(store.log_path(linear))  # beside the record, named in it with its sha256
    assert linear["log"]["file"] == store.log_path(linear).name
    assert list(csv["epoch"]) == [1, 2] and list(csv["top1"]) == pytest.approx([e["top1"] for e in epochs])
    # one numbering: the record's best epoch is the CSV's (and the progress log's) number of the best row
    assert linear["metrics"]["best_epoch"] == int(csv["epoch"][csv["top1"].idxmax()])
    assert list(pd.read_csv(store.log_path(knn))["top1"]) == pytest.approx([knn["metrics"]["top1_final"]])
    assert scalars(tmp_path / knn["run_dir"])["epoch/top1"] == [(0, pytest.approx(knn["metrics"]["top1_final"]))]
    assert main(["verify", str(tmp_path / "results")]) == 0
    store.log_path(knn).write_text("epoch,top1\n0,99.0\n")
    assert main(["verify", str(tmp_path / "results")]) == 1


WANDB_DOUBLE = '''
"""Records what the suite asks of wandb (the real one needs an account and a network)."""
import json, os

def _note(**entry):
    with open(os.environ["WANDB_DOUBLE_LOG"], "a") as handle:
        handle.write(json.dumps(entry, default=str) + "\\n")

_note(call="import")

class _Run:
    def log(self, values, step):
        _note(call="log", values=values, step=step)

    def finish(self):
        _note(call="finish")

def init(**kwargs):
    _note(call="init", **kwargs)
    return _Run()
'''


def test_pretraining_events_survive_an_interrupt_and_wandb_is_used_only_when_asked(ntu60_prepared, tmp_path):
    (tmp_path / "double").mkdir()
    (tmp_path / "double" / "wandb.py").write_text(textwrap.dedent(WANDB_DOUBLE))
    run = tmp_path / "run"
    argv = [sys.executable, "-m", "mamp_bench", "pretrain", "--dataset", "ntu60-xsub", "--data-root",
            str(ntu60_prepared[0]), "--output-dir", str(run), "--device", "cpu", "--quiet", *TINY,
            "--set", "epochs=3", "--set", "batch_size=8", "--set", "max_clips=32"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": f"{tmp_path / 'double'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    wandb = {"MAMP_BENCH_WANDB": "skeleton-ssl", "WANDB_DOUBLE_LOG": str(tmp_path / "wandb.jsonl")}
    ctrl_c = {"MAMP_BENCH_KILL_AT": "pretrain-step:6", "MAMP_BENCH_KILL_SIGNAL": "INT"}  # 4 steps an epoch
    first = subprocess.run(argv, capture_output=True, text=True, env={**env, **wandb, **ctrl_c}, timeout=300)
    assert first.returncode == 130, first.stderr
    unused = {"WANDB_DOUBLE_LOG": str(tmp_path / "unused.jsonl")}
    second = subprocess.run(argv, capture_output=True, text=True, env={**env, **unused}, timeout=300)
    assert second.returncode == 0, second.stderr
    assert not (tmp_path / "unused.jsonl").exists()  # not even imported without MAMP_BENCH_WANDB

    shown = scalars(run)  # the interrupted epoch's steps 5 and 6 were logged twice; TensorBoard keeps the redo
    assert [step for step, _ in shown["step/loss"]] == list(range(1, 13))
    assert [v for _, v in shown["epoch/loss"]] == pytest.approx([e["loss"] for e in log_lines(run)])
    calls = [json.loads(line) for line in (tmp_path / "wandb.jsonl").read_text().splitlines()]
    init = next(c for c in calls if c["call"] == "init")
    assert init["project"] == "skeleton-ssl" and init["resume"] == "allow" and init["config"]["config_hash"]
    assert [c["step"] for c in calls if c["call"] == "log" and "step/loss" in c["values"]] == list(range(1, 7))
    assert calls[-1]["call"] == "finish"
