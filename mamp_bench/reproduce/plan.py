"""Planning: the pretraining jobs the protocol jobs depend on (each once), what is already done,
what it costs (from each protocol's own estimate), and the printed plan."""

from __future__ import annotations

from dataclasses import dataclass

from mamp_bench.engine.runs import RunDir
from mamp_bench.pipeline import Options, Request, existing_record, resolve
from mamp_bench.reproduce.matrix import Job

#: clips per second by (scale, device kind): "pretrain" a pretraining step, "encode" a frozen forward
#: pass, "train" forward and backward through the encoder; measured on this project's machines (smoke
#: on a 2-core Xeon; paper on GPU from the ~20 h per 400-epoch NTU-60 pretraining reported on an RTX
#: 4090, on CPU from benchmarks/)
THROUGHPUT = {
    ("smoke", "cpu"): {"pretrain": 380.0, "encode": 400.0, "train": 90.0},
    ("smoke", "cuda"): {"pretrain": 3000.0, "encode": 8000.0, "train": 1500.0},
    ("paper", "cpu"): {"pretrain": 5.4, "encode": 7.0, "train": 2.3},
    ("paper", "cuda"): {"pretrain": 220.0, "encode": 700.0, "train": 150.0},
}


@dataclass
class Plan:
    pretrain_jobs: list[Job]
    protocol_jobs: list[Job]

    @property
    def jobs(self) -> list[Job]:
        return self.pretrain_jobs + self.protocol_jobs

    def todo(self) -> list[Job]:
        return [j for j in self.jobs if not j.done]


def make_plan(jobs: list[Job], scale: str, options: Options, device_kind: str) -> Plan:
    """Resolve every protocol job, add the pretrainings they need once each, mark what is done."""
    rates = THROUGHPUT[(scale, device_kind)]
    pretrains: dict[str, Job] = {}
    for job in jobs:
        resolved = resolve(job.request, options)
        job.key = f"{resolved.protocol_cls.name}:{resolved.digest}:{job.request.seed}"
        job.done = existing_record(resolved, options) is not None
        train, test = resolved.target.clips
        job.cost_seconds = resolved.protocol_cls.estimate_seconds(resolved.config, train, test, rates)
        pretraining = resolved.encoder.pretraining
        if pretraining is None:
            continue
        job.depends = [pretraining.digest]
        if pretraining.digest in pretrains:
            continue
        sets = {k: v for k, v in job.request.overrides.items() if k.startswith(("pretrain.", "method."))}
        request = Request(job.request.method, None, pretraining.dataset, scale=scale, seed=pretraining.config.seed,
                          overrides=sets)  # fmt: skip
        pjob = Job("pretrain", request, "pretrain", key=pretraining.digest)
        pjob.done = RunDir(pretraining.folder(options.runs_dir)).finished
        clips = resolved.source.clips[0]
        pjob.cost_seconds = (
            pretraining.config.epochs * min(clips, pretraining.config.max_clips or clips) / rates["pretrain"]
        )
        pretrains[pretraining.digest] = pjob
    return Plan(list(pretrains.values()), jobs)


def duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def print_plan(plan: Plan, scale: str, device_kind: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"reproduce ({scale} scale, estimates for {device_kind})")
    for column in ("stage", "job", "status", "estimate"):
        table.add_column(column)
    for stage, jobs in (("1 pretrain", plan.pretrain_jobs), ("2 protocol", plan.protocol_jobs)):
        for job in jobs:
            table.add_row(stage, job.describe(), "done" if job.done else "to run", duration(job.cost_seconds))
    console = Console()
    console.print(table)
    todo = plan.todo()
    console.print(
        f"{len(plan.jobs)} jobs, {len(plan.jobs) - len(todo)} done, {len(todo)} to run; "
        f"estimated {duration(sum(j.cost_seconds for j in todo))} on {device_kind}"
    )
