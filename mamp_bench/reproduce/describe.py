"""The printed plan: every job with its status, its estimate on the plan's device and what it asks for
from the executor that will run it, then the plan's cost and what to watch for."""

from __future__ import annotations

from mamp_bench.reproduce.matrix import Job
from mamp_bench.reproduce.plan import Plan, duration
from mamp_bench.reproduce.resources import Cluster, Resources


def _epoch(job: Job) -> str:
    """The pretraining checkpoint a job evaluates."""
    if job.checkpoint_epoch is None:
        return ""
    return "final" if job.checkpoint_epoch < 0 else f"epoch {job.checkpoint_epoch}"


def executor_line(cluster: Cluster, slots: int) -> str:
    if cluster.executor == "inprocess":
        return "executor inprocess: one job after another in this process"
    if cluster.executor == "torchrun":
        return (f"executor torchrun: side by side on this machine's {slots} GPU(s), a one-GPU job on each free GPU, "
                "a job of several GPUs as one torchrun")  # fmt: skip
    if cluster.executor == "local":
        return "executor local: submitit's local executor on this machine (time limits and requeues as on a cluster)"
    options = {"partition": cluster.partition or "the cluster's default", "account": cluster.account,
               "qos": cluster.qos, "constraint": cluster.constraint, "mem": cluster.mem}  # fmt: skip
    asked = ", ".join(f"{k} {v}" for k, v in options.items() if v)
    extra = " ".join(f"--{k}" + ("" if v is True else f"={v}") for k, v in cluster.sbatch.items())
    return (f"executor slurm: every row a Slurm job through submitit ({asked}; {cluster.cpus_per_task} CPUs a task"
            f"{'; ' + extra if extra else ''}); a protocol job waits for its own pretraining (afterok)")  # fmt: skip


def print_plan(plan: Plan, cluster: Cluster, resources: dict[str, Resources], slots: int = 1) -> None:
    from rich.console import Console
    from rich.table import Table

    scheduled = cluster.executor in ("slurm", "local")
    hours = "GPU-h" if plan.device.gpu else "CPU-h"
    title = f"reproduce ({plan.scale} scale, executor {cluster.executor}, estimates for {plan.device.name})"
    table = Table(title=title)
    columns = ["stage", "job", "fidelity", "checkpoint", "status", "estimate", hours]
    columns += ["GPUs"] if cluster.executor != "inprocess" else []
    columns += ["nodes", "time limit"] if scheduled else []
    for column in columns:
        table.add_column(column, overflow="fold")
    for stage, jobs in (("1 pretrain", plan.pretrain_jobs), ("2 protocol", plan.protocol_jobs)):
        for job in jobs:
            res = resources[job.key]
            cells = [stage, job.describe(), job.fidelity, _epoch(job), "done" if job.done else "to run",
                     duration(res.wall_s), f"{job.cost_seconds / 3600:.1f}"]  # fmt: skip
            cells += [str(res.gpus)] if cluster.executor != "inprocess" else []
            cells += [str(res.nodes), res.time_limit()] if scheduled else []
            table.add_row(*cells)
    console = Console()
    console.print(table)
    console.print(executor_line(cluster, slots))
    todo = plan.todo()
    counts = f"{len(plan.jobs)} jobs, {len(plan.jobs) - len(todo)} done, {len(todo)} to run"
    if plan.device.gpu:
        console.print(f"{counts}; {plan.hours:.1f} GPU-hours on {plan.device.name} ({plan.device.source})")
    else:
        console.print(f"{counts}; estimated {duration(plan.hours * 3600)} on {plan.device.name}")
    for line in notes(plan, cluster, resources):
        console.print(line)


def notes(plan: Plan, cluster: Cluster, resources: dict[str, Resources]) -> list[str]:
    """The wall time to expect, and the jobs that outlast the time limit."""
    todo = {job.key: job for job in plan.todo()}
    if not todo:
        return []
    out = []
    if cluster.executor in ("slurm", "local"):
        chain = max(resources[key].wall_s + sum(resources[d].wall_s for d in job.depends if d in todo)
                    for key, job in todo.items())  # fmt: skip
        out.append(f"if every job starts when its pretraining ends, the last result comes {duration(chain)} after "
                   "the first job starts (the longest pretraining and its longest evaluation)")  # fmt: skip
        split = [resources[key] for key in todo if resources[key].pieces > 1]
        if split:
            longest = max(r.pieces for r in split)
            cap = duration(cluster.time_cap_min * 60)
            out.append(f"warning: {len(split)} job(s) outlast the {cap} time limit: each runs in up to {longest} "
                       "pieces, requeued from its last finished epoch (requeue limit: the pieces + "
                       f"{cluster.max_requeues}); more --gpus or a longer --slurm-time avoids it")  # fmt: skip
    elif cluster.executor == "inprocess":
        out.append(f"one after another: {duration(sum(resources[key].wall_s for key in todo))}")
    return out
