"""The embedding figure: a t-SNE map of the frozen encoder's test-split features, one panel per finished
pretraining (the latest of each method and dataset). scikit-learn's t-SNE places the points (deterministic
for a fixed seed, no compiled extras to install). Classes take a discrete palette with a key beside the
panel: every class when there are at most 20, else classes 1-20, the others grey (named so in the title)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from mamp_bench.data.dataset import SkeletonDataset
from mamp_bench.data.specs import get_dataset
from mamp_bench.data.transforms import test_transform
from mamp_bench.engine.features import encode_dataset
from mamp_bench.engine.run_folder import RunFolder
from mamp_bench.errors import DataFormatError, UserError
from mamp_bench.fileio import read_json
from mamp_bench.models.loading import load_encoder
from mamp_bench.results.drawing import data_title, legend_outside, panel_grid, pyplot, save

MAX_PANELS = 6
MAX_CLIPS = 600  # test clips embedded per panel (evenly spaced over the split)


def finished_pretrainings(runs_dir: Path) -> list[tuple[str, str, Path]]:
    """(method, dataset, final checkpoint) of the latest finished pretraining of each method and dataset."""
    latest: dict[tuple[str, str], tuple[float, Path]] = {}
    for summary in (runs_dir / "pretrain").glob("*/summary.json"):
        run = RunFolder(summary.parent)
        config_file = summary.parent / "config.json"
        if not run.finished or not config_file.is_file():
            continue
        try:
            config = read_json(config_file, "run configuration")
        except DataFormatError:
            continue  # not a run's configuration: nothing to draw
        if not isinstance(config, dict):
            continue
        checkpoint = summary.parent / run.summary().get("final_checkpoint", "checkpoint-last.pth")
        key = (config.get("method", "?"), config.get("dataset", "?"))
        if checkpoint.is_file() and summary.stat().st_mtime > latest.get(key, (-1.0, None))[0]:
            latest[key] = (summary.stat().st_mtime, checkpoint)
    newest = sorted(latest.items(), key=lambda item: -item[1][0])[:MAX_PANELS]
    return sorted((method, dataset, checkpoint) for (method, dataset), (_, checkpoint) in newest)


def split_features(checkpoint: Path, dataset: str, data_root: str | None) -> tuple[np.ndarray, np.ndarray]:
    """(N, D) pooled features and (N,) classes of at most ``MAX_CLIPS`` test clips."""
    encoder = load_encoder(checkpoint)
    split = SkeletonDataset(get_dataset(dataset).path(data_root), "test", test_transform(encoder.window))
    split.indices = split.indices[np.linspace(0, len(split) - 1, min(MAX_CLIPS, len(split))).astype(int)]
    features, labels = encode_dataset(encoder, split, 64, torch.device("cpu"))
    return features.numpy(), labels.numpy()


def tsne(features: np.ndarray, seed: int = 0) -> np.ndarray:
    """(N, D) -> (N, 2) t-SNE coordinates (PCA initialisation, perplexity 30 or less for few points)."""
    from sklearn.manifold import TSNE

    perplexity = float(min(30, max(2, (len(features) - 1) // 3)))
    return TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(features)


#: classes an embedding panel colours, each with its own colour and a key entry (tab20); the others are grey
KEY_CLASSES = 20


def key_classes(labels: np.ndarray) -> list[int]:
    """The classes a panel colours and names: every class when there are at most ``KEY_CLASSES``, else the
    first ``KEY_CLASSES`` class numbers (the others are drawn in grey, under one key entry)."""
    return sorted(set(labels.tolist()))[:KEY_CLASSES]


#: the colour of the classes beyond the key
OTHERS = "0.82"


def class_palette(matplotlib) -> list:
    """20 distinct colours for the key classes: tab20 with its two greys (the others' colour) replaced."""
    colours = list(matplotlib.colormaps["tab20"].colors)
    colours[14:16] = [matplotlib.colors.to_rgb("#393b79"), matplotlib.colors.to_rgb("#8c6d31")]  # tab20b
    return colours


def draw_embeddings(panels: list[tuple[str, str, np.ndarray, np.ndarray]]):
    """One t-SNE panel per (method, dataset, (N, 2) points, (N,) classes): the key classes in a discrete
    palette with a key beside the panel (classes numbered from 1), the rest grey. The figure."""
    plt = pyplot()
    import matplotlib

    palette = class_palette(matplotlib)
    fig, axes = panel_grid(plt, len(panels), width=5.4, height=4.4)
    for ax, (method, dataset, points, labels) in zip(axes, panels, strict=True):
        keyed = key_classes(labels)
        others = ~np.isin(labels, keyed)
        classes = len(set(labels.tolist()))
        if others.any():
            ax.scatter(points[others, 0], points[others, 1], color=OTHERS, s=4, linewidths=0,
                       label=f"the other {classes - len(keyed)} classes")  # fmt: skip
        for i, c in enumerate(keyed):
            chosen = labels == c
            ax.scatter(points[chosen, 0], points[chosen, 1], color=palette[i % len(palette)], s=7, linewidths=0,
                       label=f"class {c + 1}")  # fmt: skip
        shown = f"classes {keyed[0] + 1}-{keyed[-1] + 1} coloured" if others.any() else f"{classes} classes"
        ax.set_title(f"{method} on {data_title([dataset])}\n{len(labels)} test clips, {shown}", fontsize="medium")
        ax.set_xticks([])
        ax.set_yticks([])
        legend_outside(ax, ncols=2 if len(keyed) > 10 else 1, markerscale=2)
    fig.suptitle("t-SNE of frozen encoder features (test split), colour = class", fontsize="medium")
    return fig


def plot_embeddings(runs_dir: Path, out: Path, data_root: str | None = None) -> tuple[Path | None, list[str]]:
    """The embedding figure (None when no pretraining finished) and notes on the runs left out."""
    panels, notes = [], []
    for method, dataset, checkpoint in finished_pretrainings(runs_dir):
        try:
            features, labels = split_features(checkpoint, dataset, data_root)
        except UserError as exc:
            notes.append(f"embedding of {method} on {dataset} left out: {exc}")
            continue
        panels.append((method, dataset, tsne(features), labels))
    if not panels:
        return None, notes
    return save(pyplot(), draw_embeddings(panels), out / "embedding.png"), notes
