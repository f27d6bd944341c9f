"""Figures from the user's side: `mamp-bench plot` after real runs writes every figure into the runs
folder, loss panels keep objectives apart, legends name method and setting, and a dry reproduction
(the nox session included) writes nothing."""

from __future__ import annotations

import importlib.util

import numpy as np

from mamp_bench.cli import main
from mamp_bench.data.specs import get_dataset
from mamp_bench.engine.pretrain import PretrainJob
from mamp_bench.engine.run_folder import RunFolder
from mamp_bench.plan import Overrides
from mamp_bench.results.drawing import method_colours
from mamp_bench.results.embedding import draw_embeddings
from mamp_bench.results.frame import results_frame
from mamp_bench.results.plots import (
    draw_label_fraction,
    draw_losses,
    draw_panels,
    epoch_curves,
    epoch_panels,
    fraction_points,
    loss_panels,
    pretraining_runs,
    setting_labels,
)
from mamp_bench.results.store import ResultsStore
from mamp_bench.results.verify import check_store
from tests.store_helpers import write_record
from tests.test_results import record

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
    panels = {panel.title: panel for panel in loss_panels(pretraining_runs(tmp_path))}
    data = "\nsynthetic-ntu60 (synthetic data)"  # every panel names its dataset, and says it is synthetic
    assert sorted(panels) == [f"masked coords, patch-normalised (MSE){data}",
                              f"masked coords, time-normalised (MSE){data}",
                              f"masked motion, patch-normalised (MSE){data}"]  # fmt: skip
    motion = panels[f"masked motion, patch-normalised (MSE){data}"]
    assert sorted(line.label for line in motion.lines) == ["mamp (mask_ratio=0.8)", "mamp (mask_ratio=0.9)",
                                                           "mamp (mask_ratio=0.9)"]  # fmt: skip
    assert [line.label for line in panels[f"masked coords, patch-normalised (MSE){data}"].lines] == ["mae"]
    assert motion.lines[0].x == [1, 2]


# --- issue 24: figures a reader can trust ---------------------------------------------------------------------


def _smoke_store(root):
    """Records as a smoke reproduction leaves them: three protocols, two label fractions, several seeds."""
    store = ResultsStore(root)
    for seed in (0, 1, 2):
        for method, top1 in (("mamp", 40.0), ("mae", 50.0), ("random-init", 20.0)):
            write_record(store, record(method, "linear", "synthetic-ntu60", "ntu60", "xsub", seed, top1 + seed,
                                       top1, scale="smoke"))  # fmt: skip
    for method in ("mamp", "mae"):
        write_record(store, record(method, "finetune", "synthetic-ntu60", "ntu60", "xsub", 0, 45.0, 44.0,
                                   scale="smoke"))  # fmt: skip
        for fraction, seeds in ((0.01, (0,)), (0.1, (0, 1, 2))):
            for seed in seeds:
                write_record(store, record(method, "semi", "synthetic-ntu60", "ntu60", "xsub", seed, 10.0 + seed,
                                           9.0, fraction=fraction, scale="smoke"))  # fmt: skip
    return store


