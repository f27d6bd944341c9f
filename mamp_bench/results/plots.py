"""The metric figures (matplotlib, PNG): pretraining losses with one row per objective and dataset, accuracy
against the labelled fraction, test accuracy against epoch (``figures.py`` writes them with the embedding of
``embedding.py``).

What a reader can rely on in every one: a method has one colour in every panel and figure
(``drawing.method_colours``, in the registry's order); a method's settings differ by line style; legends
sit beside the panels, never over the data, and name the method and the setting (the run's values that
differ from the same method's other runs in the panel, each key once, by its shortest unambiguous name);
every title names the dataset and says "synthetic data" where it is; epochs are counted from 1.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mamp_bench.config import flatten
from mamp_bench.engine.run_folder import RunFolder
from mamp_bench.errors import DataFormatError
from mamp_bench.fileio import read_json
from mamp_bench.registry import METHODS
from mamp_bench.results import drawing
from mamp_bench.results.drawing import data_title, legend_outside, method_colours, panel_grid, pyplot, save
from mamp_bench.results.evidence import load_predictions
from mamp_bench.results.store import ResultsStore


def short_keys(keys: Iterable[str]) -> dict[str, str]:
    """Each dotted key -> its shortest ending (whole parts) that no other key of ``keys`` shares: a lone
    ``method.mask_ratio`` is ``mask_ratio``, while ``batch_size`` and ``pretrain.batch_size`` stay apart."""
    keys = list(keys)
    out = {}
    for key in keys:
        parts = key.split(".")
        out[key] = key
        for n in range(1, len(parts) + 1):
            ending = ".".join(parts[-n:])
            if not any(other != key and (other == ending or other.endswith("." + ending)) for other in keys):
                out[key] = ending
                break
    return out


def setting_labels(runs: list[dict[str, Any]]) -> list[str]:
    """'method (key=value, ...)' per run: the values that tell it from the same method's other runs
    (seeds excluded, as they are the repetitions of one setting), each key once."""
    labels = []
    for run in runs:
        peers = [r["values"] for r in runs if r["method"] == run["method"]]
        keys = sorted(k for k in run["values"] if k != "seed" and len({repr(p.get(k)) for p in peers}) > 1)
        names = short_keys(keys)
        differing = ", ".join(f"{names[k]}={run['values'][k]}" for k in keys)
        labels.append(f"{run['method']} ({differing})" if differing else run["method"])
    return labels


def objective(run: dict[str, Any]) -> str:
    """What a pretraining's loss measures (its panel), as its method says for its configuration; an
    unregistered method's runs get a panel of their own."""
    if run["method"] not in METHODS:
        return run["method"]
    return METHODS.get(run["method"]).objective(run["method_config"])


def pretraining_runs(runs_dir: Path) -> list[dict[str, Any]]:
    """Every pretraining run folder with a log: method, dataset, flattened configuration, epochs."""
    runs = []
    for log in sorted((runs_dir / "pretrain").glob("*/log.jsonl")):
        config_path = log.parent / "config.json"
        try:
            config = read_json(config_path, "run configuration") if os.path.lexists(config_path) else {}
            epochs = [e for e in RunFolder(log.parent).log_records() if isinstance(e.get("loss"), (int, float))]
        except DataFormatError:  # not a regular file, or not JSON: not a run this suite wrote
            continue
        config = config if isinstance(config, dict) else {}
        if not epochs:
            continue
        values = {"dataset": config.get("dataset"), **flatten(config.get("pretrain", {})),
                  **flatten(config.get("method_config", {}), "method.")}  # fmt: skip
        method = config.get("method", log.parent.name.split("-")[0])
        runs.append({"folder": log.parent, "method": method, "dataset": str(config.get("dataset") or "?"),
                     "values": values, "epochs": epochs, "method_config": config.get("method_config", {})})  # fmt: skip
    return runs


@dataclass
class Line:
    """One line of a panel: its legend label, its method (its colour), x (epochs, from 1) and y, and how many
    runs it stands for."""

    label: str
    method: str
    x: list[int]
    y: list[float]
    runs: int = 1


@dataclass
class Panel:
    """One panel: its title (what is plotted, on which data) and its lines."""

    title: str
    lines: list[Line] = field(default_factory=list)


def loss_panels(runs: list[dict[str, Any]]) -> list[Panel]:
    """One panel per objective and dataset (losses of different objectives are different quantities, so they
    never share a panel): a line per pretraining run; seeds of a setting share its label."""
    panels = []
    for name, dataset in sorted({(objective(r), r["dataset"]) for r in runs}):
        panel = [r for r in runs if objective(r) == name and r["dataset"] == dataset]
        lines = [Line(label, run["method"], [e["epoch"] + 1 for e in run["epochs"]], [e["loss"] for e in run["epochs"]])
                 for run, label in zip(panel, setting_labels(panel), strict=True)]  # fmt: skip
        panels.append(Panel(f"{name}\n{data_title([dataset])}", lines))
    return panels


