"""Planning: the pretraining jobs the protocol jobs depend on (each once), what is already done, what
it costs, and the printed plan.

Costs: at the smoke scale, clips/s measured on the development CPU. At the paper scale, each job's
floating-point operations (``engine/flops.py``: the pretraining step, a frozen forward pass, or a
forward and backward pass of the encoder, per clip) over a device's effective FLOP/s: on CPU the
measured pretraining step (``benchmarks/results/cpu-xeon-2core.txt``); on GPU, until the suite has
measured one (``python -m benchmarks.gpu``), the published RTX 4090 figure, marked as such.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mamp_bench.engine.flops import encoder_flops, masked_pretrain_flops
from mamp_bench.engine.run_folder import RunFolder
from mamp_bench.plan import Options, Request, ResolvedRun, resolve, stored_record
from mamp_bench.reproduce.matrix import Job

#: smoke scale, clips/s by device: "pretrain" a pretraining step, "encode" a frozen forward pass,
#: "train" forward and backward through the encoder (CPU: measured on the 2-core Xeon; GPU: a guess)
SMOKE_RATES = {
    "cpu": {"pretrain": 380.0, "encode": 400.0, "train": 90.0},
    "cuda": {"pretrain": 3000.0, "encode": 8000.0, "train": 1500.0},
}
#: paper scale: effective FLOP/s of one device on the suite's jobs, and where the figure comes from
DEVICE_FLOPS = {
    "cpu": (2.09e11, "measured: 5.55 NTU-60 pretraining clips/s x 37.6 GFLOP on the 2-core Xeon"),
    "cuda": (
        8.19e12,
        "published, not measured here: RTX 4090, 20 h 27 min for a 400-epoch NTU-60 "
        "pretraining (GFP, ICCV 2025), 37.6 GFLOP a clip",
    ),  # fmt: skip
}
PERSONS = 2  # every clip is encoded as two person sequences


@dataclass
class Plan:
    pretrain_jobs: list[Job]
    protocol_jobs: list[Job]
    scale: str = "smoke"
    device_kind: str = "cpu"

    @property
    def jobs(self) -> list[Job]:
        return self.pretrain_jobs + self.protocol_jobs

    def todo(self) -> list[Job]:
        return [j for j in self.jobs if not j.done]

    @property
    def gpu_hours(self) -> float | None:
        hours = [j.gpu_hours for j in self.todo() if j.gpu_hours is not None]
        return sum(hours) if self.scale == "paper" else None


def rates(scale: str, device_kind: str, encoder: Any, method_config: Any = None) -> dict[str, float]:
    """Clips/s of a job's three kinds of work on a device (see the module's docstring)."""
    if scale != "paper":
        return SMOKE_RATES[device_kind]
    flops, _ = DEVICE_FLOPS[device_kind]
    forward = PERSONS * encoder_flops(encoder)
    step = 3 * forward  # forward, and a backward of twice its cost
    if method_config is not None and hasattr(method_config, "decoder_depth"):
        step = masked_pretrain_flops(method_config, PERSONS)["total"]
    return {"pretrain": flops / step, "encode": flops / forward, "train": flops / (3 * forward)}


def make_plan(jobs: list[Job], scale: str, options: Options, device_kind: str) -> Plan:
    """Resolve every protocol job, add the pretrainings they need once each, mark what is done."""
    pretrains: dict[str, Job] = {}
    for job in jobs:
        resolved = resolve(job.request, options)
        job.key = f"{resolved.protocol.name}:{resolved.digest}:{job.request.seed}"
        job.done = stored_record(resolved, options) is not None
        job.fidelity = getattr(resolved.config, "fidelity", "clean")
        job.checkpoint_epoch = resolved.encoder.checkpoint_epoch if resolved.encoder.pretraining else None
        job.cost_seconds, job.gpu_hours = _protocol_cost(resolved, scale, device_kind)
        pretraining = resolved.encoder.pretraining
        if pretraining is None:
            continue
        job.depends = [pretraining.digest]
        if pretraining.digest not in pretrains:
            pretrains[pretraining.digest] = _pretrain_job(job, resolved, scale, options, device_kind)
        if resolved.encoder.checkpoint_epoch >= 0:  # the pretraining keeps the epoch its evaluations use
            pjob = pretrains[pretraining.digest]
            kept = {*pjob.request.overrides.get("pretrain.keep_epochs", "").split(","), str(job.checkpoint_epoch)}
            pjob.request.overrides["pretrain.keep_epochs"] = ",".join(sorted(kept - {""}, key=int))
    return Plan(list(pretrains.values()), jobs, scale, device_kind)


def _protocol_cost(resolved: ResolvedRun, scale: str, device_kind: str) -> tuple[float, float | None]:
    """(seconds on the planning device, hours on one GPU at the paper scale)."""
    source = resolved.encoder
    encoder = source.encoder_config or source.pretraining.method_config.encoder
    train, test = resolved.target.clips

    def seconds(kind: str) -> float:
        return resolved.protocol.estimate_seconds(resolved.config, train, test, rates(scale, kind, encoder))

    return seconds(device_kind), seconds("cuda") / 3600 if scale == "paper" else None


def _pretrain_job(job: Job, resolved: ResolvedRun, scale: str, options: Options, device_kind: str) -> Job:
    pretraining = resolved.encoder.pretraining
    sets = {k: v for k, v in job.request.overrides.items() if k.startswith(("pretrain.", "method."))}
    request = Request(job.request.method, None, pretraining.dataset, scale=scale, seed=pretraining.config.seed,
                      overrides=sets)  # fmt: skip
    pjob = Job("pretrain", request, "pretrain", key=pretraining.digest)
    pjob.done = RunFolder(pretraining.folder(options.runs_dir)).finished
    config = pretraining.config
    clips = min(resolved.source.clips[0], config.max_clips or resolved.source.clips[0])

    def seconds(kind: str) -> float:
        rate = rates(scale, kind, pretraining.method_config.encoder, pretraining.method_config)["pretrain"]
        return config.epochs * clips / rate

    pjob.cost_seconds = seconds(device_kind)
    pjob.gpu_hours = seconds("cuda") / 3600 if scale == "paper" else None
    return pjob


def duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def _epoch(job: Job) -> str:
    """The pretraining checkpoint a job evaluates."""
    if job.checkpoint_epoch is None:
        return ""
    return "final" if job.checkpoint_epoch < 0 else f"epoch {job.checkpoint_epoch}"


def print_plan(plan: Plan) -> None:
    from rich.console import Console
    from rich.table import Table

    paper = plan.scale == "paper"
    table = Table(title=f"reproduce ({plan.scale} scale, estimates for {plan.device_kind})")
    columns = ["stage", "job", "fidelity", "checkpoint", "status", "estimate"] + (["GPU-h"] if paper else [])
    for column in columns:
        table.add_column(column, overflow="fold")
    for stage, jobs in (("1 pretrain", plan.pretrain_jobs), ("2 protocol", plan.protocol_jobs)):
        for job in jobs:
            status = "done" if job.done else "to run"
            cells = [stage, job.describe(), job.fidelity, _epoch(job), status, duration(job.cost_seconds)]
            table.add_row(*cells, *([f"{job.gpu_hours:.1f}"] if paper else []))
    console = Console()
    console.print(table)
    todo = plan.todo()
    console.print(f"{len(plan.jobs)} jobs, {len(plan.jobs) - len(todo)} done, {len(todo)} to run; "
                  f"estimated {duration(sum(j.cost_seconds for j in todo))} on {plan.device_kind}")  # fmt: skip
    if paper:
        console.print(f"on one GPU: {plan.gpu_hours:.0f} GPU-hours to run; rate {DEVICE_FLOPS['cuda'][1]}")
