"""Pretraining: the reference recipe (AdamW 0.9/0.95, wd 0.05 except 1-D and biases, absolute lr
1e-3, per-iteration warmup then half-cosine to 5e-4, 400 epochs, batch 128, drop_last,
checkpoints every 20 epochs and at the end), on CPU, one GPU or many (torchrun), through the one
training loop (``engine/loop.py``). A method with another recipe declares it (``PretrainMethod.pretraining``:
the GCN family's SGD with momentum 0.9, weight decay 1e-4 on every parameter, lr 0.1 times 0.1 after epoch
250 of 300).

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
import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mamp_bench.config import (
    MAX_BATCH,
    MAX_EPOCHS,
    MAX_WORKERS,
    apply_overrides,
    choice_check,
    config_hash,
    hashed_when_set,
    require,
    schedule_checks,
    setting_scope,
    to_dict,
)
from mamp_bench.console import echo
from mamp_bench.data.batched_transform import DeferredTrainSet, apply_train
from mamp_bench.data.dataset import SkeletonDataset
from mamp_bench.data.specs import DatasetSpec
from mamp_bench.data.transforms import train_transform
from mamp_bench.engine.distributed import Runtime
from mamp_bench.engine.features import default_micro_batch
from mamp_bench.engine.hardware import bf16_support
from mamp_bench.engine.loop import LoopSettings, TrainingTask, train
from mamp_bench.engine.metric_logs import EVENTS_GLOB
from mamp_bench.engine.optim import OPTIMIZERS, SCHEDULES, make_adamw, make_schedule, make_sgd, weight_decay_groups
from mamp_bench.engine.run_folder import FolderState, RunFolder
from mamp_bench.engine.step import pretrain_step
from mamp_bench.errors import UserError
from mamp_bench.methods.base import PretrainMethod
from mamp_bench.models.transformer import MAX_CLIP_FRAMES
from mamp_bench.registry import ENCODERS, METHODS
from mamp_bench.scales import PRETRAIN, check_scale
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
    # the GCN family's recipe (a method's ``pretraining`` sets them): SGD with this momentum instead of AdamW
    # (beta1, beta2 then unused), the step schedule (lr x 0.1 at each of lr_steps; min_lr unused), weight decay
    # on every parameter instead of exempting 1-D ones and biases
    optimizer: str = hashed_when_set("adamw")
    momentum: float = hashed_when_set(0.9)
    schedule: str = hashed_when_set("cosine")
    lr_steps: tuple[int, ...] = hashed_when_set(())
    decay_all: bool = hashed_when_set(False)

    def validate(self) -> None:
        require(self, [
            (1 <= self.epochs <= MAX_EPOCHS, f"epochs must be in [1, {MAX_EPOCHS}], got {self.epochs}"),
            (0 <= self.warmup_epochs <= self.epochs, f"warmup_epochs must be in [0, epochs], got {self.warmup_epochs}"),
            (1 <= self.batch_size <= MAX_BATCH, f"batch_size must be in [1, {MAX_BATCH}], got {self.batch_size}"),
            (self.lr > 0, f"lr must be positive, got {self.lr}"),
            (0 <= self.min_lr <= self.lr, f"min_lr must be in [0, lr], got {self.min_lr}"),
            (self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}"),
            (0 <= self.beta1 < 1, f"beta1 must be in [0, 1), got {self.beta1}"),
            (0 <= self.beta2 < 1, f"beta2 must be in [0, 1), got {self.beta2}"),
            (self.amp in ("none", "bf16"), f"amp must be 'none' or 'bf16', got {self.amp!r}"),
            (4 <= self.window <= MAX_CLIP_FRAMES and self.window % 4 == 0,
             f"window must be a multiple of 4 in [4, {MAX_CLIP_FRAMES}] (a prepared clip's length), "
             f"got {self.window}"),
            seed_check(self.seed),
            (self.checkpoint_every >= 1, "checkpoint_every must be >= 1"),
            (-1 <= self.workers <= MAX_WORKERS, f"workers must be in [0, {MAX_WORKERS}], or -1 for automatic"),
            (self.max_clips >= 0, "max_clips must be >= 0"),
            (self.micro_batch >= -1, "micro_batch must be -1 (auto), 0 (off) or a positive chunk size"),
            choice_check(self, "optimizer", OPTIMIZERS),
            (0 <= self.momentum < 1, f"momentum must be in [0, 1), got {self.momentum}"),
            *schedule_checks(self, SCHEDULES),
        ])  # fmt: skip

    #: fields that do not change the result, left out of the hash that identifies a pretraining
    RUNTIME_FIELDS = ("workers", "compile", "checkpoint_every", "micro_batch", "keep_epochs", "batched_transform")
    #: fields of the clips' transform, which an encoder that takes the prepared clips as they are never reads
    WINDOW_FIELDS = ("window", "rotate")


def pretrain_schedule(scale: str, overrides: dict[str, Any], seed: int = 0,
                      method_presets: Mapping[str, dict[str, Any]] | None = None) -> PretrainConfig:  # fmt: skip
    """The paper's schedule, then the method's own (``PretrainMethod.pretraining``: its ``paper`` schedule, and
    its schedule at a smaller scale after the scale's), then the user's overrides, validated; an error names the
    key as the user sets it (``pretrain.batch_size``)."""
    presets = method_presets or {}
    with setting_scope("pretrain."):
        config = apply_overrides(PretrainConfig(seed=seed), presets.get("paper", {}))
        config = apply_overrides(config, PRETRAIN[check_scale(scale)])
        if scale != "paper":
            config = apply_overrides(config, presets.get(scale, {}))
        config = apply_overrides(config, overrides)
        config.validate()
    return config


def method_configuration(method_cls: type[PretrainMethod], family: str, scale: str, overrides: dict[str, Any],
                         window: int) -> Any:  # fmt: skip
    """A method's configuration for a dataset family and scale with the user's overrides, validated; an error
    names the key as the user sets it (``method.mask_ratio``)."""
    with setting_scope("method."):
        return method_cls.resolve_config(family, scale, overrides, window)


@dataclass
class PretrainJob:
    """A pretraining, fully resolved: a method with its configuration, a dataset and a schedule."""

    method: str
    dataset: str
    config: PretrainConfig
    method_config: Any

    @classmethod
    def resolve(cls, method: str, dataset: DatasetSpec, scale: str, seed: int, schedule: dict[str, Any],
                method_settings: dict[str, Any], keep_epoch: int = -1) -> PretrainJob:  # fmt: skip
        """The pretraining of ``method`` on ``dataset`` at ``scale``: the paper's schedule, the scale's and the
        user's ``schedule`` overrides, the method's configuration for the dataset's family (``method_settings``:
        the user's method overrides), each validated; ``keep_epoch``: a checkpoint to keep besides the final one."""
        method_cls = METHODS.get(method)
        if not method_cls.pretrainable:
            raise UserError(f"method {method!r} has nothing to pretrain")
        config = pretrain_schedule(scale, schedule, seed, method_cls.pretraining)
        if config.batched_transform and not ENCODERS.get(method_cls.encoder_name).windowed:
            raise UserError(f"batched_transform is the windowed transform's; {method!r} takes the prepared clips as "
                            "they are")  # fmt: skip
        if keep_epoch >= config.epochs:
            raise UserError(f"checkpoint_epoch {keep_epoch} does not exist: the pretraining runs {config.epochs} "
                            f"epochs (0 to {config.epochs - 1})")  # fmt: skip
        if keep_epoch >= 0:
            config = dataclasses.replace(config, keep_epochs=tuple(sorted({*config.keep_epochs, keep_epoch})))
        method_config = method_configuration(method_cls, dataset.family, scale, method_settings, config.window)
        return cls(method, dataset.name, config, method_config)

    @property
    def windowed(self) -> bool:
        """Whether the method's encoder resamples its clips to the pretraining's ``window``."""
        return ENCODERS.get(METHODS.get(self.method).encoder_name).windowed

    def spec(self) -> dict[str, Any]:
        """Everything that determines the result (what the run's hash is computed from)."""
        unused = PretrainConfig.RUNTIME_FIELDS + (() if self.windowed else PretrainConfig.WINDOW_FIELDS)
        schedule = {k: v for k, v in to_dict(self.config).items() if k not in unused}
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
        self.job, self.model, self.runtime = job, method, runtime
        if config.decay_all:  # every trainable parameter decays (the GCN processors' optim.SGD(model.parameters()))
            trainable = [p for p in method.parameters() if p.requires_grad]
            groups = [{"params": trainable, "weight_decay": config.weight_decay}]
        else:
            groups = weight_decay_groups(method, config.weight_decay, method.no_weight_decay())
        if config.optimizer == "sgd":
            self.optimizer = make_sgd(groups, config.lr, config.momentum)
        else:
            self.optimizer = make_adamw(groups, config.lr, (config.beta1, config.beta2), runtime.device)
        wrapped = runtime.wrap(method)
        self.train_model = torch.compile(wrapped) if config.compile else wrapped
        self.micro = default_micro_batch(runtime.device) if config.micro_batch < 0 else config.micro_batch
        bf16 = config.amp == "bf16"
        self.autocast = torch.autocast(runtime.device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

    def step(self, x: torch.Tensor | dict[str, torch.Tensor], y: torch.Tensor, seeds: torch.Tensor) -> float:
        if self.job.config.batched_transform:  # raw clips and their draws -> (N, C, window, V, M)
            x = apply_train(x, self.job.config.window)
        return pretrain_step(self.train_model, self.model, self.optimizer, x, seeds, self.micro, self.autocast,
                             self.runtime)  # fmt: skip

    def after_step(self, progress: float) -> None:
        self.model.after_step(progress)

    def checkpoint_state(self, record: dict[str, Any]) -> dict[str, Any]:
        loss, job = record["loss"], self.job
        encoder = {"name": METHODS.get(job.method).encoder_name, "config": to_dict(job.method_config.encoder)}
        return {"method": job.method, "dataset": job.dataset, "method_config": to_dict(job.method_config),
                "encoder": encoder, "pretrain_config": to_dict(job.config),
                "loss": loss if math.isfinite(loss) else None}  # fmt: skip

    def restore(self, state: dict[str, Any]) -> None:
        """A resumed method learns how far training went (AimCLR's mining starts at a share of it)."""
        self.model.set_progress((int(state["epoch"]) + 1) / self.job.config.epochs)

    def keeps(self, epoch: int) -> bool:
        config = self.job.config
        return epoch % config.checkpoint_every == 0 or epoch + 1 == config.epochs or epoch in config.keep_epochs


def default_workers(device: torch.device) -> int:
    """DataLoader workers when ``workers=-1``: 0 on a CPU (they would compete with the step for the
    cores), up to 8 on a GPU."""
    return min(8, os.cpu_count() or 1) if device.type == "cuda" else 0


def build_train_set(job: PretrainJob, data_file: Path) -> SkeletonDataset | DeferredTrainSet:
    """The training clips with the training transform (or, with ``batched_transform``, the raw clips
    and their draws, transformed a batch at a time by the task)."""
    config = job.config
    window = config.window if job.windowed else None  # None: the prepared clips as they are (the method's views)
    dataset = SkeletonDataset(data_file, "train", train_transform(window, config.rotate), config.seed)
    if config.max_clips:
        dataset.indices = dataset.indices[: config.max_clips]
    return DeferredTrainSet(dataset, config.window, config.rotate) if config.batched_transform else dataset


@dataclass(frozen=True)
class PretrainPlan:
    """A pretraining, decided before any work: the job, its data, its folder and what the folder holds."""

    job: PretrainJob
    data_file: Path
    data_fingerprint: str | None
    folder: RunFolder
    state: FolderState  # read once (and its checkpoint hashed once) when the plan was made
    restart: bool = False  # discard what the folder holds and train from the start
    evaluated_epoch: int = -1  # the checkpoint a protocol evaluates (-1: the final one)

    @property
    def checkpoint(self) -> Path:
        """The checkpoint a protocol evaluates (written by the pretraining when it has not finished yet)."""
        epoch = self.evaluated_epoch if self.evaluated_epoch >= 0 else self.job.config.epochs - 1
        return self.folder.path / f"checkpoint-{epoch}.pth"

    @classmethod
    def make(cls, job: PretrainJob, data_file: Path, data_fingerprint: str | None, folder: Path, *, epoch: int = -1,
             restart: bool = False, keep_finished: bool = False,
             allow_unverified: bool = False) -> PretrainPlan:  # fmt: skip
        """The plan of a pretraining: its folder's state read (and the evaluated checkpoint hashed) once.
        ``restart`` starts it over, except (``keep_finished``, for a protocol's run) a finished pretraining on
        the same data, which a protocol's restart does not discard."""
        run = RunFolder(folder)
        if restart and keep_finished and run.same_data(data_fingerprint):
            state = run.inspect(job.digest, data_fingerprint, epoch, allow_unverified)
            restart = not state.finished
        if restart:
            return cls(job, data_file, data_fingerprint, run, FolderState(False, False), True, epoch)
        state = run.inspect(job.digest, data_fingerprint, epoch, allow_unverified)
        return cls(job, data_file, data_fingerprint, run, state, False, epoch)

    @property
    def reusable(self) -> bool:
        """Finished, verified, on the same data: nothing to train."""
        return self.state.finished and not self.restart

    def check_fits(self, train_clips: int, processes: int) -> None:
        """One line unless the batch splits over the processes and fits in the training clips (drop_last)."""
        config = self.job.config
        clips = min(train_clips, config.max_clips or train_clips)
        most = METHODS.get(self.job.method).max_processes
        if most is not None and processes > most:
            raise UserError(f"{self.job.method} pretrains on at most {most} process(es), as its reference (BatchNorm "
                            f"statistics over the whole batch), not {processes}")  # fmt: skip
        if config.batch_size % processes:
            raise UserError(f"pretrain.batch_size {config.batch_size} must be divisible by the {processes} processes")
        if clips < config.batch_size:
            raise UserError(f"pretrain.batch_size {config.batch_size} is larger than the {clips} training clips "
                            "(drop_last)")  # fmt: skip


def pretrain(plan: PretrainPlan, runtime: Runtime, environment: dict[str, Any], *, show: bool, wait: bool = False,
             allow_unverified: bool = False) -> tuple[Path, str]:  # fmt: skip
    """Run, continue (from the last epoch of an unfinished run of the same configuration) or reuse a
    pretraining, as its plan says; (the evaluated checkpoint, its sha256). Rank 0 writes the files and
    holds the folder's lock (``wait``: wait for another process that holds it)."""
    if plan.reusable:
        echo(f"pretraining already finished: {plan.folder.path}", show)
        return plan.state.checkpoint, plan.state.checkpoint_sha256
    _check_compile(plan.job, runtime)
    if plan.state.problem and runtime.is_main:
        echo(f"{plan.folder.path} is marked finished, but {plan.state.problem}; repairing it from its last "
             "checkpoint", show)  # fmt: skip
        (plan.folder.path / "summary.json").unlink(missing_ok=True)
    dataset = build_train_set(plan.job, plan.data_file)
    with plan.folder.lock(plan.job.digest, wait) if runtime.is_main else contextlib.nullcontext():
        if wait and not plan.restart:  # another process may have finished it while this one waited
            state = plan.folder.inspect(plan.job.digest, plan.data_fingerprint, plan.evaluated_epoch, allow_unverified)
            if state.finished:
                echo(f"pretraining already finished: {plan.folder.path}", show)
                runtime.barrier()
                return state.checkpoint, state.checkpoint_sha256
        evaluated = _train(plan, dataset, runtime, environment, show=show, allow_unverified=allow_unverified)
    runtime.barrier()
    return evaluated


def _train(plan: PretrainPlan, dataset: SkeletonDataset, runtime: Runtime, environment: dict[str, Any], *,
           show: bool, allow_unverified: bool) -> tuple[Path, str]:  # fmt: skip
    job, run, config = plan.job, plan.folder, plan.job.config
    if config.amp == "bf16" and not bf16_support(runtime.device)[0]:
        echo(f"note: amp=bf16 on {runtime.device}: {bf16_support(runtime.device)[1]}", show)
    torch.manual_seed(config.seed)
    task = PretrainTask(job, METHODS.get(job.method)(job.method_config).to(runtime.device), runtime)
    if runtime.is_main and (plan.restart or not (run.path / "checkpoint-last.pth").exists()):
        _start_fresh(plan, environment)
    echo(f"pretraining {job.method} on {job.dataset}: {len(dataset)} clips, {len(dataset) // config.batch_size} "
         f"steps/epoch, {config.epochs} epochs, {runtime.world_size} process(es) on {runtime.device} -> {run.path}",
         show)  # fmt: skip
    train(task, dataset, _loop_settings(config, runtime), runtime, run, show=show, allow_unverified=allow_unverified)
    final = run.path / f"checkpoint-{config.epochs - 1}.pth"
    digest = run.logged_digest(config.epochs - 1) or ""
    if runtime.is_main:
        digest = _finish(run, job, show)
    if plan.evaluated_epoch >= 0:
        return run.kept_checkpoint(plan.evaluated_epoch), run.logged_digest(plan.evaluated_epoch) or ""
    return final, digest


def _check_compile(job: PretrainJob, runtime: Runtime) -> None:
    """One line instead of a crash: torch.compile's CPU backend aborts the process ("free(): invalid size",
    seen with torch 2.13) on the data-dependent shapes of ``skip_empty_persons``."""
    if job.config.compile and runtime.device.type == "cpu" and getattr(job.method_config, "skip_empty_persons", 0):
        raise UserError("compile=true with method.skip_empty_persons=true aborts torch.compile on a CPU; "
                        "set method.skip_empty_persons=false")  # fmt: skip


def _loop_settings(config: PretrainConfig, runtime: Runtime) -> LoopSettings:
    workers = config.workers if config.workers >= 0 else default_workers(runtime.device)
    return LoopSettings(config.epochs, config.batch_size, make_schedule(config), config.seed, workers)


def _start_fresh(plan: PretrainPlan, environment: dict[str, Any]) -> None:
    if plan.restart:
        plan.folder.discard(("log.jsonl", "summary.json"), ("*.pth", EVENTS_GLOB))
    job = plan.job
    plan.folder.write_config({**job.spec(), "config_hash": job.digest, "data_fingerprint": plan.data_fingerprint,
                              "environment": environment})  # fmt: skip


def _finish(run: RunFolder, job: PretrainJob, show: bool) -> str:
    """The summary, written only once the final checkpoint it names verifies against its epoch's log line;
    the final checkpoint's sha256."""
    epochs = job.config.epochs
    digest = run.verify(run.path / f"checkpoint-{epochs - 1}.pth")
    records = run.log_records()
    run.write_summary({"finished": True, "final_checkpoint": f"checkpoint-{epochs - 1}.pth", "epochs": epochs,
                       "final_loss": records[-1]["loss"] if records else None,
                       "first_loss": records[0]["loss"] if records else None, "config_hash": job.digest})  # fmt: skip
    if records:
        echo(f"done: {epochs} epochs, loss {records[0]['loss']:.4f} -> {records[-1]['loss']:.4f}; "
             f"checkpoint {run.path / f'checkpoint-{epochs - 1}.pth'}", show)  # fmt: skip
    return digest
