"""The one training loop of the suite: pretraining and every supervised protocol run through it.

Epochs of steps over a sharded loader (the same global batches on 1 or N processes) with a
per-iteration learning rate; after every epoch the task evaluates and the loop hands the epoch's record
to its services. A run supplies a ``TrainingTask`` (its model and optimizer, what one step does, what to
evaluate after an epoch, what else its checkpoints hold); services hook around the loop
(``LoopService``): checkpoints and resume (``checkpointing.py``), metric logs (``metric_logs.py``), the
progress display (``Progress``, here) and the fault points of the kill tests (``faults.FaultPoints``).
``train`` runs the loop in a run folder with those services.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from mamp_bench.console import echo, progress_bar
from mamp_bench.engine.checkpointing import Checkpoints
from mamp_bench.engine.distributed import Runtime
from mamp_bench.engine.metric_logs import MetricLogs
from mamp_bench.engine.optim import CosineSchedule, StepSchedule, set_lr
from mamp_bench.engine.run_folder import RunFolder
from mamp_bench.engine.sampler import ReferenceSampler, ShardedSampler
from mamp_bench.errors import UserError
from mamp_bench.faults import FaultPoints


class TrainingDiverged(UserError):
    """The loss became NaN or infinite."""


class NonFiniteLoss(Exception):
    """Raised by a step whose loss is NaN or infinite (before the optimizer is touched)."""

    def __init__(self, value: float):
        super().__init__(f"loss is {value}")
        self.value = value


class TrainingTask:
    """What one training run supplies to the loop (override what differs)."""

    #: names the fault point (``<kind>-step``) and the checkpoints' ``kind``
    kind: str = "train"
    model: torch.nn.Module  # its state is checkpointed and restored
    optimizer: torch.optim.Optimizer

    def train_mode(self) -> None:
        self.model.train()

    def step(self, x: torch.Tensor, y: torch.Tensor, seeds: torch.Tensor) -> float:
        """Forward, backward and optimizer step on one batch; the loss (``NonFiniteLoss`` if not finite)."""
        raise NotImplementedError

    def after_step(self, progress: float) -> None:
        """After each optimizer step, with the training progress in (0, 1]."""

    def end_epoch(self, epoch: int) -> dict[str, float]:
        """After each epoch (every process): metrics to log, e.g. a test evaluation."""
        return {}

    def checkpoint_state(self, record: dict[str, Any]) -> dict[str, Any]:
        """Entries a checkpoint holds besides model, optimizer, epoch and RNG state."""
        return {}

    def restore(self, state: dict[str, Any]) -> None:
        """Restore what ``checkpoint_state`` saved."""

    def keeps(self, epoch: int) -> bool:
        """Whether ``checkpoint-<epoch>.pth`` is kept beside ``checkpoint-last.pth``."""
        return False


class LoopService(Protocol):
    """Something that runs around the loop without changing what it computes."""

    def start(self, first_epoch: int, steps_per_epoch: int) -> None:
        """Before the first epoch (``first_epoch`` > 0: a resumed run)."""

    def step(self, step: int, values: dict[str, float]) -> None:
        """After optimizer step ``step`` (counted from 1 over the whole run): its loss, lr and clips/s."""

    def epoch(self, step: int, record: dict[str, Any]) -> None:
        """After an epoch (``record``: its epoch, loss, lr, throughput and the task's evaluation)."""

    def close(self) -> None:
        """After the last epoch, or when the loop stops on an error."""


@dataclass
class LoopSettings:
    epochs: int
    batch_size: int  # over all processes
    schedule: CosineSchedule | StepSchedule  # the lr at a fractional epoch
    seed: int
    workers: int
    #: the reference's process layout: each of its processes' dataset positions (see ReferenceSampler);
    #: None: the suite's own sampler, whose batches do not depend on the number of processes
    reference_ranks: list[np.ndarray] | None = None


def train_loop(
    task: TrainingTask,
    dataset: Dataset,
    settings: LoopSettings,
    runtime: Runtime,
    services: Sequence[LoopService] = (),
    start_epoch: int = 0,
) -> None:
    """Train ``task`` from ``start_epoch`` to ``settings.epochs``, telling ``services`` what happens."""
    loader, sampler = sharded_loader(dataset, settings, runtime)
    steps = sampler.steps
    for service in services:
        service.start(start_epoch, steps)
    try:
        for epoch in range(start_epoch, settings.epochs):
            sampler.set_epoch(epoch)
            task.train_mode()
            meter, loss_sum, lr = Throughput(), 0.0, settings.schedule(epoch)
            for step, (x, y, seeds) in enumerate(loader):
                lr = settings.schedule(epoch + step / steps)
                set_lr(task.optimizer, lr)
                x, y = to_device(x, runtime.device), y.to(runtime.device, non_blocking=True)
                try:
                    loss = task.step(x, y, seeds)
                except NonFiniteLoss as exc:
                    raise TrainingDiverged(f"loss became {exc.value} at epoch {epoch} step {step}; stopped") from None
                global_step = epoch * steps + step + 1
                task.after_step(global_step / (settings.epochs * steps))
                loss_sum += loss
                meter.add(len(y) * runtime.world_size)
                for service in services:
                    service.step(global_step, {"loss": loss, "lr": lr, "clips_per_s": meter.rate})
            record = {"epoch": epoch, "loss": runtime.mean(loss_sum / max(steps, 1)), "lr": lr,
                      "clips_per_s": meter.rate, "seconds": meter.seconds, **task.end_epoch(epoch)}  # fmt: skip
            for service in services:
                service.epoch((epoch + 1) * steps, record)
            runtime.barrier()
    finally:
        for service in services:
            service.close()


def train(task: TrainingTask, dataset: Dataset, settings: LoopSettings, runtime: Runtime, run: RunFolder, *,
          show: bool, allow_unverified: bool = False) -> list[dict[str, Any]]:  # fmt: skip
    """Train in a run folder, continuing from its ``checkpoint-last.pth`` when it has one (verified against
    the log, unless ``allow_unverified``), with checkpoints, metric logs, progress and fault points; the
    run's per-epoch records (its ``log.jsonl``)."""
    checkpoints = Checkpoints(task, run, runtime.is_main)
    start = checkpoints.resume(show, allow_unverified)
    services = [MetricLogs(run.path, runtime.is_main), checkpoints, Progress(task.kind, settings.epochs, show),
                FaultPoints(f"{task.kind}-step")]  # fmt: skip
    try:
        train_loop(task, dataset, settings, runtime, services, start)
    except TrainingDiverged as exc:
        raise TrainingDiverged(f"{exc}, the last good checkpoint is {checkpoints.last_good()}") from None
    return run.log_records()


class Progress:
    """A progress bar on a terminal; one line per epoch otherwise."""

    def __init__(self, kind: str, epochs: int, show: bool):
        self.kind, self.epochs, self.show = kind, epochs, show
        self.bar = progress_bar(show)

    def start(self, first_epoch: int, steps_per_epoch: int) -> None:
        self.steps = steps_per_epoch
        self.bar.__enter__()
        total = max(1, (self.epochs - first_epoch) * steps_per_epoch)
        self.task = self.bar.add_task(self.kind, total=total, status="")

    def step(self, step: int, values: dict[str, float]) -> None:
        epoch = (step - 1) // self.steps
        self.bar.update(self.task, advance=1, description=f"epoch {epoch + 1}/{self.epochs}",
                        status=f"loss {values['loss']:.4f} lr {values['lr']:.2e} "
                               f"{values['clips_per_s']:.1f} clips/s")  # fmt: skip

    def epoch(self, step: int, record: dict[str, Any]) -> None:
        echo(f"epoch {record['epoch'] + 1}/{self.epochs}  " + describe(record), self.show and self.bar.disable)

    def close(self) -> None:
        self.bar.__exit__(None, None, None)


def describe(record: dict[str, Any]) -> str:
    text = f"loss {record['loss']:.4f}  lr {record['lr']:.2e}  {record['clips_per_s']:.1f} clips/s"
    if "top1" in record:
        text += f"  test top-1 {record['top1']:.2f}  top-5 {record['top5']:.2f}"
    return text


class Throughput:
    """Clips per second since it was made."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.samples = 0

    def add(self, n: int) -> None:
        self.samples += n

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.start

    @property
    def rate(self) -> float:
        return self.samples / max(self.seconds, 1e-9)


def to_device(inputs: torch.Tensor | dict[str, torch.Tensor], device: torch.device):
    """A batch's inputs on ``device``: a tensor, or a dict of tensors (raw clips and their draws,
    ``data/batched_transform.py``)."""
    if isinstance(inputs, dict):
        return {key: value.to(device, non_blocking=True) for key, value in inputs.items()}
    return inputs.to(device, non_blocking=True)


def sharded_loader(dataset: Dataset, settings: LoopSettings, runtime: Runtime) -> tuple[DataLoader, Sampler]:
    """A loader whose step ``s`` over all processes is global batch ``s`` (``ShardedSampler``, or the
    reference's layout, ``ReferenceSampler``)."""
    if settings.reference_ranks is not None:
        sampler = ReferenceSampler(settings.reference_ranks, settings.batch_size, runtime.rank, runtime.world_size,
                                   settings.seed)  # fmt: skip
    else:
        sampler = ShardedSampler(len(dataset), settings.batch_size, runtime.rank, runtime.world_size, settings.seed)
    loader = DataLoader(
        dataset,
        batch_size=settings.batch_size // runtime.world_size,
        sampler=sampler,
        num_workers=settings.workers,
        pin_memory=runtime.device.type == "cuda",
        persistent_workers=settings.workers > 0,
        drop_last=True,
    )
    return loader, sampler
