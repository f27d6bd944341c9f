"""Pretraining: the reference recipe (AdamW 0.9/0.95, wd 0.05 except 1-D and biases, absolute lr
1e-3, per-iteration warmup then half-cosine to 5e-4, 400 epochs, batch 128, drop_last,
checkpoints every 20 epochs and at the end), on CPU, one GPU or many (torchrun), through the one
training loop (``engine/loop.py``).

Differences from the reference loop: no GradScaler (it multiplies by a power of two and divides
back, which changes nothing in fp32 without overflow); bf16 autocast on request (off by default,
as the paper trained in fp32; on a GPU from compute capability 8.0 and on CPUs with AVX512_BF16
or AMX, emulated and slower elsewhere, which the run notes; ``benchmarks/bf16_parity.py`` compares
it with fp32); a ``checkpoint-last.pth`` after every epoch so a resume loses at
most one epoch; a non-finite loss stops the run with the step named and the last good checkpoint
kept (the reference exits with status 11).
"""

from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mamp_bench.config import MAX_BATCH, MAX_EPOCHS, MAX_WORKERS, config_hash, require, to_dict
from mamp_bench.console import echo
from mamp_bench.data.batched_transform import DeferredTrainSet, apply_train
from mamp_bench.data.dataset import SkeletonDataset
from mamp_bench.data.provenance import fingerprint
from mamp_bench.data.specs import get_dataset
from mamp_bench.data.transforms import train_transform
from mamp_bench.engine.distributed import Runtime, init_runtime
from mamp_bench.engine.features import default_micro_batch
from mamp_bench.engine.hardware import bf16_support
from mamp_bench.engine.loop import LoopSettings, TrainingTask, train_loop
from mamp_bench.engine.metric_logs import EVENTS_GLOB
from mamp_bench.engine.optim import CosineSchedule, make_adamw, weight_decay_groups
from mamp_bench.engine.runs import RunDir, environment
from mamp_bench.engine.step import pretrain_step
from mamp_bench.errors import UserError
from mamp_bench.methods.base import PretrainMethod
from mamp_bench.models.transformer import MAX_CLIP_FRAMES
from mamp_bench.registry import METHODS
from mamp_bench.seeding import seed_check
from mamp_bench.settings import runs_dir


@dataclass
class PretrainConfig:
    """The schedule and runtime of a pretraining; the defaults are the paper's recipe."""

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
    keep_epochs: tuple[int, ...] = ()  # numbered checkpoints kept besides every checkpoint_every (0-based)
    # the training transform for the whole batch on the training device (draws per sample in the
    # DataLoader, as the per-sample transform draws them; data/batched_transform.py); same numbers
    batched_transform: bool = False

    def validate(self) -> None:
        require(self, [
            (1 <= self.epochs <= MAX_EPOCHS, f"epochs must be in [1, {MAX_EPOCHS}], got {self.epochs}"),
            (0 <= self.warmup_epochs <= self.epochs, f"warmup_epochs must be in [0, epochs], got {self.warmup_epochs}"),
            (1 <= self.batch_size <= MAX_BATCH, f"batch_size must be in [1, {MAX_BATCH}], got {self.batch_size}"),
            (self.lr > 0, f"lr must be positive, got {self.lr}"),
            (0 <= self.min_lr <= self.lr, f"min_lr must be in [0, lr], got {self.min_lr}"),
            (self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}"),
            (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1, "beta1 and beta2 must be in [0, 1)"),
            (self.amp in ("none", "bf16"), f"amp must be 'none' or 'bf16', got {self.amp!r}"),
            (4 <= self.window <= MAX_CLIP_FRAMES and self.window % 4 == 0,
             f"window must be a multiple of 4 in [4, {MAX_CLIP_FRAMES}] (a prepared clip's length), "
             f"got {self.window}"),
            seed_check(self.seed),
            (self.checkpoint_every >= 1, "checkpoint_every must be >= 1"),
            (-1 <= self.workers <= MAX_WORKERS, f"workers must be in [0, {MAX_WORKERS}], or -1 for automatic"),
            (self.max_clips >= 0, "max_clips must be >= 0"),
            (self.micro_batch >= -1, "micro_batch must be -1 (auto), 0 (off) or a positive chunk size"),
        ])  # fmt: skip

    #: fields that do not change the result, left out of the hash that identifies a pretraining
    RUNTIME_FIELDS = ("workers", "compile", "checkpoint_every", "micro_batch", "keep_epochs", "batched_transform")


@dataclass
class PretrainJob:
    """A pretraining, fully resolved: a method with its configuration, a dataset and a schedule."""

    method: str
    dataset: str
    config: PretrainConfig
    method_config: Any

    def spec(self) -> dict[str, Any]:
        """Everything that determines the result (what the run's hash is computed from)."""
        schedule = {k: v for k, v in to_dict(self.config).items() if k not in PretrainConfig.RUNTIME_FIELDS}
        return {"method": self.method, "dataset": self.dataset, "pretrain": schedule,
                "method_config": to_dict(self.method_config)}  # fmt: skip

    @property
    def digest(self) -> str:
        return config_hash(self.spec())

    def folder(self, runs_root: str | os.PathLike[str] | None = None) -> Path:
        return runs_dir(runs_root) / "pretrain" / f"{self.method}-{self.dataset}-{self.digest}"


