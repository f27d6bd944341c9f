"""Run a plan stage by stage (pretrainings, then protocols) and report what happened."""

from __future__ import annotations

import time

from mamp_bench.reproduce.executors import ExecutorConfig, run_stage
from mamp_bench.reproduce.matrix import Job
from mamp_bench.reproduce.plan import Plan


def _duration(seconds: float) -> str:
    return (
        f"{seconds / 3600:.1f} h"
        if seconds >= 3600
        else f"{seconds / 60:.1f} min"
        if seconds >= 60
        else f"{seconds:.0f} s"
    )


def print_plan(plan: Plan, scale: str, device_kind: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"reproduce ({scale} scale, estimates for {device_kind})")
    for column in ("stage", "job", "status", "estimate"):
        table.add_column(column)
    for stage, jobs in (("1 pretrain", plan.pretrain_jobs), ("2 protocol", plan.protocol_jobs)):
        for job in jobs:
            table.add_row(stage, job.describe(), "done" if job.done else "to run", _duration(job.cost_seconds))
    console = Console()
    console.print(table)
    todo = plan.todo()
    console.print(
        f"{len(plan.jobs)} jobs, {len(plan.jobs) - len(todo)} done, {len(todo)} to run; "
        f"estimated {_duration(sum(j.cost_seconds for j in todo))} on {device_kind}"
    )


def execute(plan: Plan, common: list[str], executor: ExecutorConfig) -> list[tuple[Job, str]]:
    failures: list[tuple[Job, str]] = []
    start = time.time()
    pretrain = [j for j in plan.pretrain_jobs if not j.done]
    for job, error in run_stage(pretrain, common, executor):
        if error:
            failures.append((job, error))
    failed = {j.key for j, _ in failures}
    protocol = [j for j in plan.protocol_jobs if not j.done and not set(j.depends) & failed]
    for job, error in run_stage(protocol, common, executor):
        if error:
            failures.append((job, error))
    total = len(pretrain) + len(protocol)
    print(f"reproduce: {total} jobs run in {_duration(time.time() - start)}, {len(failures)} failed")
    return failures
