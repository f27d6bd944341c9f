"""Linear evaluation: a frozen encoder (eval mode) and a linear head trained with SGD.

MAMP's recipe, as the reference's ``main_linprobe.py``: features are the final-LayerNorm output averaged over
persons, time and joints; head BatchNorm1d(D, affine=False, eps=1e-6) + Linear with weight
trunc-normal(0.01); SGD momentum 0.9, no weight decay, cosine schedule to 0 without warmup;
cross-entropy; the training clips get the pretraining augmentation; the test accuracy is computed
after every epoch and both the final and the best are reported.

The GCN family's (``[paper.gcn]``, ``processor/linear_evaluation.py``): the pooled ST-GCN features of the input
stream, a plain ``fc`` Linear(256, classes) drawn by ``weights_init`` (``head = "plain"``), SGD lr 3.0 momentum
0.9 without weight decay, x0.1 from epoch 81 (``schedule = "step"``, ``lr_steps = [80]``), 100 epochs of batch
128, no augmentation, the model in eval mode, the test set evaluated every 5 epochs (``eval_every``) and the
best evaluation reported; its class scores are kept for the 3-stream ensemble.

Made faster without changing what is measured: the encoder runs under ``no_grad`` (no autograd
graph) and its test features, which a frozen encoder in eval mode gives identically every epoch,
are computed once. ``cache_train_features=true`` (only with ``augment=false``) also computes
the training features once: a different, much cheaper protocol, recorded as such.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from mamp_bench.config import choice_check, hashed_when_set, require, schedule_checks
from mamp_bench.data.transforms import test_transform, train_transform
from mamp_bench.engine.features import default_micro_batch, encode_dataset
from mamp_bench.engine.loop import LoopSettings
from mamp_bench.engine.optim import SCHEDULES, make_schedule
from mamp_bench.errors import UserError
from mamp_bench.evaluation.columns import BENCHMARKS, benchmark_columns
from mamp_bench.evaluation.heads import Classifier, LinearClassifier, LinearHead, per_process_batch_norm
from mamp_bench.evaluation.metrics import Tally
from mamp_bench.evaluation.protocol import MatrixEntry, Protocol, ProtocolContext, ProtocolResult, check_fidelity
from mamp_bench.evaluation.reference import reference_layout
from mamp_bench.evaluation.supervised import SupervisedTask, check_batch_fits, fit, keeps_scores, training_checks
from mamp_bench.registry import PROTOCOLS


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
    fidelity: str  # "reference" (the paper's scripts) or "clean" (see docs/fidelity.md)
    checkpoint_epoch: int = -1  # the pretraining epoch evaluated under fidelity=reference (-1: the final one)
    reference_processes: int = 2  # the reference's processes: its batch_size is per process, times this
    skip_empty_persons: bool = False  # encode absent persons once (same features; see encode_in_chunks)
    # the GCN family's recipe: a plain Linear head ("plain") instead of BatchNorm + Linear ("batchnorm"), the step
    # schedule (lr x 0.1 at each of lr_steps), the test set evaluated every eval_every epochs (and after the last)
    head: str = hashed_when_set("batchnorm")
    schedule: str = hashed_when_set("cosine")
    lr_steps: tuple[int, ...] = hashed_when_set(())
    eval_every: int = hashed_when_set(1)

    def validate(self) -> None:
        check_fidelity(self.fidelity, self.checkpoint_epoch, self.reference_processes)
        if self.cache_train_features and self.augment:
            raise UserError("cache_train_features needs augment=false (augmented features change every epoch)")
        if self.cache_train_features and self.fidelity == "reference":
            raise UserError("cache_train_features is not the reference's protocol: use it with fidelity=clean")
        require(self, [
            *training_checks(self),
            (0 <= self.momentum < 1, f"momentum must be in [0, 1), got {self.momentum}"),
            choice_check(self, "head", HEADS),
            *schedule_checks(self, SCHEDULES),
            (1 <= self.eval_every <= self.epochs, f"eval_every must be in [1, epochs], got {self.eval_every}"),
        ], prefix="linear: ")  # fmt: skip


#: the linear heads: MAMP's BatchNorm1d(affine=False) + Linear, the GCN processors' plain Linear
HEADS = {"batchnorm": LinearHead, "plain": LinearClassifier}


class _Features(torch.utils.data.Dataset):
    """Pre-computed (N, D) features standing in for the clips."""

    def __init__(self, features: torch.Tensor, labels: torch.Tensor):
        self.features, self.labels = features, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, item):
        i = item[0] if isinstance(item, tuple) else item
        return self.features[i], int(self.labels[i]), 0


@PROTOCOLS.register("linear", default=True)
class LinearProbe(Protocol):
    """Linear evaluation on frozen features (SGD, BN + linear head)."""

    description = "linear probe on the frozen encoder"
    Config = LinearConfig
    recipe = Path(__file__).with_name("recipes") / "linear.toml"
    encoder = "any"
    tier = 1
    runs_sweeps = True
    columns = benchmark_columns("linear")
    matrix = {
        "smoke": (MatrixEntry(("ntu60-xsub",), seeds=(0, 1, 2)),),
        "paper": (MatrixEntry(BENCHMARKS, pretrain_seed=0),),
    }

    @classmethod
    def check_data(cls, config: LinearConfig, train_clips: int, processes: int) -> None:
        check_batch_fits(config.batch_size, train_clips, "linear", processes)

    @classmethod
    def estimate_seconds(cls, config: LinearConfig, train_clips, test_clips, rates) -> float:
        epochs = 1 if config.cache_train_features else config.epochs
        return (train_clips * epochs + test_clips) / rates["encode"]

    def run(self, ctx: ProtocolContext, config: LinearConfig) -> ProtocolResult:
        runtime = ctx.runtime
        encoder = ctx.make_encoder().to(runtime.device).eval()
        window = encoder.window
        train_set = ctx.load_split("train", train_transform(window) if config.augment else test_transform(window))
        test_set = ctx.load_split("test", test_transform(window))
        classes = ctx.dataset.num_classes
        torch.manual_seed(ctx.seed)
        head = HEADS[config.head](encoder.dim, classes).to(runtime.device)
        ghost, ranks = (0, None)
        if config.fidelity == "reference":  # the head's BatchNorm normalises over one reference process's batch
            ghost, ranks = reference_layout(config, len(train_set), runtime)
            per_process_batch_norm(head, ghost)
        chunk, skip = default_micro_batch(runtime.device), config.skip_empty_persons
        shard = torch.utils.data.Subset(test_set, list(range(runtime.rank, len(test_set), runtime.world_size)))
        test_features, test_labels = encode_dataset(
            encoder, shard, config.eval_batch_size, runtime.device, config.workers, skip
        )
        if config.cache_train_features:
            features, labels = encode_dataset(
                encoder, train_set, config.eval_batch_size, runtime.device, config.workers, skip
            )
            train_data, model = _Features(features, labels), head
        else:
            train_data, model = train_set, Classifier(encoder, head, chunk, skip, frozen=True)
        optimizer = torch.optim.SGD(
            head.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )

        def train_mode() -> None:
            encoder.eval()  # the backbone stays in eval mode, only the head's BatchNorm trains
            head.train()

        keep = keeps_scores(encoder)
        task = SupervisedTask(
            model,
            optimizer,
            torch.nn.functional.cross_entropy,
            lambda: evaluate_features(head, test_features, test_labels, classes, runtime, keep),
            runtime,
            train_mode=train_mode,
            eval_every=config.eval_every,
            epochs=config.epochs,
        )
        workers = 0 if config.cache_train_features else config.workers
        settings = LoopSettings(config.epochs, config.batch_size, make_schedule(config), ctx.seed, workers, ranks)
        return fit(task, train_data, settings, ctx)


@torch.inference_mode()
def evaluate_features(
    head: torch.nn.Module, features: torch.Tensor, labels: torch.Tensor, classes: int, runtime, keep_scores=False
) -> Tally:
    """Logits of a head on pre-computed features, tallied (and summed over processes)."""
    head.eval()
    tally = Tally.empty(classes, keep_scores)
    for start in range(0, len(features), 4096):
        logits = head(features[start : start + 4096].to(runtime.device))
        y = labels[start : start + 4096]
        loss = torch.nn.functional.cross_entropy(logits.float(), y.to(logits.device), reduction="sum")
        tally.add(logits, y, float(loss))
    return tally.reduce(runtime)
