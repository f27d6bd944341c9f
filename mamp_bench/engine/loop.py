"""The one training loop of the suite: pretraining and every supervised protocol run through it.

Epochs of steps over a sharded loader (the same global batches on 1 or N processes), a
per-iteration learning rate, an evaluation hook after every epoch, one JSON line per epoch (with
the sha256 of the checkpoint written next, so a resume can verify it), ``checkpoint-last.pth``
every epoch plus the numbered copies a task keeps, resume from the last checkpoint, a progress bar,
metric logs (TensorBoard event files, and W&B on request: ``metric_logs.py``), and the fault points of
the kill tests. A run supplies a ``TrainingTask``: its model and optimizer,
what one step does, what to evaluate after an epoch and what else its checkpoints hold.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from mamp_bench import faults
from mamp_bench.checkpoints import checkpoint_bytes, load_checkpoint, load_into, save_checkpoint
from mamp_bench.console import echo, progress_bar
from mamp_bench.engine.distributed import Runtime
from mamp_bench.engine.metric_logs import MetricLogs
from mamp_bench.engine.optim import CosineSchedule, set_lr
from mamp_bench.engine.runs import RunDir, Throughput
from mamp_bench.engine.sampler import ReferenceSampler, ShardedSampler
from mamp_bench.errors import UserError
from mamp_bench.fileio import sha256_file


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


@dataclass
class LoopSettings:
    epochs: int
    batch_size: int  # over all processes
    schedule: CosineSchedule
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
    run: RunDir,
    *,
    show: bool,
    allow_unverified: bool = False,
) -> None:
    """Train ``task`` for ``settings.epochs``, continuing from ``checkpoint-last.pth`` when the run folder
    has one (``allow_unverified``: even when the log recorded no sha256 for it)."""
    loader, sampler = sharded_loader(dataset, settings, runtime)
    start = _resume(task, run, runtime, show, allow_unverified)
    steps = sampler.steps
    with progress_bar(show) as bar, MetricLogs(run.path, start * steps, runtime.is_main) as logs:
        progress = bar.add_task(task.kind, total=max(1, (settings.epochs - start) * steps), status="")
        for epoch in range(start, settings.epochs):
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
                    last = run.path / "checkpoint-last.pth"
                    raise TrainingDiverged(
                        f"loss became {exc.value} at epoch {epoch} step {step}; stopped, the last good "
                        f"checkpoint is {last if last.exists() else 'none (no epoch finished)'}"
                    ) from None
                task.after_step((epoch * steps + step + 1) / (settings.epochs * steps))
                loss_sum += loss
                logs.step(epoch * steps + step + 1, {"loss": loss, "lr": lr})
                meter.add(len(y) * runtime.world_size)
                bar.update(progress, advance=1, description=f"epoch {epoch + 1}/{settings.epochs}",
                           status=f"loss {loss:.4f} lr {lr:.2e} {meter.rate:.1f} clips/s")  # fmt: skip
                faults.point(f"{task.kind}-step")
            record = {"epoch": epoch, "loss": runtime.mean(loss_sum / max(steps, 1)), "lr": lr,
                      "clips_per_s": meter.rate, "seconds": meter.seconds, **task.end_epoch(epoch)}  # fmt: skip
            if runtime.is_main:
                logs.epoch((epoch + 1) * steps, record)
                _checkpoint(task, run, record)
                echo(f"epoch {epoch + 1}/{settings.epochs}  " + _describe(record), show and bar.disable)
            runtime.barrier()


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


def _resume(task: TrainingTask, run: RunDir, runtime: Runtime, show: bool, allow_unverified: bool) -> int:
    """Load ``checkpoint-last.pth`` (verified against the log) if there is one; the next epoch."""
    last = run.path / "checkpoint-last.pth"
    if not last.exists():
        return 0
    digest = run.verify(last, allow_unverified)
    state = load_checkpoint(last)
    load_into(task.model, state["model"], f"checkpoint {last}")
    task.optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["torch_rng"])
    task.restore(state)
    start = int(state["epoch"]) + 1
    if runtime.is_main:
        run.truncate_log(start - 1)
        _restore_kept_copy(task, run, start - 1, digest, show)
    echo(f"resuming {run.path} after epoch {start - 1} (--restart starts it over)", show)
    return start


def _restore_kept_copy(task: TrainingTask, run: RunDir, epoch: int, digest: str, show: bool) -> None:
    """Write ``checkpoint-<epoch>.pth`` from ``checkpoint-last.pth`` when the epoch keeps one and it is missing
    or is not what the epoch's log line records: the state a disk that filled up, or a kill, between the
    two files leaves. Only a ``checkpoint-last.pth`` that the same log line records is copied."""
    if not task.keeps(epoch) or run.logged_digest(epoch) != digest:
        return
    kept = run.path / f"checkpoint-{epoch}.pth"
    if kept.is_file() and sha256_file(kept) == digest:
        return
    save_checkpoint(kept, (run.path / "checkpoint-last.pth").read_bytes())
    echo(f"restored {kept.name} from checkpoint-last.pth of the same epoch (sha256 {digest[:12]} verified)", show)


def _checkpoint(task: TrainingTask, run: RunDir, record: dict[str, Any]) -> None:
    """The log line (with the checkpoint's sha256) first, then the checkpoint: a kill in between
    leaves the previous checkpoint, and the resume drops the extra log line."""
    payload = {
        "kind": task.kind,
        "model": task.model.state_dict(),
        "optimizer": task.optimizer.state_dict(),
        "epoch": record["epoch"],
        "torch_rng": torch.get_rng_state(),
        **task.checkpoint_state(record),
    }
    data = checkpoint_bytes(payload)
    run.log({**record, "checkpoint_sha256": hashlib.sha256(data).hexdigest()})
    save_checkpoint(run.path / "checkpoint-last.pth", data)
    if task.keeps(record["epoch"]):
        save_checkpoint(run.path / f"checkpoint-{record['epoch']}.pth", data)


def _describe(record: dict[str, Any]) -> str:
    text = f"loss {record['loss']:.4f}  lr {record['lr']:.2e}  {record['clips_per_s']:.1f} clips/s"
    if "top1" in record:
        text += f"  test top-1 {record['top1']:.2f}  top-5 {record['top5']:.2f}"
    return text
