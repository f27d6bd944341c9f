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

from mamp_bench.config import MAX_WIDTH, require
from mamp_bench.data.specs import DatasetSpec, get_dataset, stand_in
from mamp_bench.data.transforms import test_transform, train_transform
from mamp_bench.engine.features import default_micro_batch
from mamp_bench.engine.loop import LoopSettings
from mamp_bench.engine.optim import CosineSchedule, layer_decay_groups, make_adamw
from mamp_bench.errors import UserError
from mamp_bench.evaluation.heads import Classifier, FinetuneHead, per_process_batch_norm
from mamp_bench.evaluation.protocol import MatrixEntry, Protocol, ProtocolContext, TableColumn
from mamp_bench.evaluation.subset import labelled_subset, reference_draws
from mamp_bench.evaluation.supervised import SupervisedTask, evaluate, fit, test_loader
from mamp_bench.fileio import write_json
from mamp_bench.protocols.common import (
    BENCHMARKS,
    RECIPES,
    benchmark_columns,
    check_batch_fits,
    check_fidelity,
    launched_processes,
    load_split,
    per_process_batch,
    report,
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
        ], prefix="finetune: ")  # fmt: skip


def set_drop_path(encoder: torch.nn.Module, rate: float) -> None:
    """Stochastic depth rising linearly from 0 to ``rate`` over the blocks."""
    rates = torch.linspace(0, rate, len(encoder.blocks)).tolist()
    for block, p in zip(encoder.blocks, rates, strict=True):
        block.drop_path.p = p


@PROTOCOLS.register("finetune")
class Finetune(Protocol):
    """Fine-tune the whole encoder with the MLP head (reference recipe)."""

    description = "fine-tune encoder + MLP head, layer-wise lr decay"
    Config = FinetuneConfig
    recipe = RECIPES / "finetune.toml"
    tier = 2
    columns = benchmark_columns("finetune")
    matrix = {"smoke": (MatrixEntry(("ntu60-xsub",)),), "paper": (MatrixEntry(BENCHMARKS, pretrain_seed=0),)}

    @classmethod
    def labelled_clips(cls, config: FinetuneConfig, train_clips: int) -> int:
        """How many of the training split's clips it trains on."""
        return train_clips

    @classmethod
    def check_data(cls, config: FinetuneConfig, train_clips: int) -> None:
        clips = cls.labelled_clips(config, train_clips)
        if clips < 1:
            raise UserError(f"fraction {config.fraction} of {train_clips} training clips selects nothing")
        check_batch_fits(config.batch_size, clips, cls.name, launched_processes())

    @classmethod
    def estimate_seconds(cls, config: FinetuneConfig, train_clips, test_clips, rates) -> float:
        return config.epochs * (train_clips * config.fraction / rates["train"] + test_clips / rates["encode"])

    def train_subset(self, ctx: ProtocolContext, labels: np.ndarray, config: FinetuneConfig):
        """(the training clips as dataset indices, None for all; under fidelity=reference, each
        reference process's positions among them)."""
        if config.fidelity != "reference":
            return None, None
        return None, [np.arange(len(labels))] * config.reference_processes

    def run(self, ctx: ProtocolContext, config: FinetuneConfig) -> dict:
        runtime = ctx.runtime
        encoder = ctx.make_encoder()
        set_drop_path(encoder, config.drop_path)
        window = encoder.config.frames
        train_set = load_split(ctx, "train", train_transform(window))
        indices, ranks = self.train_subset(ctx, train_set.label_array(), config)
        if indices is not None:
            train_set.indices = indices
        test_set = load_split(ctx, "test", test_transform(window))
        check_batch_fits(config.batch_size, len(train_set), self.name, runtime.world_size)
        classes = ctx.dataset.num_classes
        torch.manual_seed(ctx.seed)
        head = FinetuneHead(encoder.dim, classes, encoder.config.joints, config.hidden_dim, config.head_dropout)
        if ranks is not None:  # the head's BatchNorm normalises over one reference process's batch
            per_process_batch_norm(head, per_process_batch(config, runtime))
        chunk = default_micro_batch(runtime.device)
        model = Classifier(encoder, head, chunk, config.skip_empty_persons).to(runtime.device)
        groups = layer_decay_groups(model, encoder.config.depth, config.weight_decay, config.layer_decay)
        for group in groups:
            group.pop("names")
        optimizer = make_adamw(groups, config.lr, (config.beta1, config.beta2), runtime.device)
        loader = test_loader(test_set, config.eval_batch_size, runtime, config.workers)
        criterion = torch.nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
        task = SupervisedTask(model, optimizer, criterion, lambda: evaluate(model, loader, classes, runtime), runtime)
        schedule = CosineSchedule(config.lr, config.min_lr, config.warmup_epochs, config.epochs)
        settings = LoopSettings(config.epochs, config.batch_size, schedule, ctx.seed, config.workers, ranks)
        return report(ctx, fit(task, train_set, settings, ctx).predictions(), train_clips=len(train_set))