class PretrainTask(TrainingTask):
    """One pretraining step: the method's loss, in micro-batches on a CPU, optionally under bf16."""

    kind = "pretrain"

    def __init__(self, job: PretrainJob, method: PretrainMethod, runtime: Runtime):
        config = job.config
        self.job, self.model = job, method
        groups = weight_decay_groups(method, config.weight_decay, method.no_weight_decay())
        self.optimizer = make_adamw(groups, config.lr, (config.beta1, config.beta2), runtime.device)
        wrapped = runtime.wrap(method)
        self.train_model = torch.compile(wrapped) if config.compile else wrapped
        self.micro = default_micro_batch(runtime.device) if config.micro_batch < 0 else config.micro_batch
        bf16 = config.amp == "bf16"
        self.autocast = torch.autocast(runtime.device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

    def step(self, x: torch.Tensor | dict[str, torch.Tensor], y: torch.Tensor, seeds: torch.Tensor) -> float:
        if self.job.config.batched_transform:  # raw clips and their draws -> (N, C, window, V, M)
            x = apply_train(x, self.job.config.window)
        return pretrain_step(self.train_model, self.model, self.optimizer, x, seeds, self.micro, self.autocast)

    def after_step(self, progress: float) -> None:
        self.model.after_step(progress)

    def checkpoint_state(self, record: dict[str, Any]) -> dict[str, Any]:
        loss, job = record["loss"], self.job
        return {"method": job.method, "dataset": job.dataset, "method_config": to_dict(job.method_config),
                "pretrain_config": to_dict(job.config), "loss": loss if math.isfinite(loss) else None}  # fmt: skip

    def keeps(self, epoch: int) -> bool:
        config = self.job.config
        return epoch % config.checkpoint_every == 0 or epoch + 1 == config.epochs or epoch in config.keep_epochs


def default_workers(device: torch.device) -> int:
    """DataLoader workers when ``workers=-1``: 0 on a CPU (they would compete with the step for the
    cores), up to 8 on a GPU."""
    return min(8, os.cpu_count() or 1) if device.type == "cuda" else 0


def build_train_set(job: PretrainJob, data_root: str | None = None) -> SkeletonDataset | DeferredTrainSet:
    """The training clips with the training transform (or, with ``batched_transform``, the raw clips
    and their draws, transformed a batch at a time by the task)."""
    config = job.config
    path = get_dataset(job.dataset).path(data_root)
    dataset = SkeletonDataset(path, "train", train_transform(config.window, config.rotate), config.seed)
    if config.max_clips:
        dataset.indices = dataset.indices[: config.max_clips]
    return DeferredTrainSet(dataset, config.window, config.rotate) if config.batched_transform else dataset


def pretrain(
    job: PretrainJob,
    *,
    data_root: str | None = None,
    runs_root: str | None = None,
    output_dir: str | os.PathLike[str] | None = None,
    restart: bool = False,
    device: str = "auto",
    quiet: bool = False,
    wait: bool = False,
    allow_unverified: bool = False,
) -> Path:
    """Run, continue (from the last epoch of an unfinished run of the same configuration) or reuse a
    pretraining; ``restart`` starts it over. Returns its folder. Rank 0 writes the files and holds the
    folder's lock (``wait``: wait for another process that holds it)."""
    config = job.config
    config.validate()
    runtime = init_runtime(device)
    _check_compile(job, runtime)
    run = RunDir(output_dir or job.folder(runs_root))
    show = runtime.is_main and not quiet
    data = fingerprint(get_dataset(job.dataset).path(data_root))
    if not restart:
        run.check_config_hash(job.digest, data)
    if _already_finished(run, restart, runtime.is_main, show):
        return run.path
    dataset = build_train_set(job, data_root)
    if config.batch_size % runtime.world_size:
        raise UserError(f"batch_size {config.batch_size} must be divisible by the {runtime.world_size} processes")
    if len(dataset) < config.batch_size:
        raise UserError(f"batch_size {config.batch_size} is larger than the {len(dataset)} training clips (drop_last)")
    with run.lock(wait) if runtime.is_main else contextlib.nullcontext():
        if run.finished and not restart:  # another process finished it while this one waited
            echo(f"pretraining already finished: {run.path}", show)
        else:
            _train(job, dataset, run, runtime, restart=restart, show=show, allow_unverified=allow_unverified,
                   data=data)  # fmt: skip
    runtime.barrier()
    return run.path


def _train(job: PretrainJob, dataset: SkeletonDataset, run: RunDir, runtime: Runtime, *, restart: bool, show: bool,
           allow_unverified: bool, data: str | None) -> None:  # fmt: skip
    config = job.config
    if config.amp == "bf16" and not bf16_support(runtime.device)[0]:
        echo(f"note: amp=bf16 on {runtime.device}: {bf16_support(runtime.device)[1]}", show)
    torch.manual_seed(config.seed)
    task = PretrainTask(job, METHODS.get(job.method)(job.method_config).to(runtime.device), runtime)
    if runtime.is_main and (restart or not (run.path / "checkpoint-last.pth").exists()):
        _start_fresh(run, job, runtime, restart, data)
    echo(f"pretraining {job.method} on {job.dataset}: {len(dataset)} clips, {len(dataset) // config.batch_size} "
         f"steps/epoch, {config.epochs} epochs, {runtime.world_size} process(es) on {runtime.device} -> {run.path}",
         show)  # fmt: skip
    train_loop(task, dataset, _loop_settings(config, runtime), runtime, run, show=show,
               allow_unverified=allow_unverified)  # fmt: skip
    if runtime.is_main:
        _finish(run, job, show)


def _check_compile(job: PretrainJob, runtime: Runtime) -> None:
    """One line instead of a crash: torch.compile's CPU backend aborts the process ("free(): invalid size",
    seen with torch 2.13) on the data-dependent shapes of ``skip_empty_persons``."""
    if job.config.compile and runtime.device.type == "cpu" and getattr(job.method_config, "skip_empty_persons", 0):
        raise UserError("compile=true with method.skip_empty_persons=true aborts torch.compile on a CPU; "
                        "set method.skip_empty_persons=false")  # fmt: skip


def _loop_settings(config: PretrainConfig, runtime: Runtime) -> LoopSettings:
    workers = config.workers if config.workers >= 0 else default_workers(runtime.device)
    schedule = CosineSchedule(config.lr, config.min_lr, config.warmup_epochs, config.epochs)
    return LoopSettings(config.epochs, config.batch_size, schedule, config.seed, workers)


def _already_finished(run: RunDir, restart: bool, is_main: bool, show: bool) -> bool:
    """Whether the run has finished: its summary says so and every file it names exists and verifies. A
    summary that claims more than exists (a final checkpoint lost when the disk filled) is not trusted:
    it is removed, and the resume that follows repairs the run."""
    summary = run.summary()
    if restart or not (summary and summary.get("finished")):
        return False
    problem = run.unverified(summary)
    if problem is None:
        echo(f"pretraining already finished: {run.path}", show)
        return True
    echo(f"{run.path} is marked finished, but {problem}; repairing it from its last checkpoint", show)
    if is_main:
        (run.path / "summary.json").unlink()
    return False


def _start_fresh(run: RunDir, job: PretrainJob, runtime: Runtime, restart: bool, data: str | None) -> None:
    if restart:
        for old in run.path.glob("*"):
            if old.name in ("log.jsonl", "summary.json") or old.suffix == ".pth" or old.match(EVENTS_GLOB):
                old.unlink()
    run.write_config({**job.spec(), "config_hash": job.digest, "data_fingerprint": data,
                      "environment": environment(runtime)})  # fmt: skip


def _finish(run: RunDir, job: PretrainJob, show: bool) -> None:
    """The summary, written only once the final checkpoint it names verifies against its epoch's log line."""
    epochs = job.config.epochs
    run.verify(run.path / f"checkpoint-{epochs - 1}.pth")
    records = run.log_records()
    run.write_summary({"finished": True, "final_checkpoint": f"checkpoint-{epochs - 1}.pth", "epochs": epochs,
                       "final_loss": records[-1]["loss"] if records else None,
                       "first_loss": records[0]["loss"] if records else None, "config_hash": job.digest})  # fmt: skip
    if records:
        echo(f"done: {epochs} epochs, loss {records[0]['loss']:.4f} -> {records[-1]['loss']:.4f}; "
             f"checkpoint {run.path / f'checkpoint-{epochs - 1}.pth'}", show)  # fmt: skip


def finished_checkpoint(run_path: Path, allow_unverified: bool = False, epoch: int = -1) -> tuple[Path, str]:
    """(path, sha256) of the final checkpoint of a finished pretraining (or of ``epoch``), checked
    against the sha256 recorded for its epoch when it was written."""
    run = RunDir(run_path)
    if epoch < 0:
        return finished_checkpoint_path(run), run.verify(finished_checkpoint_path(run), allow_unverified)
    path = run_path / f"checkpoint-{epoch}.pth"
    if not path.is_file():
        kept = sorted(int(p.stem.split("-")[1]) for p in run_path.glob("checkpoint-[0-9]*.pth"))
        raise UserError(f"{run_path} kept no checkpoint of epoch {epoch} (it kept {kept}); pretrain again with "
                        f"--set pretrain.keep_epochs={epoch} --restart, or evaluate a kept epoch")  # fmt: skip
    return path, run.verify(path, allow_unverified)


def finished_checkpoint_path(run: RunDir) -> Path:
    return run.path / (run.summary() or {}).get("final_checkpoint", "checkpoint-last.pth")
