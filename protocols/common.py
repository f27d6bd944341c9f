"""Pieces the protocols share: loading the evaluated splits and writing confusion matrices."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from mamp_bench.data.dataset import SkeletonDataset
from mamp_bench.data.transforms import Compose
from mamp_bench.errors import UserError
from mamp_bench.evaluation.metrics import Tally
from mamp_bench.evaluation.protocol import ProtocolContext

RECIPES = Path(__file__).parent / "recipes"


def load_split(ctx: ProtocolContext, split: str, transform: Compose) -> SkeletonDataset:
    dataset = SkeletonDataset(ctx.dataset_path(), split, transform, ctx.seed)
    if dataset.num_classes != ctx.dataset.num_classes:
        raise UserError(
            f"{dataset.path.name} has {dataset.num_classes} classes but {ctx.dataset.name} has "
            f"{ctx.dataset.num_classes}; is the right file under that name?"
        )
    return dataset


def check_batch(batch_size: int, dataset: SkeletonDataset, what: str, processes: int) -> None:
    if batch_size < processes or batch_size % processes:
        raise UserError(f"{what} batch_size {batch_size} must be a multiple of the {processes} processes")
    if batch_size > len(dataset):
        raise UserError(f"{what} batch_size {batch_size} is larger than its {len(dataset)} training clips (drop_last)")


def save_confusion(ctx: ProtocolContext, name: str, tally: Tally | None) -> None:
    if tally is None or not ctx.runtime.is_main:
        return
    np.savetxt(ctx.run.path / f"confusion_{name}.csv", tally.confusion.numpy(), fmt="%d", delimiter=",")


def tally_metrics(prefix: str, tally: Tally | None) -> dict:
    if tally is None:
        return {}
    return {f"per_class_{prefix}": tally.per_class(), "test_clips": tally.count}


@torch.inference_mode()
def evaluate_features(
    head: torch.nn.Module, features: torch.Tensor, labels: torch.Tensor, classes: int, runtime
) -> Tally:
    """Logits of a head on pre-computed features, tallied (and summed over processes)."""
    head.eval()
    tally = Tally.empty(classes)
    for start in range(0, len(features), 4096):
        logits = head(features[start : start + 4096].to(runtime.device))
        y = labels[start : start + 4096]
        loss = torch.nn.functional.cross_entropy(logits.float(), y.to(logits.device), reduction="sum")
        tally.add(logits, y, float(loss))
    return tally.reduce(runtime)
