"""Fine-tuning protocols: finetune, semi (labelled fraction), transfer (to PKU-MMD II), scratch.

As the reference's ``main_finetune.py``: the whole encoder with drop path 0.3 (linear over the
blocks) and the fine-tune head (dropout 0.3, mean over time, 25 joints x D concatenated, mean over
persons, D*25 -> 2048 -> BN -> ReLU -> classes); AdamW (0.9, 0.999), weight decay 0.05 except 1-D
parameters; layer-wise lr decay 0.8 over the 9 layer ids; lr 3e-4 with 5 warmup epochs then
cosine to 1e-5; label smoothing 0.1; 100 epochs of batch 48. ``scratch`` is the same from a random
initialisation with layer decay 1.0; ``semi`` trains on a class-stratified labelled fraction chosen
per seed (the reference's subset depends on the process rank instead); ``transfer`` pretrains on
NTU-60 xsub (or ``--source``) and fine-tunes on PKU-MMD II xsub.

Deliberate difference: the head has as many outputs as the dataset has classes (the reference's
PKU-I configuration declares 60 for 51 classes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mamp_bench.data.transforms import test_transform, train_transform
from mamp_bench.engine.optim import CosineSchedule
from mamp_bench.engine.step import default_micro_batch
from mamp_bench.errors import UserError
from mamp_bench.evaluation.heads import Classifier, FinetuneHead
from mamp_bench.evaluation.optim import layer_decay_groups
from mamp_bench.evaluation.protocol import Protocol, ProtocolContext
from mamp_bench.evaluation.subset import labelled_subset
from mamp_bench.evaluation.supervised import evaluate, fit, test_loader
from mamp_bench.fileio import write_json
from mamp_bench.registry import PROTOCOLS
from protocols.common import RECIPES, check_batch, load_split, save_confusion, tally_metrics


@dataclass
class FinetuneConfig:
    epochs: int
    batch_size: int
    lr: float
    min_lr: float
    warmup_epochs: float
    weight_decay: float
    beta1: float
    beta2: float
    layer_decay: float
    drop_path: float
    head_dropout: float
    hidden_dim: int
    label_smoothing: float
    fraction: float  # labelled fraction of the training set (semi); 1.0 elsewhere
    eval_batch_size: int
    workers: int
    # encode absent persons once: same test features; in training they share one drop-path draw
    skip_empty_persons: bool = False

    def validate(self) -> None:
        if not 0 < self.fraction <= 1:
            raise UserError(f"fraction must be in (0, 1], got {self.fraction}")
        if self.lr <= 0 or self.epochs < 1 or self.batch_size < 1:
            raise UserError("finetune: lr must be positive, epochs and batch_size at least 1")
        if not 0 <= self.drop_path < 1 or not 0 <= self.head_dropout < 1:
            raise UserError("drop_path and head_dropout must be in [0, 1)")
        if not 0 < self.layer_decay <= 1:
            raise UserError(f"layer_decay must be in (0, 1], got {self.layer_decay}")


def set_drop_path(encoder: torch.nn.Module, rate: float) -> None:
    """Stochastic depth rising linearly from 0 to ``rate`` over the blocks."""
    rates = torch.linspace(0, rate, len(encoder.blocks)).tolist()
    for block, p in zip(encoder.blocks, rates, strict=True):
        block.drop_path.p = p


@PROTOCOLS.register("finetune")
class Finetune(Protocol):
    """Fine-tune the whole encoder with the MLP head (reference recipe)."""

    name = "finetune"
    description = "fine-tune encoder + MLP head, layer-wise lr decay (reference recipe)"
    Config = FinetuneConfig
    recipe = RECIPES / "finetune.toml"

    def train_indices(self, ctx: ProtocolContext, labels: np.ndarray, config: FinetuneConfig) -> np.ndarray | None:
        return None

    def run(self, ctx: ProtocolContext, config: FinetuneConfig) -> dict:
        runtime = ctx.runtime
        encoder = ctx.make_encoder()
        set_drop_path(encoder, config.drop_path)
        window = encoder.config.frames
        train_set = load_split(ctx, "train", train_transform(window))
        indices = self.train_indices(ctx, train_set.label_array(), config)
        if indices is not None:
            train_set.indices = indices
        test_set = load_split(ctx, "test", test_transform(window))
        check_batch(config.batch_size, train_set, self.name, runtime.world_size)
        classes = ctx.dataset.num_classes
        torch.manual_seed(ctx.seed)
        head = FinetuneHead(encoder.dim, classes, encoder.config.joints, config.hidden_dim, config.head_dropout)
        chunk = default_micro_batch(runtime.device)
        model = Classifier(encoder, head, chunk, config.skip_empty_persons).to(runtime.device)
        groups = layer_decay_groups(model, encoder.config.depth, config.weight_decay, config.layer_decay)
        for group in groups:
            group.pop("names")
        optimizer = torch.optim.AdamW(groups, lr=config.lr, betas=(config.beta1, config.beta2))
        train_model = model
        if runtime.distributed:
            train_model = torch.nn.parallel.DistributedDataParallel(
                model, device_ids=[runtime.device.index] if runtime.device.type == "cuda" else None
            )
        loader = test_loader(test_set, config.eval_batch_size, runtime, config.workers)
        history = fit(
            model=model,
            train_model=train_model,
            optimizer=optimizer,
            schedule=CosineSchedule(config.lr, config.min_lr, config.warmup_epochs, config.epochs),
            criterion=torch.nn.CrossEntropyLoss(label_smoothing=config.label_smoothing),
            train_set=train_set,
            batch_size=config.batch_size,
            epochs=config.epochs,
            evaluate_epoch=lambda: evaluate(model, loader, classes, runtime),
            set_train_mode=model.train,
            runtime=runtime,
            run=ctx.run,
            seed=ctx.seed,
            workers=config.workers,
            resume=ctx.resume,
            show=ctx.show,
        )
        save_confusion(ctx, "final", history.final_tally)
        save_confusion(ctx, "best", history.best_tally)
        return {**history.summary(), **tally_metrics("final", history.final_tally), "train_clips": len(train_set)}


@PROTOCOLS.register("scratch")
class Scratch(Finetune):
    """The fine-tune recipe from a random initialisation (layer decay 1.0)."""

    name = "scratch"
    description = "fine-tune recipe from random initialisation: what pretraining buys"
    uses_pretraining = False


@PROTOCOLS.register("semi")
class SemiSupervised(Finetune):
    """The fine-tune recipe on a labelled fraction (1 % or 10 %) of the training set."""

    name = "semi"
    description = "fine-tune on a class-stratified labelled fraction (1 % / 10 %), per seed"

    def train_indices(self, ctx: ProtocolContext, labels: np.ndarray, config: FinetuneConfig) -> np.ndarray:
        try:
            subset = labelled_subset(labels, config.fraction, ctx.seed)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        counts = np.bincount(labels[subset], minlength=ctx.dataset.num_classes)
        ctx.extras["subset"] = {
            "fraction": config.fraction,
            "size": len(subset),
            "of": len(labels),
            "classes_present": int((counts > 0).sum()),
            "file": "subset.json",
        }
        if ctx.runtime.is_main:
            write_json(
                ctx.run.path / "subset.json",
                {"fraction": config.fraction, "seed": ctx.seed, "indices": subset.tolist()},
            )
        return subset


@PROTOCOLS.register("transfer")
class Transfer(Finetune):
    """Pretrain on a source dataset, fine-tune on PKU-MMD II xsub."""

    name = "transfer"
    description = "pretrain on NTU-60/NTU-120/PKU-I, fine-tune on PKU-MMD II (paper's transfer)"
    default_source = "ntu60-xsub"
    default_target = "pku2-xsub"
