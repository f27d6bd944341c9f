"""Figures from the user's side: `mamp-bench plot` after real runs writes every figure into the runs
folder, loss panels keep objectives apart, legends name method and setting, and a dry reproduction
(the nox session included) writes nothing."""

from __future__ import annotations

import importlib.util

from mamp_bench.cli import main
from mamp_bench.data.specs import get_dataset
from mamp_bench.engine.pretrain import PretrainJob
from mamp_bench.engine.run_folder import RunFolder
from mamp_bench.plan import Overrides
from mamp_bench.results.plots import loss_panels, pretraining_runs

from .conftest import REPO

PNG = b"\x89PNG\r\n\x1a\n"


def _fake_pretraining(runs, method: str, sets: dict[str, str], seed: int, losses: list[float]) -> None:
    """A pretraining run folder as the engine writes it (configuration and per-epoch log)."""
    overrides = Overrides.parse(sets, bare="pretrain")
    job = PretrainJob.resolve(method, get_dataset("synthetic-ntu60"), "smoke", seed, overrides.pretrain,
                              overrides.method)  # fmt: skip
    run = RunFolder(runs / "pretrain" / f"{method}-synthetic-ntu60-{job.digest}")
    run.write_config({**job.spec(), "config_hash": job.digest})
    for epoch, loss in enumerate(losses):
        run.log({"epoch": epoch, "loss": loss})


def test_loss_panels_keep_objectives_apart_and_label_method_and_setting(tmp_path):
    _fake_pretraining(tmp_path, "mamp", {}, 0, [1.0, 0.8])
    _fake_pretraining(tmp_path, "mamp", {}, 1, [1.1, 0.7])  # another seed: the same setting
    _fake_pretraining(tmp_path, "mamp", {"method.mask_ratio": "0.8"}, 0, [0.9, 0.6])
    _fake_pretraining(tmp_path, "mae", {}, 0, [0.3, 0.2])
    _fake_pretraining(tmp_path, "mae", {"method.target_norm": "time"}, 0, [0.5, 0.4])
    panels = loss_panels(pretraining_runs(tmp_path))
    assert sorted(panels) == ["masked coords, patch-normalised (MSE)", "masked coords, time-normalised (MSE)",
                              "masked motion, patch-normalised (MSE)"]  # fmt: skip
    motion = panels["masked motion, patch-normalised (MSE)"]
    assert sorted(line.label for line in motion) == ["mamp (mask_ratio=0.8)", "mamp (mask_ratio=0.9)",
                                                     "mamp (mask_ratio=0.9)"]  # fmt: skip
    assert [line.label for line in panels["masked coords, patch-normalised (MSE)"]] == ["mae"]
    assert motion[0].x == [1, 2]


def test_plot_after_a_run_writes_every_figure_into_the_runs_folder(ntu60_prepared, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the defaults are ./runs and ./results, as after the quick start
    tiny = ["--set", "pretrain.epochs=2", "--set", "pretrain.batch_size=8", "--set", "pretrain.max_clips=32",
            "--set", "pretrain.warmup_epochs=0", "--set", "method.encoder.dim=32", "--set", "method.encoder.depth=1",
            "--set", "method.encoder.heads=2", "--set", "method.decoder_dim=32", "--set", "epochs=2",
            "--set", "batch_size=16"]  # fmt: skip
    data = ["--data-root", str(ntu60_prepared[0]), "--dataset", "ntu60-xsub", "--device", "cpu", "--quiet"]
    assert main(["run", "--method", "mamp", "--protocol", "linear", *data, *tiny]) == 0
    capsys.readouterr()
    assert main(["plot", "--data-root", str(ntu60_prepared[0])]) == 0
    written = capsys.readouterr().out.split()
    names = ["pretrain_loss.png", "accuracy_by_epoch.png", "embedding.png"]
    assert written == [f"runs/figures/{name}" for name in names]
    for name in names:
        data = (tmp_path / "runs" / "figures" / name).read_bytes()
        assert data[:8] == PNG and len(data) < 200_000
    assert not (tmp_path / "results" / "figures").exists()  # the tracked folder is left alone


def test_plot_with_nothing_to_plot_says_so(tmp_path, capsys):
    where = ["--runs-dir", str(tmp_path / "runs"), "--results-dir", str(tmp_path / "results")]
    assert main(["plot", *where]) == 2
    err = capsys.readouterr().err
    assert "nothing to plot" in err and err.count("\n") == 1


class RecordingSession:
    """What a nox session asks for, in order (the real one installs into a fresh virtualenv first)."""

    def __init__(self, posargs: list[str]):
        self.posargs, self.commands = posargs, []

    def install(self, *args: str) -> None:
        pass

    def run(self, *args: str) -> None:
        self.commands.append(list(args))


def test_nox_reproduce_dry_run_writes_nothing_and_succeeds(tmp_path, capsys, monkeypatch):
    spec = importlib.util.spec_from_file_location("noxfile_under_test", REPO / "noxfile.py")
    noxfile = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(noxfile)
    session = RecordingSession(["--dry-run", "--groups", "linear"])
    getattr(noxfile.reproduce, "func", noxfile.reproduce)(session)
    assert session.commands == [["mamp-bench", "reproduce", "--dry-run", "--groups", "linear"]]
    monkeypatch.chdir(tmp_path)
    for command in session.commands:
        assert main(command[1:]) == 0
    assert list(tmp_path.iterdir()) == []  # no runs/, no results/, no figures
    assert "to run" in capsys.readouterr().out
