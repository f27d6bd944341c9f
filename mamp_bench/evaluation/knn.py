"""Weighted k-NN classification on frozen features (InstDisc / DINO style)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mamp_bench.evaluation.metrics import Tally


@torch.no_grad()
def knn_classify(
    train: torch.Tensor,
    train_labels: torch.Tensor,
    test: torch.Tensor,
    test_labels: torch.Tensor,
    classes: int,
    k: int = 20,
    temperature: float = 0.07,
    chunk: int = 1024,
) -> Tally:
    """Cosine similarity to the k nearest training clips; each votes exp(similarity / T) for its class."""
    train = F.normalize(train.float(), dim=1)
    test = F.normalize(test.float(), dim=1)
    k = min(k, len(train))
    tally = Tally.empty(classes)
    for start in range(0, len(test), chunk):
        sims = test[start : start + chunk] @ train.T  # (B, N_train)
        top, idx = sims.topk(k, dim=1)
        votes = torch.zeros(len(top), classes, dtype=top.dtype)
        votes.scatter_add_(1, train_labels[idx], (top / temperature).exp())
        tally.add(votes, test_labels[start : start + chunk])
    return tally
