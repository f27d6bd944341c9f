"""The README's reproducibility claims ("What is reproducible where", under Tables and reproduction), each
checked at the size of a test. The figures the README states were measured at the smoke scale with
``benchmarks/reproducibility.py`` (raw output in ``benchmarks/results/reproducibility-amd-epyc-2core.txt``):

* the same machine and software: the same run twice gives the same bytes (checkpoint, predictions, log);
* any machine: the configuration hash and the data fingerprint do not depend on where the run happens;
* two processes (DDP, gloo) against one: the same losses to 1e-6 (relative) and weights to 1e-5, the attention
  key bias aside (its gradient is exactly zero; its updates are rounding noise that Adam rescales to full
  steps), with the smoke preset's loss over present persons, whose processes weigh differently.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from mamp_bench.cli import main
from mamp_bench.plan import Options, Request, resolve
from mamp_bench.results.store import ResultsStore
from tests.test_pretrain_engine import _free_port, _pretrain_cmd, _run, _weights

from .conftest import REPO

#: the README's tolerance for the quick start's top-1 (final and best) on another processor, in points
ANOTHER_PROCESSOR_TOP1 = 1.0
#: what the log's columns measure besides the run's numbers: when and how fast it ran
TIMING_COLUMNS = ["time", "seconds", "clips_per_s"]


def _tiny_run(data_root, folder) -> dict:
    """A pretraining of 2 epochs and the linear protocol on it, in its own runs folder and results store."""
    sets = ["pretrain.epochs=2", "pretrain.batch_size=8", "pretrain.max_clips=32", "pretrain.warmup_epochs=0",
            "method.encoder.dim=32", "method.encoder.depth=1", "method.encoder.heads=2", "method.decoder_dim=32",
            "epochs=3", "batch_size=16"]  # fmt: skip
    argv = ["run", "--protocol", "linear", "--dataset", "ntu60-xsub", "--data-root", str(data_root), "--runs-dir",
            str(folder / "runs"), "--results-dir", str(folder / "results"), "--device", "cpu", "--quiet"]  # fmt: skip
    assert main([*argv, *(item for s in sets for item in ("--set", s))]) == 0
    (record,) = ResultsStore(folder / "results").records()
    return record


def test_the_same_run_twice_on_one_machine_gives_the_same_bytes(ntu60_prepared, tmp_path):
    """Bit-identical on the same machine and software: the pretraining's checkpoint, the per-clip predictions,
    every metric and every logged number but the timings."""
    first, second = (_tiny_run(ntu60_prepared[0], tmp_path / name) for name in ("a", "b"))
    assert first["encoder"]["checkpoint_sha256"] == second["encoder"]["checkpoint_sha256"]
    assert first["predictions"]["sha256"] == second["predictions"]["sha256"]
    assert first["metrics"] == second["metrics"] and first["config_hash"] == second["config_hash"]
    logs = [pd.read_csv(ResultsStore(tmp_path / name / "results").log_path(record)).drop(columns=TIMING_COLUMNS)
            for name, record in (("a", first), ("b", second))]  # fmt: skip
    pd.testing.assert_frame_equal(*logs)
    losses = [[json.loads(line)["loss"] for line in (tmp_path / name / record["encoder"]["pretrain_run"]).joinpath(
        "log.jsonl").read_text().splitlines()] for name, record in (("a", first), ("b", second))]  # fmt: skip
    assert losses[0] == losses[1]


def test_the_configuration_hash_does_not_depend_on_folders_home_or_machine(tmp_path, monkeypatch):
    """What identifies a run is its configuration: the same request from other folders, another HOME and
    cache gives the same hash (the data's fingerprint is content-based: test_evidence.py)."""
    digests = []
    for name in ("alice", "bob"):
        monkeypatch.setenv("HOME", str(tmp_path / name))
        monkeypatch.setenv("MAMP_BENCH_CACHE", str(tmp_path / name / "cache"))
        options = Options(runs_dir=str(tmp_path / name / "runs"), results_dir=str(tmp_path / name / "results"))
        resolved = resolve(Request("mamp", "linear"), options)
        digests.append((resolved.digest, resolved.encoder.identity["pretrain_hash"]))
    assert digests[0] == digests[1]


#: the CPU default (micro-batches of 2 clips), and the whole batch as on a GPU (slow: a second pair of runs)
MICRO_BATCHES = ["2", pytest.param("0", marks=pytest.mark.slow)]


@pytest.mark.parametrize("micro_batch", MICRO_BATCHES)
def test_two_processes_give_the_result_of_one_within_the_stated_tolerance(micro_batch, ntu60_prepared, tmp_path):
    """DDP (2 CPU processes, gloo) against one process, with the smoke preset's loss over present persons only,
    whose processes' shares weigh differently (DDP's equal average of them gave issue 24's 7.8e-4 in the weights
    after 3 smoke epochs). After 2 epochs of 32 clips, measured on this machine (micro-batches of 2 / the whole
    batch): losses within 2.6e-8 / 5.5e-8 (relative), weights within 3.0e-8 / 1.2e-7 (the key bias aside);
    with the equal average they differed by 1.0e-3 / 1.8e-3 and 4.2e-4 / 1.4e-3. Allowed: 1e-6 and 1e-5."""
    data_root = ntu60_prepared[0]
    extra = ["--set", "epochs=2", "--set", "batch_size=8", "--set", "max_clips=32", "--set",
             "method.skip_empty_persons=true", "--set", f"micro_batch={micro_batch}"]  # fmt: skip
    single = _run(_pretrain_cmd(data_root, tmp_path / "single", *extra))
    assert single.returncode == 0, single.stderr
    ddp = _run(_pretrain_cmd(data_root, tmp_path / "ddp", *extra),
               launcher=["torch.distributed.run", "--nproc_per_node=2", f"--master_port={_free_port()}"])  # fmt: skip
    assert ddp.returncode == 0, ddp.stderr
    a, b = _weights(tmp_path / "single" / "checkpoint-1.pth"), _weights(tmp_path / "ddp" / "checkpoint-1.pth")
    assert a.keys() == b.keys()
    for key in a:
        x, y = a[key], b[key]
        if key.endswith("attn.qkv.bias"):
            third = x.shape[0] // 3  # q and v only: the key bias's updates are rounding noise (module docstring)
            x, y = torch.cat([x[:third], x[2 * third :]]), torch.cat([y[:third], y[2 * third :]])
        torch.testing.assert_close(x, y, atol=1e-5, rtol=0, msg=key)
    losses = [[json.loads(line)["loss"] for line in (tmp_path / name / "log.jsonl").read_text().splitlines()]
              for name in ("single", "ddp")]  # fmt: skip
    assert losses[1] == pytest.approx(losses[0], rel=1e-6)


@pytest.mark.slow
def test_another_summation_order_moves_the_quick_start_within_the_stated_tolerance(tmp_path, monkeypatch):
    """The stand-in for another processor's rounding (README, "What is reproducible where"): the quick start
    with its pretraining in micro-batches of 4 clips instead of the smoke preset's whole batch of 16 (a runtime
    setting: the same configuration hash), against the committed record of the quick start's job, written on
    this machine with the whole batch: its top-1 final and best within the stated tolerance."""
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--method", "mamp", "--protocol", "linear", "--set", "pretrain.micro_batch=4", "--quiet"]) == 0
    (mine,) = ResultsStore(tmp_path / "results").records()
    committed = ResultsStore(REPO / "results").find("linear", mine["dataset"], "mamp", mine["config_hash"], 0)
    assert committed is not None, "no committed record of the quick start's job"
    for metric in ("top1_final", "top1_best"):
        assert abs(mine["metrics"][metric] - committed["metrics"][metric]) <= ANOTHER_PROCESSOR_TOP1, metric