def draw_lines(ax, lines: list[Line], colours: dict[str, str], start: int = 1) -> None:
    """The lines on ``ax`` from epoch ``start``: colour by method, line style by setting within the method."""
    styles: dict[str, dict[str, str]] = {}
    order = list(colours)
    for line in sorted(lines, key=lambda line: (order.index(line.method), line.label)):  # the tables' order
        mine = styles.setdefault(line.method, {})
        style = mine.setdefault(line.label, drawing.LINE_STYLES[len(mine) % len(drawing.LINE_STYLES)])
        points = [(x, y) for x, y in zip(line.x, line.y, strict=True) if x >= start]
        if not points:
            continue
        ax.plot(*zip(*points, strict=True), color=colours[line.method], linestyle=style, alpha=0.85, label=line.label)


def draw_losses(panels: list[Panel], colours: dict[str, str]):
    """Each panel twice: every epoch on a logarithmic axis (the first epochs' drop and the rest), and from
    epoch 2 on a linear axis scaled to what follows the drop. The figure."""
    plt = pyplot()
    fig, axes = panel_grid(plt, 2 * len(panels), width=5.6, height=3.3)
    for i, panel in enumerate(panels):
        whole, tail = axes[2 * i], axes[2 * i + 1]
        draw_lines(whole, panel.lines, colours)
        log_axis(whole.yaxis)
        whole.set(title=f"{panel.title}\nevery epoch (log scale)", xlabel="epoch", ylabel="pretraining loss")
        if max(max(line.x) for line in panel.lines) >= 2:
            draw_lines(tail, panel.lines, colours, start=2)
        tail.set(title=f"{panel.title}\nfrom epoch 2", xlabel="epoch", ylabel="pretraining loss")
        for ax in (whole, tail):
            ax.title.set_fontsize("medium")
            ax.xaxis.get_major_locator().set_params(integer=True)
        legend_outside(tail if tail.lines else whole)
    fig.suptitle("Pretraining loss per epoch, one row per objective and dataset", fontsize="medium")
    return fig


def log_axis(axis) -> None:
    """A logarithmic axis whose ticks read as numbers (0.9, 1, 1.5, 2, ...), not powers of ten: a loss often
    spans less than a decade."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.axes.set_yscale("log")
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 1.5, 2.0, 3.0, 5.0, 7.0)))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:.3g}"))
    axis.set_minor_formatter(NullFormatter())


def plot_pretraining_losses(runs_dir: Path, out: Path, colours: dict[str, str] | None = None) -> Path | None:
    """Loss per epoch of every pretraining, a row per objective and dataset."""
    runs = pretraining_runs(runs_dir)
    if not runs:
        return None
    colours = colours or method_colours(r["method"] for r in runs)
    return save(pyplot(), draw_losses(loss_panels(runs), colours), out / "pretrain_loss.png")


def fraction_points(frame: pd.DataFrame, metric: str = "top1_best") -> pd.DataFrame:
    """Per method, dataset and labelled fraction: the mean, std and number of seeds of ``metric``."""
    fraction = frame["setting"].apply(lambda s: s.get("fraction") if isinstance(s, dict) else None)
    data = frame.assign(fraction=fraction).dropna(subset=["fraction"])
    if data.empty:
        return pd.DataFrame(columns=["method", "dataset", "synthetic", "fraction", "mean", "std", "n"])
    stats = data.groupby(["method", "dataset", "fraction"]).agg(
        mean=(metric, "mean"), std=(metric, "std"), n=(metric, "count"), synthetic=("synthetic", "any")
    )
    return stats.reset_index()


def draw_label_fraction(points: pd.DataFrame, colours: dict[str, str]):
    """Top-1 against the labelled fraction (x in percent, logarithmic), one line per method and dataset: the
    mean over seeds with a bar of ± one std where there is more than one seed; the legend says how many
    seeds each point has ("one seed" when one). The figure."""
    plt = pyplot()
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    fig, ax = plt.subplots(figsize=(6.5, 4.2), layout="constrained")
    datasets = sorted(set(points["dataset"]))
    for (method, dataset), line in points.groupby(["method", "dataset"]):
        line = line.sort_values("fraction")
        counts = sorted(set(line["n"]))
        seeds = "one seed" if counts == [1] else f"n = {counts[0]}" + (f"-{counts[-1]}" if len(counts) > 1 else "")
        seeds += "" if counts == [1] else " seeds"
        label = f"{method}" + (f", {dataset}" if len(datasets) > 1 else "") + f" ({seeds})"
        spread = np.where(line["n"] > 1, line["std"].fillna(0.0), np.nan)
        ax.errorbar(line["fraction"] * 100, line["mean"], yerr=None if counts == [1] else spread, marker="o",
                    capsize=4, color=colours[method], label=label)  # fmt: skip
    ax.set_xscale("log")
    ticks = sorted(set(points["fraction"] * 100))
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g} %"))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlim(min(ticks) / 1.6, max(ticks) * 1.6)
    ax.set(xlabel="labelled fraction of the training set", ylabel="test top-1 (%)")
    what = "one seed per point" if set(points["n"]) == {1} else "mean ± std over seeds (bars where n > 1)"
    ax.set_title(f"Top-1 against the labelled fraction, {data_title(datasets, bool(points['synthetic'].any()))}\n"
                 f"{what}", fontsize="medium")  # fmt: skip
    legend_outside(ax)
    return fig


def plot_label_fraction(frame: pd.DataFrame, out: Path, metric: str = "top1_best",
                        colours: dict[str, str] | None = None) -> Path | None:  # fmt: skip
    """Top-1 against the labelled fraction, per method and dataset."""
    points = fraction_points(frame, metric)
    if points.empty:
        return None
    colours = colours or method_colours(points["method"])
    return save(pyplot(), draw_label_fraction(points, colours), out / "label_fraction.png")


def epoch_curves(store: ResultsStore, records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Test top-1 after every epoch of each record that trained (from its saved predictions)."""
    curves = []
    for record in records:
        entry = record.get("predictions")
        path = store.path_for(record).with_name(entry["file"]) if entry else None
        if path is None or not path.is_file():
            continue
        predictions = load_predictions(path)
        if len(predictions.top1_by_epoch) < 2:
            continue  # one evaluation (k-NN): no curve
        values = {**record.get("setting", {}), **record.get("overrides", {})}
        curves.append({"protocol": record["protocol"], "method": record["method"], "dataset": record["dataset"],
                       "synthetic": bool(record.get("synthetic")) or drawing.is_synthetic(record["dataset"]),
                       "values": values, "setting": record.get("setting", {}),
                       "top1": [predictions.accuracy(row) for row in predictions.top1_by_epoch]})  # fmt: skip
    return curves


