"""Pieces the protocols share: the evaluated splits, batch checks, confusion matrices, feature
evaluation and the six benchmark columns of the paper's main tables."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from mamp_bench.config import MAX_BATCH, MAX_EPOCHS, MAX_WORKERS
from mamp_bench.data.dataset import SkeletonDataset
from mamp_bench.data.transforms import Compose
from mamp_bench.errors import UserError
from mamp_bench.evaluation.metrics import Predictions, Tally
from mamp_bench.evaluation.protocol import ProtocolContext, TableColumn
from mamp_bench.fileio import atomic_write

RECIPES = Path(__file__).parent / "recipes"

#: the benchmarks of the paper's linear and fine-tuning tables, in its column order
BENCHMARKS = ("ntu60-xsub", "ntu60-xview", "ntu120-xsub", "ntu120-xset", "pku1-xsub", "pku2-xsub")
_LABELS = ("NTU-60 xsub", "NTU-60 xview", "NTU-120 xsub", "NTU-120 xset", "PKU-I xsub", "PKU-II xsub")


def benchmark_columns(reported: str | None) -> tuple[TableColumn, ...]:
    """The six columns of the linear / fine-tune / k-NN tables (``reported``: published rows' protocol)."""
    return tuple(
        TableColumn(label, dataset, reported=reported) for label, dataset in zip(_LABELS, BENCHMARKS, strict=True)
    )


#: "reference": what the paper's scripts ran (their checkpoint epoch, per-process subsets and BatchNorm
#: statistics, their batch layout); "clean": the suite's protocol (see docs/fidelity.md)
FIDELITY = ("reference", "clean")


def check_fidelity(fidelity: str, checkpoint_epoch: int, reference_processes: int = 1) -> None:
    if fidelity not in FIDELITY:
        raise UserError(f"fidelity must be 'reference' or 'clean', got {fidelity!r}")
    if not checkpoint_epoch >= -1:
        raise UserError(f"checkpoint_epoch must be a pretraining epoch or -1 (the final one), got {checkpoint_epoch}")
    if not reference_processes >= 1:
        raise UserError(f"reference_processes must be >= 1, got {reference_processes}")


def training_checks(config) -> list[tuple[bool, str]]:
    """The range checks every supervised recipe shares (schedule, batches, loader), for ``config.require``;
    written as the conditions that must hold, so NaN fails them."""
    c = config
    return [
        (c.lr > 0, f"lr must be positive, got {c.lr}"),
        (1 <= c.epochs <= MAX_EPOCHS, f"epochs must be in [1, {MAX_EPOCHS}], got {c.epochs}"),
        (1 <= c.batch_size <= MAX_BATCH, f"batch_size must be in [1, {MAX_BATCH}], got {c.batch_size}"),
        (1 <= c.eval_batch_size <= MAX_BATCH, f"eval_batch_size must be in [1, {MAX_BATCH}], got {c.eval_batch_size}"),
        (c.min_lr >= 0, f"min_lr must be >= 0, got {c.min_lr}"),
        (c.warmup_epochs >= 0, f"warmup_epochs must be >= 0, got {c.warmup_epochs}"),
        (c.weight_decay >= 0, f"weight_decay must be >= 0, got {c.weight_decay}"),
        (0 <= c.workers <= MAX_WORKERS, f"workers must be in [0, {MAX_WORKERS}], got {c.workers}"),
    ]


def reference_layout(config, train_clips: int, runtime) -> tuple[int, list[np.ndarray]]:
    """(BatchNorm chunk, every reference process's dataset positions) for fidelity=reference on the
    full training set: the reference's processes each see the whole set through their sampler."""
    ghost = per_process_batch(config, runtime)
    return ghost, [np.arange(train_clips)] * config.reference_processes


def per_process_batch(config, runtime) -> int:
    """The reference's per-process batch; this run's processes must split its processes evenly."""
    processes, suite = config.reference_processes, runtime.world_size
    if processes % suite:
        raise UserError(f"fidelity=reference emulates the reference's {processes} processes: run on a number of "
                        f"processes that divides {processes}, or use --set fidelity=clean")  # fmt: skip
    if config.batch_size % processes:
        raise UserError(f"batch_size {config.batch_size} must split into the reference's {processes} processes")
    return config.batch_size // processes


def load_split(ctx: ProtocolContext, split: str, transform: Compose) -> SkeletonDataset:
    dataset = SkeletonDataset(ctx.dataset_path(), split, transform, ctx.seed)
    if dataset.num_classes != ctx.dataset.num_classes:
        raise UserError(
            f"{dataset.path.name} has {dataset.num_classes} classes but {ctx.dataset.name} has "
            f"{ctx.dataset.num_classes}; is the right file under that name?"
        )
    return dataset


def check_batch_fits(batch_size: int, clips: int, what: str, processes: int) -> None:
    """One line unless a training batch splits evenly over the processes, gives each at least the 2 clips
    a head's BatchNorm needs in training, and fits in the ``clips`` of the training split (drop_last)."""
    if batch_size < processes or batch_size % processes:
        raise UserError(f"{what} batch_size {batch_size} must be a multiple of the {processes} processes")
    if batch_size // processes < 2:
        raise UserError(f"{what} batch_size {batch_size} gives a process fewer than the 2 clips BatchNorm needs")
    if batch_size > clips:
        raise UserError(f"{what} batch_size {batch_size} is larger than its {clips} training clips (drop_last)")


def launched_processes() -> int:
    """The processes a launcher (torchrun) started: what a check before the process group exists can use."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def report(ctx: ProtocolContext, predictions: Predictions, **extras) -> dict:
    """Hand the run's per-clip predictions to the pipeline (the record's accuracies are computed from
    them) and write the confusion matrices of the final and best epochs; the protocol's other metrics."""
    ctx.predictions = predictions
    if ctx.runtime.is_main:
        best = predictions.metrics()["best_epoch"]
        for name, epoch in (("final", -1), ("best", best)):
            with atomic_write(ctx.run.path / f"confusion_{name}.csv", "w") as handle:  # never half-written
                np.savetxt(handle, predictions.confusion(epoch), fmt="%d", delimiter=",")
    return extras


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
