"""Pretraining: the reference recipe (AdamW 0.9/0.95, wd 0.05 except 1-D and biases, absolute lr
1e-3, per-iteration warmup then half-cosine to 5e-4, 400 epochs, batch 128, drop_last,
checkpoints every 20 epochs and at the end), on CPU, one GPU or many (torchrun).

Differences from the reference loop: no GradScaler (it multiplies by a power of two and divides
back, which changes nothing in fp32 without overflow); bf16 autocast on request (off by default,
as the paper trained in fp32); a ``checkpoint-last.pth`` after every epoch so ``--resume`` loses at
most one epoch; a non-finite loss stops the run with the step named and the last good checkpoint
kept (the reference exits with status 11).
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from mamp_bench.checkpoints import checkpoint_bytes, load_checkpoint, load_into, save_checkpoint
from mamp_bench.config import apply_overrides, config_hash, to_dict
from mamp_bench.data.dataset import SkeletonDataset
from mamp_bench.data.specs import get_dataset
from mamp_bench.data.transforms import train_transform
from mamp_bench.engine import faults
from mamp_bench.engine.distributed import init_runtime
from mamp_bench.engine.optim import CosineSchedule, make_adamw, set_lr, weight_decay_groups
from mamp_bench.engine.runs import RunDir, Throughput, echo, environment, progress_bar
from mamp_bench.engine.sampler import ShardedSampler
from mamp_bench.engine.step import NonFiniteLoss, default_micro_batch, pretrain_step
from mamp_bench.errors import UserError
from mamp_bench.registry import METHODS
from mamp_bench.settings import runs_dir


class TrainingDiverged(UserError):
    """The loss became NaN or infinite."""


@dataclass
class PretrainConfig:
    method: str = "mamp"
    dataset: str = "synthetic-ntu60"
    epochs: int = 400
    warmup_epochs: float = 20.0
    batch_size: int = 128  # total over all processes
    lr: float = 1e-3  # absolute, not scaled with the batch
    min_lr: float = 5e-4
    weight_decay: float = 0.05
    beta1: float = 0.9
    beta2: float = 0.95
    window: int = 120
    rotate: bool = True
    seed: int = 0
    max_clips: int = 0  # train on the first N clips only (0: all)
    amp: str = "none"  # "none" or "bf16" (autocast)
    checkpoint_every: int = 20
    workers: int = -1  # DataLoader worker processes (-1: 0 on a CPU, where they compete with the step; 8 on GPU)
    micro_batch: int = -1  # split each step into chunks of this many clips (-1: auto, 0: never)
    compile: bool = False  # torch.compile the method
    method_overrides: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        checks = [
            (self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}"),
            (0 <= self.warmup_epochs <= self.epochs, f"warmup_epochs must be in [0, epochs], got {self.warmup_epochs}"),
            (self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}"),
            (self.lr > 0, f"lr must be positive, got {self.lr}"),
            (0 <= self.min_lr <= self.lr, f"min_lr must be in [0, lr], got {self.min_lr}"),
            (self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}"),
            (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1, "beta1 and beta2 must be in [0, 1)"),
            (self.amp in ("none", "bf16"), f"amp must be 'none' or 'bf16', got {self.amp!r}"),
            (self.window % 4 == 0 and self.window > 0, f"window must be a positive multiple of 4, got {self.window}"),
            (self.checkpoint_every >= 1, "checkpoint_every must be >= 1"),
            (self.workers >= -1, "workers must be >= 0, or -1 for automatic"),
            (self.max_clips >= 0, "max_clips must be >= 0"),
            (self.micro_batch >= -1, "micro_batch must be -1 (auto), 0 (off) or a positive chunk size"),
        ]
        for ok, message in checks:
            if not ok:
                raise UserError(message)

    #: fields that do not change the result, left out of the hash that identifies a pretraining
    RUNTIME_FIELDS = ("workers", "compile", "checkpoint_every", "micro_batch")


def resolve_method_config(config: PretrainConfig):
    """The method's paper preset for the dataset's family, with the run's overrides applied."""
    cls = METHODS.get(config.method)
    family = get_dataset(config.dataset).family
    method_config = apply_overrides(cls.default_config(family), config.method_overrides)
    if hasattr(method_config, "encoder") and method_config.encoder.frames != config.window:
        method_config = apply_overrides(method_config, {"encoder.frames": config.window})
    if hasattr(method_config, "validate"):
        method_config.validate()
    return cls, method_config


