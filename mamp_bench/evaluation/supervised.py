"""Supervised training of the linear and fine-tuning protocols as a task of the one training loop:
cross-entropy steps, a test evaluation after every epoch, best and final accuracy, and the history
a resume needs."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from mamp_bench.engine.distributed import Runtime
from mamp_bench.engine.loop import LoopSettings, NonFiniteLoss, TrainingTask, train_loop
from mamp_bench.evaluation.metrics import Tally
from mamp_bench.evaluation.protocol import ProtocolContext


@dataclass
class History:
    """Test accuracy after every epoch; the reference reports the best, the final is here too."""

    epochs: list[dict[str, float]] = field(default_factory=list)
    best_tally: Tally | None = None
    final_tally: Tally | None = None

    def add(self, epoch: int, tally: Tally) -> None:
        if self.best_tally is None or tally.top1 > max(e["top1"] for e in self.epochs):
            self.best_tally = tally
        self.epochs.append({"epoch": epoch, "top1": tally.top1, "top5": tally.top5, "test_loss": tally.loss})
        self.final_tally = tally

    def summary(self) -> dict[str, Any]:
        if not self.epochs:
            return {}
        best = max(self.epochs, key=lambda e: (e["top1"], -e["epoch"]))
        final = self.epochs[-1]
        return {
            "top1_final": final["top1"],
            "top5_final": final["top5"],
            "top1_best": best["top1"],
            "top5_at_best": best["top5"],
            "best_epoch": best["epoch"],
            "epochs_run": len(self.epochs),
        }


class SupervisedTask(TrainingTask):
    """Cross-entropy training of ``train_model`` (``model`` or its DDP wrapper), evaluated by
    ``evaluate`` after every epoch."""

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
    ):
        self.model, self.optimizer, self.criterion, self.evaluate = model, optimizer, criterion, evaluate
        self.train_model = train_model if train_model is not None else runtime.wrap(model)
        self._train_mode = train_mode or model.train
        self.autocast = torch.autocast(runtime.device.type, dtype=torch.bfloat16) if amp else contextlib.nullcontext()
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
        self.optimizer.step()
        return loss.item()

    def end_epoch(self, epoch: int) -> dict[str, float]:
        self.history.add(epoch, self.evaluate())
        return {k: v for k, v in self.history.epochs[-1].items() if k != "epoch"}

    def checkpoint_state(self, record: dict[str, Any]) -> dict[str, Any]:
        best = self.history.best_tally
        return {"history": self.history.epochs, "best_confusion": best.confusion, "best_top5_hits": best.top5_hits}

    def restore(self, state: dict[str, Any]) -> None:
        self.history.epochs = list(state["history"])
        self.history.best_tally = Tally(state["best_confusion"], int(state["best_top5_hits"]))


def fit(task: SupervisedTask, train_set: Dataset, settings: LoopSettings, ctx: ProtocolContext) -> History:
    """Train and evaluate every epoch; the history (final tally re-evaluated after a finished resume)."""
    train_loop(task, train_set, settings, ctx.runtime, ctx.run, resume=ctx.resume, show=ctx.show)
    if task.history.final_tally is None and task.history.epochs:  # resumed after the last epoch
        task.history.final_tally = task.evaluate()
    return task.history


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
def evaluate(model: torch.nn.Module, loader: DataLoader, classes: int, runtime: Runtime) -> Tally:
    model.eval()
    tally = Tally.empty(classes)
    for x, y, _ in loader:
        logits = model(x.to(runtime.device, non_blocking=True))
        loss = torch.nn.functional.cross_entropy(logits.float(), y.to(logits.device), reduction="sum")
        tally.add(logits, y, float(loss))
    return tally.reduce(runtime)
