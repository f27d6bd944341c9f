"""Fine-tuning: the whole encoder and an MLP head, as the reference's ``main_finetune.py``.

The ``scratch``, ``semi`` and ``transfer`` protocols are this recipe with another encoder, labelled
subset or dataset (their own modules). As the reference: the whole encoder with drop path 0.3 (linear over the
blocks) and the fine-tune head (dropout 0.3, mean over time, 25 joints x D concatenated, mean over
persons, D*25 -> 2048 -> BN -> ReLU -> classes); AdamW (0.9, 0.999), weight decay 0.05 except 1-D
parameters; layer-wise lr decay 0.8 over the 9 layer ids; lr 3e-4 with 5 warmup epochs then
cosine to 1e-5; label smoothing 0.1; 100 epochs of batch 48.

Deliberate difference: the head has as many outputs as the dataset has classes (the reference's
PKU-I configuration declares 60 for 51 classes).

The GCN family's recipe (``[paper.gcn]``; ``processor/finetune_evaluation.py``, for which no config ships: its
parser's defaults, with the linear configs' data, batch and evaluation): the whole ST-GCN and a plain ``fc``
(``head = "plain"``), SGD lr 0.01 momentum 0.9 with Nesterov, weight decay 1e-4 on every parameter, a constant
lr, 80 epochs of batch 128, no augmentation, the model in eval mode while it trains (``eval_mode_training``:
BatchNorm on its running statistics, no dropout), the test set every 5 epochs and the best evaluation reported.
Its semi-supervised processor (only its bytecode ships) adds gradient clipping at norm 2 (``clip_grad_norm``) and
draws round(fraction x n) clips of each class (``per_class_draws``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mamp_bench.config import MAX_WIDTH, choice_check, hashed_when_set, require, schedule_checks
from mamp_bench.data.transforms import test_transform, train_transform
from mamp_bench.engine.features import default_micro_batch
from mamp_bench.engine.loop import LoopSettings
from mamp_bench.engine.optim import (
    OPTIMIZERS,
    SCHEDULES,
    layer_decay_groups,
    make_adamw,
    make_schedule,
    make_sgd,
    weight_decay_groups,
)
from mamp_bench.errors import UserError
from mamp_bench.evaluation.columns import BENCHMARKS, benchmark_columns
from mamp_bench.evaluation.heads import Classifier, FinetuneHead, LinearClassifier, per_process_batch_norm
from mamp_bench.evaluation.protocol import MatrixEntry, Protocol, ProtocolContext, ProtocolResult, check_fidelity
from mamp_bench.evaluation.reference import per_process_batch
from mamp_bench.evaluation.supervised import (
    SupervisedTask,
    check_batch_fits,
    evaluate,
    fit,
    keeps_scores,
    test_loader,
    training_checks,
)
from mamp_bench.registry import PROTOCOLS


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
    fidelity: str  # "reference" (the paper's scripts) or "clean" (see docs/fidelity.md)
    checkpoint_epoch: int = -1  # the pretraining epoch evaluated under fidelity=reference (-1: the final one)
    reference_processes: int = 2  # the reference's processes: its batch_size is per process, times this
    subset_seed: int = -1  # semi, fidelity=reference: NumPy seed of the reference's draws (-1: the run's seed)
    # encode absent persons once: same test features; in training they share one drop-path draw
    skip_empty_persons: bool = False
    # the GCN family's recipe: a plain Linear head ("plain") instead of MAMP's MLP head ("mlp"); SGD with this
    # momentum (and Nesterov) instead of AdamW; weight decay on every parameter (no layer decay); the step
    # schedule; the test set every eval_every epochs; the model in eval mode while it trains; the gradients'
    # norm clipped (0: not); semi: round(fraction x n) clips of each class instead of a stratified draw
    head: str = hashed_when_set("mlp")
    optimizer: str = hashed_when_set("adamw")
    momentum: float = hashed_when_set(0.9)
    nesterov: bool = hashed_when_set(False)
    decay_all: bool = hashed_when_set(False)
    schedule: str = hashed_when_set("cosine")
    lr_steps: tuple[int, ...] = hashed_when_set(())
    eval_every: int = hashed_when_set(1)
    eval_mode_training: bool = hashed_when_set(False)
    clip_grad_norm: float = hashed_when_set(0.0)
    per_class_draws: bool = hashed_when_set(False)

    def validate(self) -> None:
        check_fidelity(self.fidelity, self.checkpoint_epoch, self.reference_processes)
        require(self, [
            (0 < self.fraction <= 1, f"fraction must be in (0, 1], got {self.fraction}"),
            *training_checks(self),
            (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1, f"beta1 and beta2 must be in [0, 1), got {self.beta1}, "
                                                          f"{self.beta2}"),
            (0 < self.layer_decay <= 1, f"layer_decay must be in (0, 1], got {self.layer_decay}"),
            (0 <= self.drop_path < 1, f"drop_path must be in [0, 1), got {self.drop_path}"),
            (0 <= self.head_dropout < 1, f"head_dropout must be in [0, 1), got {self.head_dropout}"),
            (1 <= self.hidden_dim <= MAX_WIDTH, f"hidden_dim must be in [1, {MAX_WIDTH}], got {self.hidden_dim}"),
            (0 <= self.label_smoothing <= 1, f"label_smoothing must be in [0, 1], got {self.label_smoothing}"),
            choice_check(self, "head", HEADS),
            choice_check(self, "optimizer", OPTIMIZERS),
            (0 <= self.momentum < 1, f"momentum must be in [0, 1), got {self.momentum}"),
            (not self.nesterov or (self.optimizer == "sgd" and self.momentum > 0), "nesterov needs optimizer=sgd "
                                                                                   "with a momentum"),
            (not self.decay_all or self.layer_decay == 1, "decay_all gives every parameter one group: layer_decay "
                                                          "must be 1"),
            *schedule_checks(self, SCHEDULES),
            (1 <= self.eval_every <= self.epochs, f"eval_every must be in [1, epochs], got {self.eval_every}"),
            (self.clip_grad_norm >= 0, f"clip_grad_norm must be >= 0 (0: off), got {self.clip_grad_norm}"),
        ], prefix="finetune: ")  # fmt: skip


#: the fine-tuning heads: MAMP's MLP head, the GCN processors' plain Linear
HEADS = ("mlp", "plain")


@dataclass
class TrainSubset:
    """The clips a fine-tuning run trains on."""

    indices: np.ndarray | None  # dataset indices (None: the whole training split)
    reference_ranks: list[np.ndarray] | None  # fidelity=reference: each reference process's positions among them
    extras: dict[str, Any] = field(default_factory=dict)  # what the record says of the subset


def set_drop_path(encoder: torch.nn.Module, rate: float) -> None:
    """Stochastic depth rising linearly from 0 to ``rate`` over the blocks (the transformer's); 0 leaves an
    encoder without it as it is."""
    blocks = getattr(encoder, "blocks", ())
    if not all(hasattr(block, "drop_path") for block in blocks) or not blocks:
        if rate:
            raise UserError(f"drop_path is the transformer's stochastic depth; the {encoder.name} encoder has none: "
                            "set drop_path=0")  # fmt: skip
        return
    rates = torch.linspace(0, rate, len(blocks)).tolist()
    for block, p in zip(blocks, rates, strict=True):
        block.drop_path.p = p


def make_head(encoder: torch.nn.Module, classes: int, config: FinetuneConfig) -> torch.nn.Module:
    """The recipe's head on the encoder: MAMP's MLP head (on the token map of an encoder that gives one, else on
    its pooled features), or the GCN processors' plain Linear."""
    if config.head == "plain":
        return LinearClassifier(encoder.dim, classes)
    joints = encoder.config.joints if encoder.tokens else 0
    return FinetuneHead(encoder.dim, classes, joints, config.hidden_dim, config.head_dropout)


def optimizer_of(model: Classifier, config: FinetuneConfig, device: torch.device) -> torch.optim.Optimizer:
    """The recipe's optimizer over the classifier: its parameter groups (one decaying group with ``decay_all``;
    else no decay on 1-D parameters, and MAMP's layer-wise lr decay over the transformer's layers), AdamW or
    SGD."""
    depth = getattr(model.encoder.config, "depth", None)
    if config.decay_all:
        groups = [{"params": [p for p in model.parameters() if p.requires_grad], "weight_decay": config.weight_decay}]
    elif isinstance(depth, int):
        groups = layer_decay_groups(model, depth, config.weight_decay, config.layer_decay)
        for group in groups:
            group.pop("names")
    elif config.layer_decay == 1:
        groups = weight_decay_groups(model, config.weight_decay)
    else:
        raise UserError(f"layer_decay is over the transformer's layers; the {model.encoder.name} encoder has none: "
                        "set layer_decay=1")  # fmt: skip
    if config.optimizer == "sgd":
        return make_sgd(groups, config.lr, config.momentum, nesterov=config.nesterov)
    return make_adamw(groups, config.lr, (config.beta1, config.beta2), device)


@PROTOCOLS.register("finetune")
class Finetune(Protocol):
    """Fine-tune the whole encoder with the MLP head (reference recipe)."""

    description = "fine-tune encoder + MLP head, layer-wise lr decay"
    Config = FinetuneConfig
    recipe = Path(__file__).with_name("recipes") / "finetune.toml"
    tier = 2
    columns = benchmark_columns("finetune")
    matrix = {"smoke": (MatrixEntry(("ntu60-xsub",)),), "paper": (MatrixEntry(BENCHMARKS, pretrain_seed=0),)}

    @classmethod
    def labelled_clips(cls, config: FinetuneConfig, train_clips: int) -> int:
        """How many of the training split's clips it trains on."""
        return train_clips

    @classmethod
    def check_data(cls, config: FinetuneConfig, train_clips: int, processes: int) -> None:
        clips = cls.labelled_clips(config, train_clips)
        if clips < 1:
            raise UserError(f"fraction {config.fraction} of {train_clips} training clips selects nothing")
        check_batch_fits(config.batch_size, clips, cls.name, processes)

    @classmethod
    def estimate_seconds(cls, config: FinetuneConfig, train_clips, test_clips, rates) -> float:
        return config.epochs * (train_clips * config.fraction / rates["train"] + test_clips / rates["encode"])

    def train_subset(self, ctx: ProtocolContext, labels: np.ndarray, config: FinetuneConfig) -> TrainSubset:
        """The training clips (all of them here; ``semi`` draws a labelled fraction)."""
        ranks = [np.arange(len(labels))] * config.reference_processes if config.fidelity == "reference" else None
        return TrainSubset(None, ranks)

    def run(self, ctx: ProtocolContext, config: FinetuneConfig) -> ProtocolResult:
        runtime = ctx.runtime
        encoder = ctx.make_encoder()
        set_drop_path(encoder, config.drop_path)
        window = encoder.window
        train_set = ctx.load_split("train", train_transform(window))
        subset = self.train_subset(ctx, train_set.label_array(), config)
        if subset.indices is not None:
            train_set.indices = subset.indices
        ranks = subset.reference_ranks
        test_set = ctx.load_split("test", test_transform(window))
        classes = ctx.dataset.num_classes
        torch.manual_seed(ctx.seed)
        head = make_head(encoder, classes, config)
        if ranks is not None:  # the head's BatchNorm normalises over one reference process's batch
            per_process_batch_norm(head, per_process_batch(config, runtime))
        chunk = default_micro_batch(runtime.device)
        model = Classifier(encoder, head, chunk, config.skip_empty_persons).to(runtime.device)
        optimizer = optimizer_of(model, config, runtime.device)
        loader = test_loader(test_set, config.eval_batch_size, runtime, config.workers)
        criterion = torch.nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
        keep = keeps_scores(encoder)
        task = SupervisedTask(model, optimizer, criterion, lambda: evaluate(model, loader, classes, runtime, keep),
                              runtime, train_mode=model.eval if config.eval_mode_training else None,
                              eval_every=config.eval_every, epochs=config.epochs,
                              clip_grad_norm=config.clip_grad_norm)  # fmt: skip
        settings = LoopSettings(config.epochs, config.batch_size, make_schedule(config), ctx.seed, config.workers,
                                ranks)  # fmt: skip
        result = fit(task, train_set, settings, ctx)
        result.extras.update(subset.extras)
        return result
