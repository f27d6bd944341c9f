"""Faults and bad settings: disk full, permission denied, corrupt checkpoints, kill -9 during a
preparation and a reproduce matrix, NaN in a protocol, invalid protocol settings.
Every case ends in a one-line error or a completed re-run, with nothing half-written."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import pytest

from mamp_bench.checkpoints import load_checkpoint
from mamp_bench.cli import main
from mamp_bench.engine.run_folder import RunFolder
from mamp_bench.errors import StorageError, UserError
from mamp_bench.results.store import ResultsStore

TINY_PRETRAIN = [
    "--set", "method.encoder.dim=32", "--set", "method.encoder.depth=1", "--set", "method.encoder.heads=2",
    "--set", "method.decoder_dim=32", "--set", "method.decoder_depth=1", "--set", "window=40",
    "--set", "warmup_epochs=1", "--set", "workers=0", "--set", "batch_size=8", "--set", "max_clips=24",
]  # fmt: skip


RECORD = {"method": "mamp", "protocol": "knn", "dataset": "ntu60-xsub", "config_hash": "x", "seed": 0}


def pretrain_argv(data_root, out, *extra):
    return ["pretrain", "--dataset", "ntu60-xsub", "--data-root", str(data_root), "--output-dir", str(out),
            "--device", "cpu", "--quiet", *TINY_PRETRAIN, *extra]  # fmt: skip


def run_cli(argv, kill_at=None):
    env = {**os.environ, "MAMP_BENCH_KILL_AT": kill_at} if kill_at else dict(os.environ)
    return subprocess.run([sys.executable, "-m", "mamp_bench", *argv], capture_output=True, text=True, env=env,
                          timeout=600)  # fmt: skip


def one_line(err: str) -> str:
    assert err.count("\n") == 1 and err.startswith("mamp-bench: error: "), err
    return err


def temporaries(folder):
    return [p for p in folder.rglob(".*.tmp")]


def test_disk_full_while_writing_a_checkpoint_keeps_the_previous_one(ntu60_prepared, tmp_path, monkeypatch, capsys):
    real_fsync, calls = os.fsync, []

    def fsync(fd):
        if ".checkpoint-last.pth." in os.readlink(f"/proc/self/fd/{fd}"):
            calls.append(fd)
            if len(calls) == 2:  # the second epoch's checkpoint: the disk is full
                raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    argv = pretrain_argv(ntu60_prepared[0], tmp_path / "run", "--set", "epochs=3")
    assert main(argv) == 2
    err = one_line(capsys.readouterr().err)
    assert "No space left on device" in err and "checkpoint-last.pth" in err and "previous file is intact" in err
    last = tmp_path / "run" / "checkpoint-last.pth"
    assert load_checkpoint(last)["epoch"] == 0 and temporaries(tmp_path) == []
    monkeypatch.setattr(os, "fsync", real_fsync)  # space freed: the resume finishes the run
    assert main(argv) == 0
    epochs = [json.loads(line)["epoch"] for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert epochs == [0, 1, 2]


def test_permission_denied_is_one_line_and_leaves_nothing(ntu60_tree, tmp_path, monkeypatch, capsys):
    # simulated: the tests may run as root, for whom a read-only folder is still writable
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    out = tmp_path / "out"
    assert main(["prepare", "ntu60", "--raw", str(ntu60_tree[0]), "--out", str(out), "--quiet"]) == 2
    assert "Permission denied" in one_line(capsys.readouterr().err)
    assert not list(out.glob("*.npz")) if out.exists() else True
    with pytest.raises(StorageError, match="cannot write .*Permission denied"):
        ResultsStore(tmp_path / "results").write(RECORD)


def test_corrupt_checkpoints_are_refused(ntu60_prepared, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(pretrain_argv(ntu60_prepared[0], run, "--set", "epochs=2", "--set", "checkpoint_every=1")) == 0
    final, _ = RunFolder(run).final_checkpoint()
    assert final.name == "checkpoint-1.pth"
    data = bytearray(final.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped bit in the weights: torch would still load it
    final.write_bytes(bytes(data))
    load_checkpoint(final)
    with pytest.raises(UserError, match="is corrupt"):
        RunFolder(run).final_checkpoint()
    last = run / "checkpoint-last.pth"
    last.write_bytes(bytes(data))
    (run / "summary.json").unlink()  # as if killed before the end
    argv = pretrain_argv(ntu60_prepared[0], run, "--set", "epochs=2", "--set", "checkpoint_every=1")
    assert main(argv) == 2  # the same command would continue the run: its checkpoint is refused
    assert "is corrupt" in one_line(capsys.readouterr().err)
    assert main(pretrain_argv(ntu60_prepared[0], run, "--set", "epochs=3")) == 2  # another configuration
    assert "holds a run of another configuration" in one_line(capsys.readouterr().err)


def _arrays(path):
    with np.load(path) as data:
        return {key: data[key] for key in data.files}


@pytest.mark.parametrize("kill_at", ["prepare-file:40", "prepare-sample:30", "prepare-sample:150"])
def test_kill_during_preparation_then_rerun_equals_uninterrupted(ntu60_tree, ntu60_prepared, tmp_path, kill_at):
    out = tmp_path / "out"
    argv = ["prepare", "ntu60", "--raw", str(ntu60_tree[0]), "--out", str(out), "--workers", "1", "--quiet"]
    killed = run_cli(argv, kill_at)
    assert killed.returncode == -9
    for path in out.glob("*.npz"):  # whatever was published before the kill is complete
        reference = _arrays(ntu60_prepared[0] / path.name)
        for key, value in _arrays(path).items():
            np.testing.assert_array_equal(value, reference[key])
    again = run_cli(argv)
    assert again.returncode == 0, again.stderr
    assert temporaries(out) == []  # the dead process's temporaries were removed
    assert sorted(p.name for p in out.glob("*.npz")) == ["NTU60_XSub.npz", "NTU60_XView.npz"]
    for name in ("NTU60_XSub.npz", "NTU60_XView.npz"):
        reference = _arrays(ntu60_prepared[0] / name)
        for key, value in _arrays(out / name).items():
            np.testing.assert_array_equal(value, reference[key])


def _reproduce_argv(root):
    return ["reproduce", "--groups", "linear,knn", "--methods", "random-init", "--seeds", "0,1", "--device", "cpu",
            "--runs-dir", str(root / "runs"), "--results-dir", str(root / "results")]  # fmt: skip


def _metrics(root):
    records = ResultsStore(root / "results").records()
    return sorted((r["protocol"], r["seed"], r["metrics"]["top1_final"], r["metrics"]["top1_best"]) for r in records)


@pytest.fixture(scope="module")
def uninterrupted_matrix(tmp_path_factory):
    root = tmp_path_factory.mktemp("full")
    full = run_cli(_reproduce_argv(root))
    assert full.returncode == 0, full.stderr
    assert len(_metrics(root)) == 4  # linear and knn, two seeds
    return _metrics(root)


@pytest.mark.slow
@pytest.mark.parametrize("kill_at", ["protocol-step:25", "protocol-step:140"])  # in the first / a later job
def test_kill_during_a_reproduce_matrix_then_rerun_equals_uninterrupted(uninterrupted_matrix, tmp_path, kill_at):
    killed = run_cli(_reproduce_argv(tmp_path), kill_at)
    assert killed.returncode == -9
    again = run_cli(_reproduce_argv(tmp_path))
    assert again.returncode == 0, again.stderr
    assert _metrics(tmp_path) == uninterrupted_matrix
    assert temporaries(tmp_path) == []


def _run_argv(data_root, tmp_path, checkpoint, *sets):
    argv = ["run", "--dataset", "ntu60-xsub", "--data-root", str(data_root), "--checkpoint", str(checkpoint),
            "--runs-dir", str(tmp_path / "runs"), "--results-dir", str(tmp_path / "results"), "--device", "cpu",
            "--quiet"]  # fmt: skip
    for item in sets:
        argv += ["--set", item]
    return argv


def test_nan_loss_in_a_protocol_stops_and_writes_no_record(ntu60_prepared, tiny_checkpoint, tmp_path, capsys):
    argv = _run_argv(ntu60_prepared[0], tmp_path, tiny_checkpoint, "epochs=2", "batch_size=16", "workers=0",
                     "lr=1e38", "augment=false")  # fmt: skip
    assert main([*argv, "--protocol", "linear"]) == 2
    err = one_line(capsys.readouterr().err)
    assert "loss became" in err and "epoch 0 step" in err
    assert ResultsStore(tmp_path / "results").records() == []


@pytest.mark.parametrize(
    "protocol, setting, message",
    [
        ("linear", "lr=-1", "lr must be positive"),
        ("linear", "epochz=3", "unknown setting 'epochz'"),
        ("linear", "batch_size=many", "expected int"),
        ("linear", "batch_size=100000", "larger than"),
        ("finetune", "layer_decay=0", "layer_decay must be in (0, 1]"),
        ("finetune", "fraction=1.5", "fraction must be in (0, 1]"),
        ("knn", "k=0", "k must be >= 1"),
        ("linear", "method.mask_ratio=0.5", "which --checkpoint replaces"),
    ],
)
def test_bad_protocol_settings_fail_before_any_work(
    ntu60_prepared, tiny_checkpoint, tmp_path, capsys, protocol, setting, message
):
    argv = _run_argv(ntu60_prepared[0], tmp_path, tiny_checkpoint, setting)
    assert main([*argv, "--protocol", protocol]) == 2
    assert message in one_line(capsys.readouterr().err)
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").rglob("*.pth"))


def test_unknown_key_in_a_protocol_recipe_is_named(tmp_path, monkeypatch):
    from mamp_bench.registry import PROTOCOLS

    linear = PROTOCOLS.get("linear")
    recipe = tmp_path / "linear.toml"
    recipe.write_text(linear.recipe.read_text().replace("[smoke]\n", "[smoke]\nlearning_rate = 0.1\n", 1))
    monkeypatch.setattr(linear, "recipe", recipe)
    with pytest.raises(UserError, match="learning_rate"):
        linear.config("ntu60", "smoke")


def test_published_files_get_the_usual_permissions(tmp_path):
    from mamp_bench.fileio import write_json

    umask = os.umask(0)
    os.umask(umask)
    write_json(tmp_path / "a.json", {"x": 1})
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600


def test_only_temporaries_of_dead_processes_on_this_host_are_removed(tmp_path):
    from mamp_bench import fileio

    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(finished.stdout)
    dead = tmp_path / f".a.json.{fileio._HOST}-{dead_pid}.x1.tmp"
    live = tmp_path / f".a.json.{fileio._HOST}-{os.getpid()}.x2.tmp"  # a writer still at work
    other_host = tmp_path / f".a.json.elsewhere-{dead_pid}.x3.tmp"  # another node of a shared file system
    for path in (dead, live, other_host):
        path.write_text("partial")
    fileio.write_json(tmp_path / "a.json", {"a": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, other_host.name, "a.json"])
