"""The four classes of issue 17, each at its root: reading what is not a file, numbers that are not numbers,
late failures, a finished flag without its files. (The property test over the whole command surface is
``test_command_surface.py``, the fault matrix ``test_fault_matrix.py``, the reader fuzzing
``test_fuzz_readers.py``.)"""

from __future__ import annotations

import dataclasses
import errno
import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

from mamp_bench.checkpoints import save_checkpoint
from mamp_bench.cli import main
from mamp_bench.data.npzio import NpzStreamWriter
from mamp_bench.engine.pretrain import PretrainConfig
from mamp_bench.engine.run_folder import RunFolder
from mamp_bench.errors import NonFiniteValue, UserError
from mamp_bench.evaluation.metrics import Tally
from mamp_bench.fileio import write_json
from mamp_bench.registry import METHODS, PROTOCOLS
from mamp_bench.results.store import ResultsStore

TINY_PRETRAIN = ["--set", "method.encoder.dim=32", "--set", "method.encoder.depth=1", "--set", "method.encoder.heads=2",
                 "--set", "method.decoder_dim=32", "--set", "method.decoder_depth=1", "--set", "window=40",
                 "--set", "warmup_epochs=1", "--set", "workers=0", "--set", "batch_size=8", "--set", "max_clips=24",
                 "--set", "epochs=2", "--set", "checkpoint_every=5"]  # fmt: skip


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # runs here are tiny; no numbers are compared


def one_line(err: str) -> str:
    assert err.count("\n") == 1 and err.startswith("mamp-bench: error: ") and "Traceback" not in err, err
    return err


def files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def run_argv(data_root: Path, folder: Path, *extra: str) -> list[str]:
    return ["run", "--dataset", "ntu60-xsub", "--data-root", str(data_root), "--runs-dir", str(folder / "runs"),
            "--results-dir", str(folder / "results"), "--device", "cpu", "--quiet", *extra]  # fmt: skip


def pretrain_argv(data_root: Path, out: Path, *extra: str) -> list[str]:
    return ["pretrain", "--dataset", "ntu60-xsub", "--data-root", str(data_root), "--output-dir", str(out),
            "--device", "cpu", "--quiet", *TINY_PRETRAIN, *extra]  # fmt: skip


