"""Planning: the pretraining jobs the protocol jobs depend on (each once), what is already done, and
what each job costs on the device the plan is for.

Costs: at the smoke scale, clips/s measured on the development CPU (a guess on a GPU). At the paper
scale, each job's floating-point operations (``engine/flops.py``: the pretraining step, a frozen
forward pass, or a forward and backward pass of the encoder, per clip) over the device's effective
FLOP/s for that kind of work: on CPU the measured pretraining step
(``benchmarks/results/cpu-xeon-2core.txt``); on a GPU the rates ``python -m benchmarks.gpu --json FILE``
measured on it (``--gpu-benchmark FILE``; its ST-GCN pretraining step gives the GCN family's own rate), else a
published figure (``--gpu-type``; the RTX 4090's by default), marked as such: the GCN family's pretrainings then
use the transformer's effective FLOP/s, an approximation (ST-GCN's small convolutions run below it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mamp_bench.engine.flops import encoder_forward_flops, masked_pretrain_flops
from mamp_bench.engine.run_folder import RunFolder
from mamp_bench.errors import UserError
from mamp_bench.fileio import read_json
from mamp_bench.plan import Options, Request, ResolvedRun, resolve, stored_record
from mamp_bench.registry import METHODS
from mamp_bench.reproduce.matrix import Job

#: smoke scale, clips/s by device: "pretrain" a pretraining step, "encode" a frozen forward pass,
#: "train" forward and backward through the encoder (CPU: measured on the 2-core Xeon; GPU: a guess);
#: the transformer's, and those of the other encoders' smoke sizes by encoder name
SMOKE_RATES = {
    "cpu": {"pretrain": 380.0, "encode": 400.0, "train": 90.0},
    "cuda": {"pretrain": 3000.0, "encode": 8000.0, "train": 1500.0},
}
#: ST-GCN at the smoke scale (hidden 8, last block 64): the CPU pretraining step measured on the 2-core AMD EPYC
#: with SkeletonCLR (benchmarks/results/gcn-smoke-pretrain-amd-epyc-2core.txt; 4 encoder passes a clip), the frozen
#: forward (1 pass) and fine-tuning (3) derived from it by their passes; the GPU a guess
SMOKE_RATES_BY_ENCODER = {
    "stgcn": {
        "cpu": {"pretrain": 12.5, "encode": 50.0, "train": 16.7},
        "cuda": {"pretrain": 1000.0, "encode": 8000.0, "train": 2500.0},
    },
}
#: the forward passes of the step whose rate ``SMOKE_RATES_BY_ENCODER`` gives (SkeletonCLR's): another method's
#: pretraining rate on that encoder is scaled by its own ``forward_passes``
SMOKE_MEASURED_PASSES = {"stgcn": 4.0}
WORK = ("pretrain", "encode", "train")
PERSONS = 2  # every clip is encoded as two person sequences


@dataclass(frozen=True)
class Device:
    """The device a plan is costed for: its kind, its name, its effective FLOP/s for each kind of work
    (paper scale) and where those figures come from."""

    kind: str  # "cpu" or "cuda"
    name: str
    flops: dict[str, float] = field(hash=False)
    source: str = ""

    @property
    def gpu(self) -> bool:
        return self.kind == "cuda"

    @property
    def hours_unit(self) -> str:
        return "GPU-hours" if self.gpu else "CPU-hours"


def _same_rate(flops: float) -> dict[str, float]:
    return dict.fromkeys(WORK, flops)


CPU = Device("cpu", "CPU", _same_rate(2.09e11),
             "measured: 5.55 NTU-60 pretraining clips/s x 37.6 GFLOP on the 2-core Xeon")  # fmt: skip
#: ``--gpu-type``: GPUs with a published figure (a measured one comes from ``--gpu-benchmark``)
GPU_TYPES = {
    "rtx4090": Device(
        "cuda",
        "RTX 4090",
        _same_rate(8.19e12),
        "published, not measured here: RTX 4090, 20 h 27 min for a 400-epoch NTU-60 pretraining (GFP, ICCV 2025), "
        "37.6 GFLOP a clip",
    ),  # fmt: skip
}
DEFAULT_GPU = "rtx4090"


def measured_device(path: str | Path) -> Device:
    """The GPU that ``python -m benchmarks.gpu --json FILE`` measured: its effective FLOP/s for a
    pretraining step (the suite's default settings: fp32, every person, eager; the median over the
    presets), a frozen forward pass and a fine-tuning step."""
    result = read_json(path, "GPU benchmark output")
    try:
        if result["sizes"]["quick"]:
            raise UserError(f"{path} was measured with --quick (a tiny model): its rates say nothing about a "
                            "paper-scale job; run python -m benchmarks.gpu --json FILE without --quick")  # fmt: skip
        steps = [row for row in result["steps"] if "skipped" not in row and row["precision"] == "fp32"
                 and not row["skip"] and not row["compile"]]  # fmt: skip
        pretrain = sorted(r["gflop_per_step"] * 1e9 * r["clips_per_s"] / r["batch"] for r in steps)
        forward = result["encoder_gflop_per_clip"] * 1e9
        flops = {"pretrain": pretrain[len(pretrain) // 2], "encode": result["rates"]["encode"] * forward,
                 "train": result["rates"]["train"] * 3 * forward}  # fmt: skip
        gcn = sorted(r["gflops"] * 1e9 for r in result.get("gcn_steps", ())
                     if "skipped" not in r and r["precision"] == "fp32")  # fmt: skip
        if gcn:  # ST-GCN's pretraining step runs at its own rate (small convolutions, not large matmuls)
            flops["pretrain-stgcn"] = gcn[len(gcn) // 2]
        kind, name = ("cuda" if result["device"]["device"].startswith("cuda") else "cpu"), result["device"]["name"]
    except (KeyError, TypeError, IndexError):
        raise UserError(f"{path} is not the --json output of python -m benchmarks.gpu (or it measured no fp32 "
                        "eager pretraining step and no protocol rates): run it again") from None  # fmt: skip
    return Device(kind, name, flops, f"measured: {path} ({result.get('machine', 'machine not named')})")


def target_device(gpu: bool, gpu_type: str | None = None, benchmark: str | None = None) -> Device:
    """The device a plan is costed for: a GPU (measured by the benchmark's output when given, else the
    published figure of ``gpu_type``) or this CPU."""
    if benchmark:
        if gpu_type:
            raise UserError("--gpu-type and --gpu-benchmark both name the GPU: give one")
        return measured_device(benchmark)
    if gpu_type and gpu_type not in GPU_TYPES:
        raise UserError(f"--gpu-type {gpu_type!r} has no published rate (known: {', '.join(GPU_TYPES)}); measure "
                        "yours with python -m benchmarks.gpu --json FILE and pass --gpu-benchmark FILE")  # fmt: skip
    return GPU_TYPES[gpu_type or DEFAULT_GPU] if gpu or gpu_type else CPU


@dataclass
class Plan:
    pretrain_jobs: list[Job]
    protocol_jobs: list[Job]
    scale: str = "smoke"
    device: Device = CPU

    @property
    def jobs(self) -> list[Job]:
        return self.pretrain_jobs + self.protocol_jobs

    def todo(self) -> list[Job]:
        return [j for j in self.jobs if not j.done]

    @property
    def hours(self) -> float:
        """Device-hours of the jobs to run, on one device of the plan's kind."""
        return sum(j.cost_seconds for j in self.todo()) / 3600