def _legends_beside_the_data(fig) -> None:
    """Every legend lies outside every panel's data area."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    areas = [ax.get_window_extent(renderer) for ax in fig.axes if ax.get_visible()]
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    assert legends
    for legend in legends:
        box = legend.get_window_extent(renderer)
        assert not any(box.overlaps(area) for area in areas), legend.get_texts()[0].get_text()


def _line_colours(fig) -> dict[str, set[str]]:
    """Method (a legend label's first word) -> the colours of its lines in every panel."""
    from matplotlib.colors import to_hex

    colours: dict[str, set[str]] = {}
    for ax in fig.axes:
        for line in ax.get_lines():
            if not line.get_label().startswith("_"):
                colours.setdefault(line.get_label().split()[0], set()).add(to_hex(line.get_color()))
    return colours


def test_a_method_keeps_its_colour_in_every_panel_and_figure_and_legends_stay_off_the_data(tmp_path):
    store = _smoke_store(tmp_path)
    records = [r for r, _ in check_store(tmp_path).passed()]
    colours = method_colours()
    by_epoch = draw_panels(epoch_panels(epoch_curves(store, records)), "t", "top-1", colours)
    fraction = draw_label_fraction(fraction_points(results_frame(records)), colours)
    for fig in (by_epoch, fraction):
        _legends_beside_the_data(fig)
        for method, seen in _line_colours(fig).items():
            assert seen == {colours[method]}, method  # one colour, the palette's, in every panel of both figures
    assert len(set(colours.values())) == len(colours)  # and no two methods share one
    assert list(colours)[:3] == ["mamp", "mae", "mamp-random"]  # the registry's order, as the tables list them
    titles = [ax.get_title() for ax in by_epoch.axes if ax.get_visible()]
    assert titles == [f"{p} on synthetic-ntu60 (synthetic data)" for p in ("finetune", "linear", "semi")]


def test_the_label_fraction_plot_shows_n_and_error_bars_or_says_one_seed_with_ticks_in_percent(tmp_path):
    _smoke_store(tmp_path)
    records = [r for r, _ in check_store(tmp_path).passed()]
    points = fraction_points(results_frame(records))
    fig = draw_label_fraction(points, method_colours())
    (ax,) = fig.axes
    fig.canvas.draw()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1 %", "10 %"]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["mae (n = 1-3 seeds)", "mamp (n = 1-3 seeds)"]
    assert "synthetic-ntu60 (synthetic data)" in ax.get_title() and "bars where n > 1" in ax.get_title()
    bars = [c for c in ax.containers if c.has_yerr]
    segments = [seg for c in bars for seg in c.lines[2][0].get_segments() if len(seg) == 2]
    assert len(bars) == 2 and len(segments) == 2  # a bar where there are 3 seeds (10 %), none at one seed (1 %)
    assert all(seg[1][1] > seg[0][1] and seg[0][0] == 10 for seg in segments)
    one_seed = draw_label_fraction(points[points["n"] == 1], method_colours())
    assert [t.get_text() for t in one_seed.axes[0].get_legend().get_texts()] == ["mae (one seed)", "mamp (one seed)"]
    assert "one seed per point" in one_seed.axes[0].get_title()
    assert not [c for c in one_seed.axes[0].containers if c.has_yerr]  # no bar pretends to be a spread


def test_the_loss_plot_shows_the_whole_curve_and_legends_name_each_key_once(tmp_path):
    _fake_pretraining(tmp_path, "mamp", {}, 0, [1.67, 0.92, 0.905, 0.9, 0.895])  # MAMP's drop, then the slope
    _fake_pretraining(tmp_path, "mamp", {"batch_size": "8", "epochs": "5"}, 0, [1.6, 0.95, 0.93, 0.92, 0.91])
    runs = pretraining_runs(tmp_path)
    fig = draw_losses(loss_panels(runs), method_colours())
    whole, tail = fig.axes[:2]
    assert whole.get_yscale() == "log" and "every epoch" in whole.get_title()
    fig.canvas.draw()
    ticks = [t.get_text() for t in whole.get_yticklabels() if t.get_text()]
    assert len(ticks) >= 3 and all("^" not in t for t in ticks), ticks  # numbers, not powers of ten
    assert "from epoch 2" in tail.get_title() and min(min(line.get_xdata()) for line in tail.get_lines()) == 2
    low, high = tail.get_ylim()
    assert high < 1.0  # scaled to what follows the first epoch's drop, which it shows
    _legends_beside_the_data(fig)
    # a run's overrides of a protocol and of its pretraining: each key once, by its full name where two share one
    curves = [{"method": "mamp", "values": {"batch_size": 2, "pretrain.batch_size": 2, "epochs": 2}},
              {"method": "mamp", "values": {}}]  # fmt: skip
    assert setting_labels(curves) == ["mamp (batch_size=2, epochs=2, pretrain.batch_size=2)", "mamp"]


def test_the_embedding_has_a_discrete_palette_and_a_key_of_at_most_20_classes():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(60), 5)
    fig = draw_embeddings([("mamp", "synthetic-ntu60", rng.normal(size=(300, 2)), labels),
                           ("mae", "synthetic-pku", rng.normal(size=(12, 2)), np.arange(12) % 3)])  # fmt: skip
    sixty, three = fig.axes
    entries = [t.get_text() for t in sixty.get_legend().get_texts()]
    assert entries == ["the other 40 classes"] + [f"class {c}" for c in range(1, 21)]
    assert "classes 1-20 coloured" in sixty.get_title() and "synthetic-ntu60 (synthetic data)" in sixty.get_title()
    colours = [tuple(c.get_facecolor()[0]) for c in sixty.collections]
    assert len(set(colours)) == 21  # one colour per keyed class, grey for the rest: no continuous map
    assert all(len({round(v, 2) for v in colour[:3]}) > 1 for colour in colours[1:])  # no keyed class is grey
    assert [t.get_text() for t in three.get_legend().get_texts()] == ["class 1", "class 2", "class 3"]
    _legends_beside_the_data(fig)


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
