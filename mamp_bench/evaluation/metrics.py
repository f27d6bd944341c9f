"""Accuracy bookkeeping: top-1/top-5 counts and the confusion matrix, summable across processes."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from mamp_bench.errors import NonFiniteValue


@dataclass
class Tally:
    """Counts over an evaluation: summing tallies of data shards gives the tally of their union."""

    confusion: torch.Tensor  # (classes, classes) int64, rows = true class, columns = prediction
    top5_hits: int = 0
    loss_sum: float = 0.0

    @classmethod
    def empty(cls, classes: int) -> Tally:
        return cls(torch.zeros(classes, classes, dtype=torch.int64))

    def add(self, logits: torch.Tensor, labels: torch.Tensor, loss_sum: float = 0.0) -> None:
        """Count a batch of predictions (scores per class); ``NonFiniteValue`` if a score or the loss is NaN
        or infinite, which would otherwise turn into a silent wrong accuracy."""
        logits, labels = logits.detach().float().cpu(), labels.cpu()
        if not (torch.isfinite(logits).all() and math.isfinite(loss_sum)):
            raise NonFiniteValue(
                "predictions or the test loss are NaN or infinite (the model diverged, or its input is out of "
                "range); stopped, no record written"
            )
        pred = logits.argmax(dim=1)
        self.confusion += torch.bincount(labels * self.classes + pred, minlength=self.classes**2).reshape(
            self.classes, self.classes
        )
        k = min(5, logits.shape[1])
        self.top5_hits += int((logits.topk(k, dim=1).indices == labels[:, None]).any(dim=1).sum())
        self.loss_sum += loss_sum

    @property
    def classes(self) -> int:
        return self.confusion.shape[0]

    @property
    def count(self) -> int:
        return int(self.confusion.sum())

    @property
    def top1(self) -> float:
        return 100.0 * float(self.confusion.diag().sum()) / max(self.count, 1)

    @property
    def top5(self) -> float:
        return 100.0 * self.top5_hits / max(self.count, 1)

    @property
    def loss(self) -> float:
        return self.loss_sum / max(self.count, 1)

    def per_class(self) -> list[float | None]:
        """Accuracy (%) of each class; None for a class with no test sample."""
        rows = self.confusion.sum(1)
        return [
            None if rows[c] == 0 else 100.0 * float(self.confusion[c, c]) / float(rows[c]) for c in range(self.classes)
        ]

    def reduce(self, runtime) -> Tally:
        """Sum over DDP processes."""
        if not runtime.distributed:
            return self
        packed = torch.cat([self.confusion.flatten().double(), torch.tensor([self.top5_hits, self.loss_sum])])
        packed = runtime.sum_tensor(packed.to(runtime.device if runtime.device.type == "cuda" else "cpu")).cpu()
        n = self.classes**2
        return Tally(
            packed[:n].round().long().reshape(self.classes, self.classes), int(packed[n]), float(packed[n + 1])
        )


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    array = np.asarray(values, dtype=np.float64)
    return float(array.mean()), float(array.std(ddof=1)) if len(array) > 1 else 0.0