def rates(scale: str, device: Device, encoder: str, config: Any, method: str | None = None,
          method_config: Any = None) -> dict[str, float]:  # fmt: skip
    """Clips/s of a job's three kinds of work on a device (see the module's docstring), for the registered
    ``encoder`` with its ``config`` (and, for a pretraining step, the ``method`` with its ``method_config``)."""
    if scale != "paper":
        speeds = dict(SMOKE_RATES_BY_ENCODER.get(encoder, SMOKE_RATES)[device.kind])
        if method and encoder in SMOKE_MEASURED_PASSES:
            speeds["pretrain"] *= SMOKE_MEASURED_PASSES[encoder] / METHODS.get(method).forward_passes
        return speeds
    forward = PERSONS * encoder_forward_flops(config)
    if not forward:
        raise UserError(f"the plan cannot cost the {encoder} encoder at the paper scale (engine/flops.py counts "
                        "the built-in encoders); run its jobs without --dry-run's estimate")  # fmt: skip
    step = METHODS.get(method).forward_passes * forward if method else 3 * forward
    if method_config is not None and hasattr(method_config, "decoder_depth"):
        step = masked_pretrain_flops(method_config, PERSONS)["total"]
    pretrain = device.flops.get(f"pretrain-{encoder}", device.flops["pretrain"])
    return {"pretrain": pretrain / step, "encode": device.flops["encode"] / forward,
            "train": device.flops["train"] / (3 * forward)}  # fmt: skip


