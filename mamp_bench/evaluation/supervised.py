"""Supervised training of the linear and fine-tuning protocols as a task of the one training loop:
cross-entropy steps, a test evaluation after every epoch (or every few, as the GCN processors), best and final
accuracy, the history a resume needs, and the checks every supervised recipe shares."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from mamp_bench.config import MAX_BATCH, MAX_EPOCHS, MAX_WORKERS
from mamp_bench.engine.distributed import Runtime
from mamp_bench.engine.loop import LoopSettings, NonFiniteLoss, TrainingTask, train
from mamp_bench.errors import UserError
from mamp_bench.evaluation.metrics import Predictions, Tally
from mamp_bench.evaluation.protocol import ProtocolContext, ProtocolResult


@dataclass
class History:
    """Test accuracy after every evaluated epoch, with the per-clip predictions behind it (the reference
    reports the best epoch; the final and the mean of the last five are recorded too), and the class scores of
    the best one when the evaluations keep them."""

    epochs: list[dict[str, float]] = field(default_factory=list)
    classes: int = 0
    labels: np.ndarray | None = None  # (N,) true classes of the test clips
    top1_by_epoch: list[np.ndarray] = field(default_factory=list)  # per evaluation: (N,) predicted classes
    top5_best: np.ndarray | None = None  # (N, k) after the best epoch so far
    top5_final: np.ndarray | None = None  # (N, k) after the last epoch
    scores_best: np.ndarray | None = None  # (N, classes) float32 after the best epoch so far, when kept

    def add(self, epoch: int, tally: Tally) -> None:
        labels, predicted, top5 = tally.predicted()
        if not self.epochs or tally.top1 > max(e["top1"] for e in self.epochs):
            self.top5_best = top5
            self.scores_best = tally.score_array()
        self.epochs.append({"epoch": epoch, "top1": tally.top1, "top5": tally.top5, "test_loss": tally.loss})
        self.classes, self.labels, self.top5_final = tally.classes, labels, top5
        self.top1_by_epoch.append(predicted)

    def predictions(self) -> Predictions | None:
        if not self.epochs:
            return None
        return Predictions(self.labels, np.stack(self.top1_by_epoch), self.top5_final, self.top5_best, self.classes)

    def state(self) -> dict[str, Any]:
        """What a checkpoint keeps so that a resumed run records the same predictions (nothing before the first
        evaluation)."""
        if not self.epochs:
            return {}
        arrays = {"labels": self.labels, "top1_by_epoch": np.stack(self.top1_by_epoch), "top5_best": self.top5_best,
                  "top5_final": self.top5_final}  # fmt: skip
        if self.scores_best is not None:
            arrays["scores_best"] = self.scores_best
        return {"history": self.epochs, "classes": self.classes, **{k: torch.from_numpy(v) for k, v in arrays.items()}}

    def restore(self, state: dict[str, Any]) -> None:
        if "history" not in state:
            return
        self.epochs, self.classes = list(state["history"]), int(state["classes"])
        self.labels, self.top5_best = state["labels"].numpy(), state["top5_best"].numpy()
        self.top1_by_epoch, self.top5_final = list(state["top1_by_epoch"].numpy()), state["top5_final"].numpy()
        self.scores_best = state["scores_best"].numpy() if "scores_best" in state else None


class SupervisedTask(TrainingTask):
    """Cross-entropy training of ``train_model`` (``model`` or its DDP wrapper), evaluated by
    ``evaluate`` after every ``eval_every`` epochs and after the last of ``epochs`` (every epoch by default);
    ``clip_grad_norm`` > 0 clips the gradients' norm to it before each step."""

    kind = "protocol"

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        evaluate: Callable[[], Tally],
        runtime: Runtime,
        train_model: torch.nn.Module | None = None,
        train_mode: Callable[[], None] | None = None,
        amp: bool = False,
        eval_every: int = 1,
        epochs: int = 0,
        clip_grad_norm: float = 0.0,
    ):
        self.model, self.optimizer, self.criterion, self.evaluate = model, optimizer, criterion, evaluate
        self.train_model = train_model if train_model is not None else runtime.wrap(model)
        self._train_mode = train_mode or model.train
        self.autocast = torch.autocast(runtime.device.type, dtype=torch.bfloat16) if amp else contextlib.nullcontext()
        self.eval_every, self.epochs, self.clip_grad_norm = eval_every, epochs, clip_grad_norm
        self.history = History()

    def train_mode(self) -> None:
        self._train_mode()

    def step(self, x: torch.Tensor, y: torch.Tensor, seeds: torch.Tensor) -> float:
        with self.autocast:
            loss = self.criterion(self.train_model(x).float(), y)
        if not torch.isfinite(loss.detach()):
            raise NonFiniteLoss(loss.item())
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.clip_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip_grad_norm, norm_type=2)
        self.optimizer.step()
        return loss.item()

    def evaluates(self, epoch: int) -> bool:
        """Whether the test set is evaluated after ``epoch`` (0-based): every ``eval_every`` epochs and the last."""
        return (epoch + 1) % self.eval_every == 0 or epoch + 1 == self.epochs

    def end_epoch(self, epoch: int) -> dict[str, float]:
        if not self.evaluates(epoch):
            return {}
        self.history.add(epoch, self.evaluate())
        return {k: v for k, v in self.history.epochs[-1].items() if k != "epoch"}

    def checkpoint_state(self, record: dict[str, Any]) -> dict[str, Any]:
        return self.history.state()

    def restore(self, state: dict[str, Any]) -> None:
        self.history.restore(state)


