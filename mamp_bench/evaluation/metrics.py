"""Accuracy bookkeeping: a ``Tally`` of one evaluation (counts, confusion matrix and the per-clip
top-5 predictions, summable across processes) and the ``Predictions`` of a whole run, from which
every accuracy of a record is computed, and recomputed by ``mamp-bench verify``."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field

import numpy as np
import torch

from mamp_bench.errors import NonFiniteValue


@dataclass
class Tally:
    """Counts over an evaluation: summing tallies of data shards gives the tally of their union."""

    confusion: torch.Tensor  # (classes, classes) int64, rows = true class, columns = prediction
    top5_hits: int = 0
    loss_sum: float = 0.0
    #: per batch (B, 2 + k): true class, predicted class (argmax), the top-k classes (best first)
    clips: list[torch.Tensor] = field(default_factory=list)
    #: per batch (B, classes) float32 class scores, when kept (the 3-stream ensemble sums them); None: not kept
    scores: list[torch.Tensor] | None = None

    @classmethod
    def empty(cls, classes: int, keep_scores: bool = False) -> Tally:
        return cls(torch.zeros(classes, classes, dtype=torch.int64), scores=[] if keep_scores else None)

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
        top5 = logits.topk(k, dim=1).indices
        self.top5_hits += int((top5 == labels[:, None]).any(dim=1).sum())
        self.loss_sum += loss_sum
        self.clips.append(torch.cat([labels[:, None], pred[:, None], top5], dim=1))
        if self.scores is not None:
            self.scores.append(logits)

    def score_array(self) -> np.ndarray | None:
        """(N, classes) float32 class scores in evaluation order, when kept."""
        if self.scores is None:
            return None
        return torch.cat(self.scores).numpy() if self.scores else np.zeros((0, self.classes), np.float32)

    def predicted(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(true classes (N,), predicted classes (N,), top-k classes (N, k)) in evaluation order."""
        rows = torch.cat(self.clips).numpy() if self.clips else np.zeros((0, 7), np.int64)
        return rows[:, 0], rows[:, 1], rows[:, 2:]

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
        """Sum over DDP processes whose shards are strided (process r evaluated clips r, r + W, ...);
        the predictions come back in dataset order."""
        if not runtime.distributed:
            return self
        packed = torch.cat([self.confusion.flatten().double(), torch.tensor([self.top5_hits, self.loss_sum])])
        packed = runtime.sum_tensor(packed.to(runtime.reduce_device)).cpu()
        n = self.classes**2
        clips = runtime.gather_strided(torch.cat(self.clips)) if self.clips else torch.zeros(0, 7, dtype=torch.long)
        scores = None if self.scores is None else [runtime.gather_strided(torch.from_numpy(self.score_array()))]
        return Tally(
            packed[:n].round().long().reshape(self.classes, self.classes),
            int(packed[n]),
            float(packed[n + 1]),
            [clips],
            scores,
        )


@dataclass
class Predictions:
    """Per-clip predictions of a run, enough to recompute every accuracy its record states."""

    labels: np.ndarray  # (N,) true classes of the test clips, in dataset order
    top1_by_epoch: np.ndarray  # (E, N) predicted class after each epoch (one row for k-NN)
    top5_final: np.ndarray  # (N, k) top-5 classes after the final epoch
    top5_best: np.ndarray  # (N, k) top-5 classes after the best epoch
    classes: int

    def accuracy(self, predicted: np.ndarray) -> float:
        return 100.0 * float((predicted == self.labels).sum()) / max(len(self.labels), 1)

    def top5_accuracy(self, top5: np.ndarray) -> float:
        return 100.0 * int((top5 == self.labels[:, None]).any(axis=1).sum()) / max(len(self.labels), 1)

    def confusion(self, epoch: int = -1) -> np.ndarray:
        """(classes, classes) counts after an epoch; rows = true class, columns = prediction."""
        pairs = self.labels.astype(np.int64) * self.classes + self.top1_by_epoch[epoch]
        return np.bincount(pairs, minlength=self.classes**2).reshape(self.classes, self.classes)

    def metrics(self) -> dict[str, object]:
        """top-1 final, best over epochs (and its epoch, counted from 1 as the log prints it; the earliest of
        equal ones), mean of the last 5 epochs, top-5, per class."""
        top1 = [self.accuracy(row) for row in self.top1_by_epoch]
        best = max(range(len(top1)), key=lambda e: (top1[e], -e))
        last = top1[-5:]
        confusion = self.confusion()
        rows = confusion.sum(1)
        per_class = [None if rows[c] == 0 else 100.0 * float(confusion[c, c]) / float(rows[c])
                     for c in range(self.classes)]  # fmt: skip
        return {"top1_final": top1[-1], "top1_best": top1[best], "best_epoch": best + 1,
                "top1_last5": sum(last) / len(last), "top5_final": self.top5_accuracy(self.top5_final),
                "top5_at_best": self.top5_accuracy(self.top5_best), "epochs_run": len(top1),
                "per_class_final": per_class, "test_clips": len(self.labels)}  # fmt: skip

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        arrays = {"labels": self.labels, "top1_by_epoch": self.top1_by_epoch, "top5_final": self.top5_final,
                  "top5_best": self.top5_best, "classes": np.int64(self.classes)}  # fmt: skip
        np.savez_compressed(buffer, **{k: np.asarray(v) for k, v in arrays.items()})
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Predictions:
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            return cls(arrays["labels"], arrays["top1_by_epoch"], arrays["top5_final"], arrays["top5_best"],
                       int(arrays["classes"]))  # fmt: skip

    @classmethod
    def of_tally(cls, tally: Tally) -> Predictions:
        """The predictions of a single evaluation (k-NN, one epoch)."""
        labels, predicted, top5 = tally.predicted()
        return cls(labels, predicted[None], top5, top5, tally.classes)