def make_plan(jobs: list[Job], scale: str, options: Options, device: Device) -> Plan:
    """Resolve every protocol job, add the pretrainings they need once each, mark what is done."""
    pretrains: dict[str, Job] = {}
    for job in jobs:
        resolved = resolve(job.request, options)
        job.key = f"{resolved.protocol.name}:{resolved.digest}:{job.request.seed}"
        job.done = stored_record(resolved, options) is not None
        job.fidelity = getattr(resolved.config, "fidelity", "clean")
        job.checkpoint_epoch = resolved.encoder.checkpoint_epoch if resolved.encoder.pretraining else None
        job.cost_seconds = _protocol_seconds(resolved, scale, device)
        pretraining = resolved.encoder.pretraining
        if pretraining is None:
            continue
        job.depends = [pretraining.digest]
        if pretraining.digest not in pretrains:
            pretrains[pretraining.digest] = _pretrain_job(job, resolved, scale, options, device)
        if resolved.encoder.checkpoint_epoch >= 0:  # the pretraining keeps the epoch its evaluations use
            pjob = pretrains[pretraining.digest]
            kept = {*pjob.request.overrides.get("pretrain.keep_epochs", "").split(","), str(job.checkpoint_epoch)}
            pjob.request.overrides["pretrain.keep_epochs"] = ",".join(sorted(kept - {""}, key=int))
    return Plan(list(pretrains.values()), jobs, scale, device)


def _protocol_seconds(resolved: ResolvedRun, scale: str, device: Device) -> float:
    source = resolved.encoder
    train, test = resolved.target.clips
    speeds = rates(scale, device, source.name, source.encoder_config)
    return resolved.protocol.estimate_seconds(resolved.config, train, test, speeds)


def _pretrain_job(job: Job, resolved: ResolvedRun, scale: str, options: Options, device: Device) -> Job:
    pretraining = resolved.encoder.pretraining
    sets = {k: v for k, v in job.request.overrides.items() if k.startswith(("pretrain.", "method."))}
    request = Request(job.request.method, None, pretraining.dataset, scale=scale, seed=pretraining.config.seed,
                      overrides=sets)  # fmt: skip
    pjob = Job("pretrain", request, "pretrain", key=pretraining.digest)
    pjob.done = RunFolder(pretraining.folder(options.runs_dir)).finished
    config = pretraining.config
    pjob.batch_size, pjob.max_processes = config.batch_size, METHODS.get(pretraining.method).max_processes
    clips = min(resolved.source.clips[0], config.max_clips or resolved.source.clips[0])
    rate = rates(scale, device, resolved.encoder.name, pretraining.method_config.encoder, pretraining.method,
                 pretraining.method_config)["pretrain"]  # fmt: skip
    pjob.cost_seconds = config.epochs * clips / rate
    return pjob


def duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"