def fit(task: SupervisedTask, train_set: Dataset, settings: LoopSettings, ctx: ProtocolContext) -> ProtocolResult:
    """Train and evaluate every epoch (continuing an interrupted run); the predictions of every epoch (the
    history is restored whole when resumed after the last epoch) and the run's per-epoch log."""
    epochs = train(task, train_set, settings, ctx.runtime, ctx.run, show=ctx.show,
                   allow_unverified=ctx.allow_unverified)  # fmt: skip
    metrics = {"train_clips": len(train_set)}
    if task.eval_every > 1:  # the predictions hold one row per evaluation: say which epochs they are
        metrics["evaluated_epochs"] = [int(e["epoch"]) for e in task.history.epochs]
    return ProtocolResult(task.history.predictions(), epochs, metrics, scores=task.history.scores_best)


def keeps_scores(encoder: torch.nn.Module) -> bool:
    """Whether a run keeps its best evaluation's class scores: an encoder with an input stream does (the GCN
    family's 3-stream ensemble sums its streams' scores, ``results/ensemble.py``)."""
    return hasattr(encoder.config, "stream")


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


def check_batch_fits(batch_size: int, clips: int, what: str, processes: int) -> None:
    """One line unless a training batch splits evenly over the processes, gives each at least the 2 clips
    a head's BatchNorm needs in training, and fits in the ``clips`` of the training split (drop_last)."""
    if batch_size < processes or batch_size % processes:
        raise UserError(f"{what} batch_size {batch_size} must be a multiple of the {processes} processes")
    if batch_size // processes < 2:
        raise UserError(f"{what} batch_size {batch_size} gives a process fewer than the 2 clips BatchNorm needs")
    if batch_size > clips:
        raise UserError(f"{what} batch_size {batch_size} is larger than its {clips} training clips (drop_last)")


def test_loader(dataset: Dataset, batch_size: int, runtime: Runtime, workers: int) -> DataLoader:
    """Every test clip exactly once over all processes (strided shards, no padding)."""
    shard = list(range(runtime.rank, len(dataset), runtime.world_size))
    return DataLoader(
        torch.utils.data.Subset(dataset, shard),
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        pin_memory=runtime.device.type == "cuda",
    )


@torch.inference_mode()
def evaluate(
    model: torch.nn.Module, loader: DataLoader, classes: int, runtime: Runtime, keep_scores: bool = False
) -> Tally:
    model.eval()
    tally = Tally.empty(classes, keep_scores)
    for x, y, _ in loader:
        logits = model(x.to(runtime.device, non_blocking=True))
        loss = torch.nn.functional.cross_entropy(logits.float(), y.to(logits.device), reduction="sum")
        tally.add(logits, y, float(loss))
    return tally.reduce(runtime)
