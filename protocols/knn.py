"""k-NN accuracy on frozen features: cheap, and common in self-supervised work as a monitor.

Features as the linear probe's (final LayerNorm, mean over persons, time and joints) with the
test-time transform for both splits; cosine similarity; the k = 20 nearest training clips vote
with weight exp(similarity / 0.07) (Wu et al. 2018; DINO). The classifier lives here with its
protocol, as a model file holds its model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from mamp_bench.config import MAX_BATCH, MAX_WORKERS, require
from mamp_bench.data.transforms import test_transform
from mamp_bench.engine.features import encode_dataset
from mamp_bench.evaluation.columns import BENCHMARKS, benchmark_columns
from mamp_bench.evaluation.metrics import Predictions, Tally
from mamp_bench.evaluation.protocol import (
    MatrixEntry,
    Protocol,
    ProtocolContext,
    ProtocolResult,
    check_fidelity,
    single_evaluation,
)
from mamp_bench.registry import PROTOCOLS


@dataclass
class KnnConfig:
    k: int
    temperature: float
    batch_size: int
    workers: int
    fidelity: str  # "reference": the pretraining epoch the paper's scripts evaluate; "clean": the final one
    checkpoint_epoch: int = -1  # the pretraining epoch evaluated under fidelity=reference (-1: the final one)
    skip_empty_persons: bool = False  # encode absent persons once (same features; see encode_in_chunks)

    def validate(self) -> None:
        check_fidelity(self.fidelity, self.checkpoint_epoch)
        # k votes of exp(similarity / T) with similarity <= 1 must stay below float32's maximum
        coldest = 1 / math.log(torch.finfo(torch.float32).max / min(max(self.k, 1), MAX_NEIGHBOURS))
        require(self, [
            (1 <= self.k <= MAX_NEIGHBOURS, f"k must be >= 1 and at most {MAX_NEIGHBOURS}, got {self.k}"),
            (self.temperature >= coldest,
             f"temperature must be >= {coldest:.4f} (below, {self.k} votes of exp(1 / T) overflow float32), "
             f"got {self.temperature}"),
            (1 <= self.batch_size <= MAX_BATCH, f"batch_size must be in [1, {MAX_BATCH}], got {self.batch_size}"),
            (0 <= self.workers <= MAX_WORKERS, f"workers must be in [0, {MAX_WORKERS}], got {self.workers}"),
        ], prefix="knn: ")  # fmt: skip


#: more neighbours than the largest training split (NTU-120 xsub: 63,026 clips) has clips
MAX_NEIGHBOURS = 1_000_000


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


@PROTOCOLS.register("knn")
class Knn(Protocol):
    """Weighted k-NN on frozen features."""

    description = "weighted k-NN (cosine, k=20, T=0.07) on frozen features"
    Config = KnnConfig
    recipe = Path(__file__).with_name("recipes") / "knn.toml"
    encoder = "any"
    tier = 1
    runs_sweeps = True
    columns = benchmark_columns(None)
    matrix = {
        "smoke": (MatrixEntry(("ntu60-xsub",), seeds=(0, 1, 2)),),
        "paper": (MatrixEntry(BENCHMARKS, pretrain_seed=0),),
    }

    def run(self, ctx: ProtocolContext, config: KnnConfig) -> ProtocolResult:
        device = ctx.runtime.device
        encoder = ctx.make_encoder().to(device).eval()
        transform = test_transform(encoder.window)
        train = ctx.load_split("train", transform)
        test = ctx.load_split("test", transform)
        skip = config.skip_empty_persons
        train_f, train_y = encode_dataset(encoder, train, config.batch_size, device, config.workers, skip)
        test_f, test_y = encode_dataset(encoder, test, config.batch_size, device, config.workers, skip)
        tally = knn_classify(train_f, train_y, test_f, test_y, ctx.dataset.num_classes, config.k, config.temperature)
        predictions = Predictions.of_tally(tally)
        return single_evaluation(ctx, predictions, train_clips=len(train), features_dim=int(train_f.shape[1]))
