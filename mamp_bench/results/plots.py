"""Figures: pretraining loss curves and accuracy against the labelled fraction (matplotlib)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from mamp_bench.engine.runs import RunDir
from mamp_bench.errors import DataFormatError, UserError
from mamp_bench.fileio import read_json


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UserError("plotting needs matplotlib: pip install 'mamp-bench[plot]'") from None
    return plt


def _save(plt, fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_pretraining_losses(runs_dir: Path, out: Path) -> Path | None:
    """One curve per pretraining run (loss per epoch), coloured by method."""
    runs = sorted((runs_dir / "pretrain").glob("*/log.jsonl"))
    if not runs:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    colours: dict[str, str] = {}
    for log in runs:
        run = RunDir(log.parent)
        try:
            config_path = log.parent / "config.json"
            config = read_json(config_path, "run configuration") if os.path.lexists(config_path) else {}
            epochs = [e for e in run.log_records() if isinstance(e.get("loss"), (int, float))]
        except DataFormatError:  # not a regular file, or not JSON: not a run this suite wrote
            continue
        method = config.get("method", log.parent.name.split("-")[0]) if isinstance(config, dict) else "?"
        if not epochs:
            continue
        colour = colours.setdefault(method, f"C{len(colours) % 10}")
        label = method if method not in ax.get_legend_handles_labels()[1] else None
        ax.plot([e["epoch"] + 1 for e in epochs], [e["loss"] for e in epochs], color=colour, alpha=0.7, label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("pretraining loss")
    ax.set_title("Pretraining loss (one line per run)")
    ax.legend()
    return _save(plt, fig, out / "pretrain_loss.png")


def plot_label_fraction(frame: pd.DataFrame, out: Path, metric: str = "top1_best") -> Path | None:
    """Top-1 against the labelled fraction, mean +/- std over seeds, per method and dataset."""
    fraction = frame["setting"].apply(lambda s: s.get("fraction") if isinstance(s, dict) else None)
    data = frame.assign(fraction=fraction).dropna(subset=["fraction"])
    if data.empty:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for (method, dataset), group in data.groupby(["method", "dataset"]):  # every protocol with a fraction
        stats = group.groupby("fraction")[metric].agg(["mean", "std", "count"]).sort_index()
        ax.errorbar(stats.index * 100, stats["mean"], yerr=np.nan_to_num(stats["std"]), marker="o", capsize=3,
                    label=f"{method} ({dataset})")  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel("labelled fraction of the training set (%)")
    ax.set_ylabel("top-1 (%)")
    ax.set_title("Accuracy against the labelled fraction")
    ax.legend()
    return _save(plt, fig, out / "label_fraction.png")
