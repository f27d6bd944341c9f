"""The metric figures (matplotlib, PNG): pretraining losses with one panel per objective, accuracy
against the labelled fraction, test accuracy against epoch (``figures.py`` writes them with the
embedding of ``embedding.py``).

Legends name the method and the setting: the run's values that differ from the other runs of the
same method in the panel (a mask ratio, a label fraction, a transfer source); seeds share a colour.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mamp_bench.config import flatten
from mamp_bench.engine.run_folder import RunFolder
from mamp_bench.errors import DataFormatError
from mamp_bench.fileio import read_json
from mamp_bench.registry import METHODS
from mamp_bench.results.drawing import panel_grid, pyplot, save
from mamp_bench.results.evidence import load_predictions
from mamp_bench.results.store import ResultsStore


def setting_labels(runs: list[dict[str, Any]]) -> list[str]:
    """'method (key=value, ...)' per run: the values that tell it from the same method's other runs
    (seeds excluded, as they are the repetitions of one setting)."""
    labels = []
    for run in runs:
        peers = [r["values"] for r in runs if r["method"] == run["method"]]
        keys = sorted(k for k in run["values"] if k != "seed" and len({repr(p.get(k)) for p in peers}) > 1)
        differing = ", ".join(f"{k.split('.')[-1]}={run['values'][k]}" for k in keys)
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
        runs.append({"folder": log.parent, "method": method, "values": values, "epochs": epochs,
                     "method_config": config.get("method_config", {})})  # fmt: skip
    return runs


@dataclass
class Line:
    """One line of a panel: its legend label, x (epochs, from 1) and y, and how many runs it stands for."""

    label: str
    x: list[int]
    y: list[float]
    runs: int = 1


def loss_panels(runs: list[dict[str, Any]]) -> dict[str, list[Line]]:
    """Objective -> one line per pretraining run (losses of different objectives are different
    quantities, so they never share a panel); seeds of a setting share its label."""
    panels: dict[str, list[Line]] = {}
    for name in sorted({objective(r) for r in runs}):
        panel = [r for r in runs if objective(r) == name]
        panels[name] = [Line(label, [e["epoch"] + 1 for e in run["epochs"]], [e["loss"] for e in run["epochs"]])
                        for run, label in zip(panel, setting_labels(panel), strict=True)]  # fmt: skip
    return panels


def draw_panels(panels: dict[str, list[Line]], title: str, ylabel: str, path: Path) -> Path:
    """One panel per key, its lines coloured by label (one legend entry per label)."""
    plt = pyplot()
    fig, axes = panel_grid(plt, len(panels))
    for ax, (name, lines) in zip(axes, panels.items(), strict=True):
        colours: dict[str, str] = {}
        for line in lines:
            first = line.label not in colours
            colour = colours.setdefault(line.label, f"C{len(colours) % 10}")
            ax.plot(line.x, line.y, color=colour, alpha=0.85, label=line.label if first else None)
        ax.set(title=name, xlabel="epoch", ylabel=ylabel)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(fontsize="small")
    fig.suptitle(title, fontsize="medium")
    return save(plt, fig, path)


def plot_pretraining_losses(runs_dir: Path, out: Path) -> Path | None:
    """Loss per epoch of every pretraining, one panel per objective."""
    runs = pretraining_runs(runs_dir)
    if not runs:
        return None
    return draw_panels(loss_panels(runs), "Pretraining loss, one panel per objective", "pretraining loss",
                       out / "pretrain_loss.png")  # fmt: skip


def plot_label_fraction(frame: pd.DataFrame, out: Path, metric: str = "top1_best") -> Path | None:
    """Top-1 against the labelled fraction, mean +/- std over seeds, per method and dataset."""
    fraction = frame["setting"].apply(lambda s: s.get("fraction") if isinstance(s, dict) else None)
    data = frame.assign(fraction=fraction).dropna(subset=["fraction"])
    if data.empty:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for (method, dataset), group in data.groupby(["method", "dataset"]):  # every protocol with a fraction
        stats = group.groupby("fraction")[metric].agg(["mean", "std", "count"]).sort_index()
        ax.errorbar(stats.index * 100, stats["mean"], yerr=np.nan_to_num(stats["std"]), marker="o", capsize=3,
                    label=f"{method} ({dataset})")  # fmt: skip
    ax.set_xscale("log")
    ax.set(xlabel="labelled fraction of the training set (%)", ylabel="top-1 (%)")
    ax.set_title("Accuracy against the labelled fraction (mean ± std over seeds)")
    ax.legend(fontsize="small")
    return save(plt, fig, out / "label_fraction.png")


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
        values = {"dataset": record["dataset"], **record.get("setting", {}), **record.get("overrides", {})}
        curves.append({"protocol": record["protocol"], "method": record["method"], "values": values,
                       "top1": [predictions.accuracy(row) for row in predictions.top1_by_epoch]})  # fmt: skip
    return curves


def epoch_panels(curves: list[dict[str, Any]]) -> dict[str, list[Line]]:
    """Protocol -> one line per method and setting: test top-1 after every epoch, mean over seeds."""
    panels: dict[str, list[Line]] = {}
    for protocol in sorted({c["protocol"] for c in curves}):
        panel = [c for c in curves if c["protocol"] == protocol]
        seeds: dict[str, list[list[float]]] = {}
        for curve, label in zip(panel, setting_labels(panel), strict=True):
            seeds.setdefault(label, []).append(curve["top1"])
        panels[protocol] = []
        for label, runs in sorted(seeds.items()):
            length = min(len(run) for run in runs)
            mean = np.mean([run[:length] for run in runs], axis=0).tolist()
            plural = "s" if len(runs) > 1 else ""
            panels[protocol].append(Line(f"{label} [{len(runs)} seed{plural}]", list(range(1, length + 1)), mean,
                                         len(runs)))  # fmt: skip
    return panels


def plot_accuracy_by_epoch(store: ResultsStore, out: Path, records: list[dict[str, Any]]) -> Path | None:
    """Test top-1 against epoch, one panel per protocol, one line per method and setting."""
    curves = epoch_curves(store, records)
    if not curves:
        return None
    return draw_panels(epoch_panels(curves), "Test accuracy after every epoch (mean over seeds)", "test top-1 (%)",
                       out / "accuracy_by_epoch.png")  # fmt: skip