@PROTOCOLS.register("scratch")
class Scratch(Finetune):
    """The fine-tune recipe from a random initialisation (layer decay 1.0)."""

    description = "fine-tune recipe from random initialisation: what pretraining buys"
    encoder = "untrained"
    table = "finetune"
    columns = ()
    matrix = {"smoke": (MatrixEntry(("ntu60-xsub",)),)}


@PROTOCOLS.register("semi")
class SemiSupervised(Finetune):
    """The fine-tune recipe on a labelled fraction (1 % or 10 %) of the training set."""

    description = "fine-tune on a labelled fraction (1 % / 10 %): stratified per seed, or the scripts' draws"
    tier = 3
    setting_keys = ("fraction",)
    columns = tuple(
        TableColumn(
            f"NTU-60 {split} {percent}%", f"ntu60-{split}", (("fraction", percent / 100),), f"semi-{percent}pct"
        )  # fmt: skip
        for split in ("xsub", "xview")
        for percent in (1, 10)
    )
    _fractions = ((("fraction", "0.01"),), (("fraction", "0.1"),))
    matrix = {
        "smoke": (MatrixEntry(("ntu60-xsub",), settings=_fractions),),
        "paper": (MatrixEntry(("ntu60-xsub", "ntu60-xview"), (0, 1, 2, 3, 4), _fractions, pretrain_seed=0),),
    }

    @classmethod
    def labelled_clips(cls, config: FinetuneConfig, train_clips: int) -> int:
        return int(train_clips * config.fraction)  # the size of one labelled subset (one draw)

    def train_subset(self, ctx: ProtocolContext, labels: np.ndarray, config: FinetuneConfig):
        """clean: one class-stratified subset per seed; reference: the scripts' draws, one per process
        (NumPy seeded with seed + rank, then np.random.shuffle), each process training on its own."""
        ranks, draws = None, None
        try:
            if config.fidelity == "reference":
                seed = ctx.seed if config.subset_seed < 0 else config.subset_seed
                draws = reference_draws(len(labels), config.fraction, seed, config.reference_processes)
                subset, size = np.concatenate(draws), len(draws[0])
                ranks = [np.arange(rank * size, (rank + 1) * size) for rank in range(len(draws))]
            else:
                subset = labelled_subset(labels, config.fraction, ctx.seed)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        self._describe(ctx, labels, config, subset, draws)
        return subset, ranks

    @staticmethod
    def _describe(ctx: ProtocolContext, labels: np.ndarray, config: FinetuneConfig, subset, draws) -> None:
        distinct = np.unique(subset)
        counts = np.bincount(labels[distinct], minlength=ctx.dataset.num_classes)
        ctx.extras["subset"] = {"fraction": config.fraction, "fidelity": config.fidelity, "size": len(subset),
                                "distinct": len(distinct), "of": len(labels),
                                "classes_present": int((counts > 0).sum()), "file": "subset.json"}  # fmt: skip
        if ctx.runtime.is_main:
            content = {"fraction": config.fraction, "seed": ctx.seed, "fidelity": config.fidelity}
            if draws is None:
                content["indices"] = subset.tolist()
            else:
                content.update(subset_seed=config.subset_seed, draws=[draw.tolist() for draw in draws])
            write_json(ctx.run.path / "subset.json", content)


@PROTOCOLS.register("transfer")
class Transfer(Finetune):
    """Pretrain on a source dataset, fine-tune on PKU-MMD II xsub."""

    description = "pretrain on NTU-60/NTU-120/PKU-I, fine-tune on PKU-MMD II (paper's transfer)"
    tier = 3
    setting_keys = ("source",)
    target, default_source = "pku2-xsub", "ntu60-xsub"
    sources = (("NTU-60", "ntu60-xsub"), ("NTU-120", "ntu120-xsub"), ("PKU-I", "pku1-xsub"))
    columns = tuple(
        TableColumn(
            f"PKU-II from {label}", "pku2-xsub", (("source", source),), "transfer", f"from-{source.split('-')[0]}"
        )  # fmt: skip
        for label, source in sources
    )
    matrix = {
        "smoke": (MatrixEntry(("pku2-xsub",), sources=("ntu60-xsub",)),),
        "paper": (MatrixEntry(("pku2-xsub",), sources=tuple(source for _, source in sources), pretrain_seed=0),),
    }

    @classmethod
    def datasets(cls, dataset: str | None, source: str | None, default: str) -> tuple[DatasetSpec, DatasetSpec]:
        """The target is PKU-MMD II xsub (its stand-in on synthetic data); the source is chosen."""
        synthetic = get_dataset(default).synthetic
        source_spec = get_dataset(source or (stand_in(cls.default_source) if synthetic else cls.default_source))
        target = dataset or (stand_in(cls.target) if source_spec.synthetic else cls.target)
        return get_dataset(target), source_spec

    @classmethod
    def setting(cls, config: FinetuneConfig, target: DatasetSpec, source: DatasetSpec) -> dict:
        return {"source": source.name}
