"""k-NN accuracy on frozen features: cheap, and common in self-supervised work as a monitor.

Features as the linear probe's (final LayerNorm, mean over persons, time and joints) with the
test-time transform for both splits; cosine similarity; the k = 20 nearest training clips vote
with weight exp(similarity / 0.07) (Wu et al. 2018; DINO).
"""

from __future__ import annotations

from dataclasses import dataclass

from mamp_bench.data.transforms import test_transform
from mamp_bench.engine.features import encode_dataset
from mamp_bench.errors import UserError
from mamp_bench.evaluation.knn import knn_classify
from mamp_bench.evaluation.protocol import Protocol, ProtocolContext
from mamp_bench.registry import PROTOCOLS
from protocols.common import RECIPES, load_split, save_confusion


@dataclass
class KnnConfig:
    k: int
    temperature: float
    batch_size: int
    workers: int
    skip_empty_persons: bool = False  # encode absent persons once (same features; see encode_in_chunks)

    def validate(self) -> None:
        if self.k < 1 or self.temperature <= 0:
            raise UserError("knn: k must be >= 1 and temperature positive")


@PROTOCOLS.register("knn")
class Knn(Protocol):
    """Weighted k-NN on frozen features."""

    name = "knn"
    description = "weighted k-NN (cosine, k=20, T=0.07) on frozen features"
    Config = KnnConfig
    recipe = RECIPES / "knn.toml"

    def run(self, ctx: ProtocolContext, config: KnnConfig) -> dict:
        device = ctx.runtime.device
        encoder = ctx.make_encoder().to(device).eval()
        transform = test_transform(encoder.config.frames)
        train = load_split(ctx, "train", transform)
        test = load_split(ctx, "test", transform)
        skip = config.skip_empty_persons
        train_f, train_y = encode_dataset(encoder, train, config.batch_size, device, config.workers, skip)
        test_f, test_y = encode_dataset(encoder, test, config.batch_size, device, config.workers, skip)
        tally = knn_classify(train_f, train_y, test_f, test_y, ctx.dataset.num_classes, config.k, config.temperature)
        save_confusion(ctx, "final", tally)
        return {
            "top1": tally.top1,
            "top5": tally.top5,
            "top1_final": tally.top1,
            "top1_best": tally.top1,
            "per_class_final": tally.per_class(),
            "test_clips": tally.count,
            "train_clips": len(train),
            "features_dim": int(train_f.shape[1]),
        }