def write_npz(path: Path, x: np.ndarray, y: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with NpzStreamWriter(path) as writer:
        for key, array in (("x_train", x), ("y_train", y), ("x_test", x), ("y_test", y)):
            writer.write_array(key, array)
    return path


def small_set(clips: int = 40, frames: int = 300, value: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``clips`` random clips of 60 classes in metres, with ``value`` in the first clip if given."""
    rng = np.random.default_rng(0)
    x = np.zeros((clips, frames, 150), np.float32)
    x[:, : min(frames, 60), :75] = rng.normal(0, 0.3, size=(clips, min(frames, 60), 75))
    if value is not None and x.size:
        x[0, 0, 0] = value
    return x, np.eye(60)[np.arange(clips) % 60]


# --- 1. reading what is not a file: single-file inputs give one line ------------------------------------------


@pytest.mark.parametrize("option", ["--checkpoint", "--data"])
def test_single_file_inputs_that_are_not_files_give_one_line(option, tmp_path, capsys):
    fifo = tmp_path / "input"
    os.mkfifo(fifo)
    if option == "--checkpoint":
        argv = ["extract-features", "--checkpoint", str(fifo), "--data", "x.npz", "--out", str(tmp_path / "f.npy")]
    else:
        argv = ["prepare", "ntu60", "--raw", str(tmp_path), "--out", str(tmp_path / "o"), "--missing-list", str(fifo)]
    assert main(argv) == 2
    assert "FIFO" in one_line(capsys.readouterr().err)


# --- 2. numbers that are not numbers -------------------------------------------------------------------------


def config_instances():
    """Every configuration dataclass the registries use, with the values of a real resolution."""
    yield "pretrain", PretrainConfig()
    for name, cls in PROTOCOLS.items():
        yield f"protocol {name}", cls.config("ntu60", "paper")
    for name, cls in METHODS.items():
        yield f"method {name}", cls.default_config()


def float_fields(config, prefix=""):
    """(dotted name, path) of every float field, nested dataclasses included."""
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if dataclasses.is_dataclass(value):
            yield from float_fields(value, f"{prefix}{field.name}.")
        elif isinstance(value, float):
            yield f"{prefix}{field.name}"


def replaced(config, dotted: str, value):
    head, _, rest = dotted.partition(".")
    inner = replaced(getattr(config, head), rest, value) if rest else value
    return dataclasses.replace(config, **{head: inner})


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_every_validate_refuses_nan_and_infinity_in_every_float_field(bad):
    """Built directly (no parsing in between), a NaN or an infinity in any float setting of any registered
    configuration fails its ``validate``: range checks are conditions that NaN fails."""
    tried = 0
    for what, config in config_instances():
        config.validate()  # the real values pass
        for name in float_fields(config):
            with pytest.raises(UserError):
                replaced(config, name, bad).validate()
                pytest.fail(f"{what}: {name}={bad} passed validation")
            tried += 1
    assert tried >= 40


@pytest.mark.parametrize("text", ["nan", "-nan", "inf", "-Infinity", "1e999"])
def test_a_float_setting_refuses_nan_and_infinity_at_parsing(text, capsys):
    assert main(["pretrain", "--set", f"lr={text}"]) == 2
    assert f"lr={text!r}: expected a finite number" in one_line(capsys.readouterr().err)


def test_absurd_coordinates_stop_the_run_with_one_line_and_no_record(tmp_path, capsys):
    """The issue's case: a clip at 1e30 m gave NaN features, a record with top-1 0.00 and exit 0."""
    root = tmp_path / "data"
    write_npz(root / "NTU60_XSub.npz", *small_set(value=1e30))
    checkpoint = tiny_checkpoint_file(tmp_path)
    assert main(run_argv(root, tmp_path, "--protocol", "knn", "--checkpoint", str(checkpoint))) == 2
    assert "holds coordinate 1e+30, beyond +-100 m" in one_line(capsys.readouterr().err)
    assert files_under(tmp_path / "results") == [] and files_under(tmp_path / "runs") == []


def tiny_checkpoint_file(folder: Path, poison: bool = False) -> Path:
    import mamp_bench

    torch.manual_seed(0)
    method = mamp_bench.build_method("mamp", encoder__dim=32, encoder__depth=1, encoder__heads=2, encoder__frames=40,
                                     decoder_dim=32, decoder_depth=1)  # fmt: skip
    state = method.state_dict()
    if poison:  # an encoder whose weights diverged: every feature is NaN
        state["encoder.norm.weight"] = torch.full_like(state["encoder.norm.weight"], math.nan)
    path = folder / ("nan.pth" if poison else "tiny.pth")
    save_checkpoint(path, {"kind": "pretrain", "method": "mamp", "method_config": dataclasses.asdict(method.config),
                           "model": state})  # fmt: skip
    return path


@pytest.mark.parametrize("protocol", ["knn", "linear"])
def test_nan_features_stop_the_run_with_one_line_and_no_record(protocol, ntu60_prepared, tmp_path, capsys):
    checkpoint = tiny_checkpoint_file(tmp_path, poison=True)
    argv = run_argv(ntu60_prepared[0], tmp_path, "--protocol", protocol, "--checkpoint", str(checkpoint),
                    "--set", "batch_size=16")  # fmt: skip
    assert main(argv) == 2
    assert "NaN or infinite" in one_line(capsys.readouterr().err)
    assert ResultsStore(tmp_path / "results").records() == [] and files_under(tmp_path / "runs") == []


def test_non_finite_predictions_and_results_are_refused():
    tally = Tally.empty(3)
    with pytest.raises(NonFiniteValue):
        tally.add(torch.tensor([[0.0, math.inf, 1.0]]), torch.tensor([1]))
    with pytest.raises(NonFiniteValue):
        tally.add(torch.tensor([[0.0, 2.0, 1.0]]), torch.tensor([1]), loss_sum=math.nan)
    assert tally.count == 0
    with tempfile.TemporaryDirectory() as folder:
        with pytest.raises(NonFiniteValue, match=r"metrics\.per_class\.1 is NaN"):
            write_json(Path(folder) / "record.json", {"metrics": {"per_class": [1.0, math.nan]}})
        assert os.listdir(folder) == []


@pytest.mark.parametrize("value, message", [(2.0, "holds 2"), (-5.0, "holds -5"), (0.5, "holds 0.5")])
def test_malformed_one_hot_labels_are_refused(value, message, tmp_path):
    from mamp_bench.data.dataset import SkeletonDataset
    from mamp_bench.errors import DataFormatError

    x, y = small_set(clips=4)
    y[2] = 0
    y[2, 3] = value
    with pytest.raises(DataFormatError, match=f"label row 2 {message}"):
        SkeletonDataset(write_npz(tmp_path / "d.npz", x, y), "train")


# --- 3. late failures: every setting, file shape and output location checked before any work ---------------


@pytest.mark.parametrize(
    "clips, frames, message", [(0, 300, "holds no clips"), (40, 0, "no frames")], ids=["no clips", "no frames"]
)
def test_empty_prepared_files_give_one_line_before_any_work(clips, frames, message, tmp_path, capsys):
    root = tmp_path / "data"
    write_npz(root / "NTU60_XSub.npz", *small_set(clips, frames))
    assert main(run_argv(root, tmp_path, "--method", "mamp", "--protocol", "knn", *TINY_PRETRAIN[:10])) == 2
    assert message in one_line(capsys.readouterr().err)
    assert files_under(tmp_path / "runs") == []  # not even the pretraining started


def refuse_writes_under(monkeypatch, folder: Path) -> None:
    """Simulated lost write permission on ``folder`` (the tests may run as root, who can write anywhere)."""
    real = tempfile.mkstemp

    def mkstemp(*args, dir=None, **kwargs):
        if dir is not None and Path(dir).resolve().is_relative_to(folder.resolve()):
            raise PermissionError(errno.EACCES, "Permission denied")
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)


@pytest.mark.parametrize("where", ["runs", "results", "cache", "home"])
def test_an_unwritable_output_location_is_found_before_any_work(where, ntu60_prepared, tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    home.mkdir()
    if where in ("cache", "home"):  # the synthetic default is generated into the cache, under HOME by default
        monkeypatch.setenv("HOME", str(home))
        monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
        if where == "home":
            monkeypatch.delenv("MAMP_BENCH_CACHE")
        else:
            monkeypatch.setenv("MAMP_BENCH_CACHE", str(tmp_path / "cache"))
    read_only = {"runs": tmp_path / "runs", "results": tmp_path / "results", "cache": tmp_path / "cache",
                 "home": home}[where]  # fmt: skip
    read_only.mkdir(exist_ok=True)
    refuse_writes_under(monkeypatch, read_only)
    argv = ["run", "--protocol", "knn", "--runs-dir", str(tmp_path / "runs"), "--results-dir",
            str(tmp_path / "results"), "--device", "cpu", "--quiet", *TINY_PRETRAIN[:10]]  # fmt: skip
    if where in ("runs", "results"):
        argv += ["--dataset", "ntu60-xsub", "--data-root", str(ntu60_prepared[0])]
    assert main(argv) == 2
    err = one_line(capsys.readouterr().err)
    assert "Permission denied" in err and {"home": "cache"}.get(where, where) in err
    assert files_under(tmp_path) == []


def test_a_file_where_a_folder_should_be_is_one_line(ntu60_prepared, tmp_path, capsys):
    (tmp_path / "results").write_text("not a folder")
    argv = run_argv(
        ntu60_prepared[0], tmp_path, "--protocol", "knn", "--checkpoint", str(tiny_checkpoint_file(tmp_path))
    )
    assert main(argv) == 2
    assert "is not a folder" in one_line(capsys.readouterr().err)


def test_extract_features_checks_its_output_folder_before_encoding(ntu60_prepared, tmp_path, capsys):
    (tmp_path / "file").write_text("not a folder")
    argv = ["extract-features", "--checkpoint", str(tiny_checkpoint_file(tmp_path)), "--data",
            str(ntu60_prepared[0] / "NTU60_XSub.npz"), "--out", str(tmp_path / "file" / "features.npy")]  # fmt: skip
    assert main(argv) == 2
    assert "is not a folder" in one_line(capsys.readouterr().err)


def test_a_failure_before_the_first_epoch_leaves_no_run_folder(ntu60_prepared, tiny_checkpoint, tmp_path, capsys):
    protocol = run_argv(ntu60_prepared[0], tmp_path, "--protocol", "linear", "--checkpoint", str(tiny_checkpoint),
                        "--set", "batch_size=16", "--set", "lr=1e38", "--set", "epochs=2")  # fmt: skip
    assert main(protocol) == 2 and "loss became" in one_line(capsys.readouterr().err)
    assert main(pretrain_argv(ntu60_prepared[0], tmp_path / "runs" / "p", "--set", "lr=1e38")) == 2
    assert "loss became" in one_line(capsys.readouterr().err)
    assert files_under(tmp_path / "runs") == [] and files_under(tmp_path / "results") == []


# --- 4. a finished flag without its files ----------------------------------------------------------------------


def test_disk_full_on_the_final_checkpoint_then_resume_repairs_the_run(ntu60_prepared, tmp_path, monkeypatch, capsys):
    """The issue's case: the disk fills while ``checkpoint-1.pth`` is written; a resume marked the run
    finished and named a checkpoint that did not exist. Now it writes it from ``checkpoint-last.pth`` of
    the same epoch, and the summary is written only once it verifies."""
    from mamp_bench import faults

    run = tmp_path / "run"
    monkeypatch.setenv("MAMP_BENCH_FAIL_AT", "checkpoint-1.pth@fsync:1:ENOSPC")
    faults.reset()
    assert main(pretrain_argv(ntu60_prepared[0], run)) == 2
    assert "No space left on device" in one_line(capsys.readouterr().err)
    monkeypatch.delenv("MAMP_BENCH_FAIL_AT")
    assert not (run / "checkpoint-1.pth").exists() and not RunFolder(run).finished
    assert main(pretrain_argv(ntu60_prepared[0], run)) == 0  # the same command resumes
    path, digest = RunFolder(run).final_checkpoint()  # verified against the log line of epoch 1
    assert path.name == "checkpoint-1.pth" and digest == RunFolder(run).logged_digest(1)


def test_a_summary_that_claims_a_missing_checkpoint_is_not_trusted(ntu60_prepared, tmp_path, capsys):
    run = tmp_path / "run"
    argv = pretrain_argv(ntu60_prepared[0], run)
    assert main(argv) == 0
    final, digest = RunFolder(run).final_checkpoint()
    final.unlink()  # the state the old resume left: summary finished, final checkpoint missing
    assert json.loads((run / "summary.json").read_text())["finished"] and not RunFolder(run).finished
    with pytest.raises(UserError, match="does not exist"):
        RunFolder(run).final_checkpoint()
    assert main(argv) == 0  # the same command repairs it
    assert RunFolder(run).finished and RunFolder(run).final_checkpoint() == (final, digest)