def job_spec(config: PretrainConfig) -> dict[str, Any]:
    """Everything that determines a pretraining's result (what its hash is computed from)."""
    _, method_config = resolve_method_config(config)
    data = {k: v for k, v in to_dict(config).items() if k not in PretrainConfig.RUNTIME_FIELDS}
    data.pop("method_overrides")
    return {"pretrain": data, "method_config": to_dict(method_config)}


def pretrain_dir(config: PretrainConfig, root: str | os.PathLike[str] | None = None) -> Path:
    return runs_dir(root) / "pretrain" / f"{config.method}-{config.dataset}-{config_hash(job_spec(config))}"


def build_train_set(config: PretrainConfig, data_root: str | None = None) -> SkeletonDataset:
    spec = get_dataset(config.dataset)
    dataset = SkeletonDataset(spec.path(data_root), "train", train_transform(config.window, config.rotate), config.seed)
    if config.max_clips:
        dataset.indices = dataset.indices[: config.max_clips]
    return dataset


def pretrain(
    config: PretrainConfig,
    *,
    data_root: str | None = None,
    runs_root: str | None = None,
    output_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    restart: bool = False,
    device: str = "auto",
    quiet: bool = False,
) -> Path:
    """Run (or finish, or reuse) a pretraining; returns its folder. Rank 0 writes the files."""
    config.validate()
    runtime = init_runtime(device)
    cls, method_config = resolve_method_config(config)
    spec = job_spec(config)
    run = RunDir(output_dir or pretrain_dir(config, runs_root))
    show = runtime.is_main and not quiet
    if run.finished and not restart:
        echo(f"pretraining already finished: {run.path}", show)
        return run.path
    last = run.path / "checkpoint-last.pth"
    if last.exists() and not (resume or restart):
        raise UserError(f"an unfinished pretraining exists in {run.path}; pass --resume to continue it or --restart")

    dataset = build_train_set(config, data_root)
    if config.batch_size % runtime.world_size:
        raise UserError(f"batch_size {config.batch_size} must be divisible by the {runtime.world_size} processes")
    if len(dataset) < config.batch_size:
        raise UserError(f"batch_size {config.batch_size} is larger than the {len(dataset)} training clips (drop_last)")
    sampler = ShardedSampler(len(dataset), config.batch_size, runtime.rank, runtime.world_size, config.seed)
    workers = (
        config.workers if config.workers >= 0 else (min(8, os.cpu_count() or 1) if runtime.device.type == "cuda" else 0)
    )
    loader = DataLoader(
        dataset,
        batch_size=config.batch_size // runtime.world_size,
        sampler=sampler,
        num_workers=workers,
        pin_memory=runtime.device.type == "cuda",
        persistent_workers=workers > 0,
        drop_last=True,
    )

    torch.manual_seed(config.seed)
    method = cls(method_config).to(runtime.device)
    optimizer = make_adamw(
        weight_decay_groups(method, config.weight_decay, method.no_weight_decay()),
        config.lr,
        (config.beta1, config.beta2),
        runtime.device,
    )
    start_epoch = 0
    if resume and last.exists():
        run.verify(last)
        state = load_checkpoint(last)
        load_into(method, state["model"], f"checkpoint {last}")
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        start_epoch = int(state["epoch"]) + 1
        if runtime.is_main:
            run.truncate_log(start_epoch - 1)
        echo(f"resuming {run.path} after epoch {start_epoch - 1}", show)
    elif runtime.is_main:
        if restart:
            for old in run.path.glob("*"):
                if old.name in ("log.jsonl", "summary.json") or old.suffix == ".pth":
                    old.unlink()
        run.write_config({**spec, "config_hash": config_hash(spec), "environment": environment(runtime)})

    model = method
    if runtime.distributed:
        model = torch.nn.parallel.DistributedDataParallel(
            method, device_ids=[runtime.device.index] if runtime.device.type == "cuda" else None
        )
    step_fn = torch.compile(model) if config.compile else model
    schedule = CosineSchedule(config.lr, config.min_lr, config.warmup_epochs, config.epochs)
    steps = sampler.steps
    echo(
        f"pretraining {config.method} on {config.dataset}: {len(dataset)} clips, {steps} steps/epoch, "
        f"{config.epochs} epochs, {runtime.world_size} process(es) on {runtime.device} -> {run.path}",
        show,
    )
    autocast = torch.autocast(runtime.device.type, dtype=torch.bfloat16, enabled=config.amp == "bf16")
    micro = default_micro_batch(runtime.device) if config.micro_batch < 0 else config.micro_batch
    with progress_bar(show) as bar:
        task = bar.add_task("pretrain", total=(config.epochs - start_epoch) * steps, status="")
        for epoch in range(start_epoch, config.epochs):
            sampler.set_epoch(epoch)
            method.train()
            meter, total_loss = Throughput(), 0.0
            for step, (x, _, seeds) in enumerate(loader):
                lr = schedule(epoch + step / steps)
                set_lr(optimizer, lr)
                x = x.to(runtime.device, non_blocking=True)
                try:
                    loss = pretrain_step(step_fn, method, optimizer, x, seeds, micro, autocast)
                except NonFiniteLoss as exc:
                    raise TrainingDiverged(
                        f"loss became {exc.value} at epoch {epoch} step {step}; stopped, the last good "
                        f"checkpoint is {last if last.exists() else 'none (no epoch finished)'}"
                    ) from None
                method.after_step((epoch * steps + step + 1) / (config.epochs * steps))
                total_loss += loss
                meter.add(x.shape[0] * runtime.world_size)
                bar.update(task, advance=1, description=f"epoch {epoch + 1}/{config.epochs}",
                           status=f"loss {loss:.4f} lr {lr:.2e} {meter.rate:.1f} clips/s")  # fmt: skip
                faults.point("pretrain-step")
            epoch_loss = runtime.mean(total_loss / steps)
            if runtime.is_main:
                record = {
                    "epoch": epoch,
                    "loss": epoch_loss,
                    "lr": lr,
                    "clips_per_s": meter.rate,
                    "seconds": meter.seconds,
                }
                # the log line (with the checkpoint's sha256) first, then the checkpoint: a kill in
                # between leaves the previous checkpoint, and the resume drops the extra log line
                data = checkpoint_bytes(
                    _checkpoint_payload(config, method_config, method, optimizer, epoch, epoch_loss)
                )
                run.log({**record, "checkpoint_sha256": hashlib.sha256(data).hexdigest()})
                save_checkpoint(last, data)
                if epoch % config.checkpoint_every == 0 or epoch + 1 == config.epochs:
                    save_checkpoint(run.path / f"checkpoint-{epoch}.pth", data)
                if bar.disable:
                    echo(
                        f"epoch {epoch + 1}/{config.epochs}  loss {epoch_loss:.4f}  lr {lr:.2e}  "
                        f"{meter.rate:.1f} clips/s",
                        show,
                    )
            runtime.barrier()
    if runtime.is_main:
        records = run.log_records()
        run.write_summary(
            {
                "finished": True,
                "final_checkpoint": f"checkpoint-{config.epochs - 1}.pth",
                "epochs": config.epochs,
                "final_loss": records[-1]["loss"] if records else None,
                "first_loss": records[0]["loss"] if records else None,
                "config_hash": config_hash(spec),
            }
        )
        echo(
            f"done: {config.epochs} epochs, loss {records[0]['loss']:.4f} -> {records[-1]['loss']:.4f}; "
            f"checkpoint {run.path / f'checkpoint-{config.epochs - 1}.pth'}",
            show,
        )
    runtime.barrier()
    return run.path


def _checkpoint_payload(config, method_config, method, optimizer, epoch: int, loss: float) -> dict[str, Any]:
    payload = {
        "kind": "pretrain",
        "method": config.method,
        "method_config": to_dict(method_config),
        "pretrain_config": to_dict(config),
        "model": method.state_dict(),
        "optimizer": optimizer.state_dict(),
        "epoch": epoch,
        "loss": loss if math.isfinite(loss) else None,
        "torch_rng": torch.get_rng_state(),
    }
    return payload


def finished_checkpoint(run_path: Path) -> tuple[Path, str]:
    """(path, sha256) of the final checkpoint of a finished pretraining, checked against the
    sha256 recorded when it was written."""
    run = RunDir(run_path)
    path = run_path / (run.summary() or {}).get("final_checkpoint", "checkpoint-last.pth")
    return path, run.verify(path)