def epoch_panels(curves: list[dict[str, Any]]) -> list[Panel]:
    """One panel per protocol and dataset, one line per method and setting: test top-1 after every epoch, mean
    over seeds. The title names what every line of the panel shares (a transfer's source)."""
    panels = []
    for protocol, dataset in sorted({(c["protocol"], c["dataset"]) for c in curves}):
        panel = [c for c in curves if c["protocol"] == protocol and c["dataset"] == dataset]
        seeds: dict[tuple[str, str], list[list[float]]] = {}
        for curve, label in zip(panel, setting_labels(panel), strict=True):
            seeds.setdefault((curve["method"], label), []).append(curve["top1"])
        shared = {k: v for k, v in panel[0]["setting"].items() if all(c["setting"].get(k) == v for c in panel)}
        common = "".join(f", {k}={v}" for k, v in sorted(shared.items()))
        title = f"{protocol} on {data_title([dataset], any(c['synthetic'] for c in panel))}{common}"
        lines = []
        for (method, label), runs in sorted(seeds.items()):
            length = min(len(run) for run in runs)
            mean = np.mean([run[:length] for run in runs], axis=0).tolist()
            count = f"{len(runs)} seeds" if len(runs) > 1 else "one seed"
            lines.append(Line(f"{label} [{count}]", method, list(range(1, length + 1)), mean, len(runs)))
        panels.append(Panel(title, lines))
    return panels


def draw_panels(panels: list[Panel], title: str, ylabel: str, colours: dict[str, str]):
    """One panel each, its lines coloured by method, its legend beside it. The figure."""
    plt = pyplot()
    fig, axes = panel_grid(plt, len(panels), width=7.2)
    for ax, panel in zip(axes, panels, strict=True):
        draw_lines(ax, panel.lines, colours)
        ax.set(xlabel="epoch", ylabel=ylabel)
        ax.set_title(panel.title, fontsize="medium")
        ax.xaxis.get_major_locator().set_params(integer=True)
        legend_outside(ax)
    fig.suptitle(title, fontsize="medium")
    return fig


def plot_accuracy_by_epoch(store: ResultsStore, out: Path, records: list[dict[str, Any]],
                           colours: dict[str, str] | None = None) -> Path | None:  # fmt: skip
    """Test top-1 against epoch, one panel per protocol and dataset, one line per method and setting."""
    curves = epoch_curves(store, records)
    if not curves:
        return None
    colours = colours or method_colours(c["method"] for c in curves)
    fig = draw_panels(epoch_panels(curves), "Test top-1 after every epoch (mean over seeds)", "test top-1 (%)",
                      colours)  # fmt: skip
    return save(pyplot(), fig, out / "accuracy_by_epoch.png")
