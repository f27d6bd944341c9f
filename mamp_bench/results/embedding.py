"""The embedding figure: a t-SNE map of the frozen encoder's test-split features, coloured by class,
one panel per finished pretraining (the latest of each method and dataset). scikit-learn's t-SNE
places the points (deterministic for a fixed seed, no compiled extras to install)."""

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
from mamp_bench.results.drawing import panel_grid, pyplot, save

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
    plt = pyplot()
    fig, axes = panel_grid(plt, len(panels), width=5.0, height=4.6)
    for ax, (method, dataset, points, labels) in zip(axes, panels, strict=True):
        ax.scatter(points[:, 0], points[:, 1], c=labels, cmap="turbo", s=6, linewidths=0)
        ax.set_title(f"{method} on {dataset}\n{len(labels)} test clips, {len(set(labels.tolist()))} classes")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("t-SNE of frozen encoder features (test split), colour = class", fontsize="medium")
    return save(plt, fig, out / "embedding.png"), notes
