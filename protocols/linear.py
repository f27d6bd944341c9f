"""Linear evaluation: a frozen encoder (eval mode) and a BatchNorm + linear head trained with SGD.

As the reference's ``main_linprobe.py``: features are the final-LayerNorm output averaged over
persons, time and joints; head BatchNorm1d(D, affine=False, eps=1e-6) + Linear with weight
trunc-normal(0.01); SGD momentum 0.9, no weight decay, cosine schedule to 0 without warmup;
cross-entropy; the training clips get the pretraining augmentation; the test accuracy is computed
after every epoch and both the final and the best are reported.

Made faster without changing what is measured: the encoder runs under ``no_grad`` (no autograd
graph) and its test features, which a frozen encoder in eval mode gives identically every epoch,
are computed once. ``cache_train_features=true`` (only with ``augment=false``) also computes
the training features once: a different, much cheaper protocol, recorded as such.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mamp_bench.data.transforms import test_transform, train_transform
from mamp_bench.engine.features import encode_dataset
from mamp_bench.engine.optim import CosineSchedule
from mamp_bench.engine.step import default_micro_batch
from mamp_bench.errors import UserError
from mamp_bench.evaluation.heads import LinearHead, encode_in_chunks
from mamp_bench.evaluation.protocol import Protocol, ProtocolContext
from mamp_bench.evaluation.supervised import fit
from mamp_bench.registry import PROTOCOLS
from protocols.common import RECIPES, check_batch, evaluate_features, load_split, save_confusion, tally_metrics


@dataclass
class LinearConfig:
    epochs: int
    batch_size: int
    lr: float
    min_lr: float
    warmup_epochs: float
    momentum: float
    weight_decay: float
    augment: bool
    cache_train_features: bool
    eval_batch_size: int
    workers: int
    skip_empty_persons: bool = False  # encode absent persons once (same features; see encode_in_chunks)

    def validate(self) -> None:
        if self.cache_train_features and self.augment:
            raise UserError("cache_train_features needs augment=false (augmented features change every epoch)")
        if self.lr <= 0 or self.epochs < 1 or self.batch_size < 1:
            raise UserError("linear: lr must be positive, epochs and batch_size at least 1")


class FrozenEncoderClassifier(torch.nn.Module):
    """Clips -> pooled features of a frozen encoder (no autograd graph) -> trainable head."""

    def __init__(self, encoder: torch.nn.Module, head: LinearHead, chunk: int = 0, skip_empty: bool = False):
        super().__init__()
        self.encoder = encoder.requires_grad_(False)
        self.head = head
        self.chunk = chunk
        self.skip_empty = skip_empty

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            features = encode_in_chunks(self.encoder, x, self.chunk, self.skip_empty).mean(dim=(1, 2, 3))
        return self.head(features)


class _Features(torch.utils.data.Dataset):
    """Pre-computed (N, D) features standing in for the clips."""

    def __init__(self, features: torch.Tensor, labels: torch.Tensor):
        self.features, self.labels = features, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, item):
        i = item[0] if isinstance(item, tuple) else item
        return self.features[i], int(self.labels[i]), 0


@PROTOCOLS.register("linear")
class LinearProbe(Protocol):
    """Linear evaluation on frozen features (SGD, BN + linear head)."""

    name = "linear"
    description = "linear probe on the frozen encoder (reference recipe)"
    Config = LinearConfig
    recipe = RECIPES / "linear.toml"

    def run(self, ctx: ProtocolContext, config: LinearConfig) -> dict:
        runtime = ctx.runtime
        encoder = ctx.make_encoder().to(runtime.device).eval()
        window = encoder.config.frames
        train_tf = train_transform(window) if config.augment else test_transform(window)
        train_set = load_split(ctx, "train", train_tf)
        test_set = load_split(ctx, "test", test_transform(window))
        check_batch(config.batch_size, train_set, "linear", runtime.world_size)
        classes = ctx.dataset.num_classes
        torch.manual_seed(ctx.seed)
        head = LinearHead(encoder.dim, classes).to(runtime.device)
        chunk, skip = default_micro_batch(runtime.device), config.skip_empty_persons
        model = FrozenEncoderClassifier(encoder, head, chunk, skip)
        shard = list(range(runtime.rank, len(test_set), runtime.world_size))
        test_features, test_labels = encode_dataset(
            encoder,
            torch.utils.data.Subset(test_set, shard),
            config.eval_batch_size,
            runtime.device,
            config.workers,
            skip,
        )
        if config.cache_train_features:
            features, labels = encode_dataset(
                encoder, train_set, config.eval_batch_size, runtime.device, config.workers, skip
            )
            train_data, train_model = _Features(features, labels), head
        else:
            train_data, train_model = train_set, model
        if runtime.distributed:
            train_model = torch.nn.parallel.DistributedDataParallel(
                train_model, device_ids=[runtime.device.index] if runtime.device.type == "cuda" else None
            )
        optimizer = torch.optim.SGD(
            head.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )

        def set_train_mode() -> None:
            encoder.eval()  # the backbone stays in eval mode, only the head's BatchNorm trains
            head.train()

        history = fit(
            model=model,
            train_model=train_model,
            optimizer=optimizer,
            schedule=CosineSchedule(config.lr, config.min_lr, config.warmup_epochs, config.epochs),
            criterion=torch.nn.functional.cross_entropy,
            train_set=train_data,
            batch_size=config.batch_size,
            epochs=config.epochs,
            evaluate_epoch=lambda: evaluate_features(head, test_features, test_labels, classes, runtime),
            set_train_mode=set_train_mode,
            runtime=runtime,
            run=ctx.run,
            seed=ctx.seed,
            workers=0 if config.cache_train_features else config.workers,
            resume=ctx.resume,
            show=ctx.show,
        )
        save_confusion(ctx, "final", history.final_tally)
        save_confusion(ctx, "best", history.best_tally)
        return {**history.summary(), **tally_metrics("final", history.final_tally), "train_clips": len(train_set)}
