"""The plan on a Slurm cluster through submitit: every unfinished job submitted at once, each asking for
its own resources (``resources.py``), each protocol job held by Slurm until the pretraining it
evaluates has finished (``--dependency=afterok``; ``--kill-on-invalid-dep=yes`` cancels it when that
pretraining fails, and no other job). Jobs of the same resources and dependency go in one job array.
Every job is checkpointable: the time limit's warning signal (or a preemption) requeues it, and it
resumes from its last finished epoch.

What was submitted is kept in ``<submitit folder>/jobs.json`` (the job ids, what each asked for, the
cluster's options), so that ``reproduce --status``, or the plan run again, reads the jobs' states
(``sacct``) beside the records, and submits again only what is neither finished nor queued nor
running.
"""

from __future__ import annotations

import datetime as _dt
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mamp_bench.fileio import read_json, write_json
from mamp_bench.plan import Options
from mamp_bench.reproduce.executors import CheckpointableJob, failure, require_submitit
from mamp_bench.reproduce.matrix import Job
from mamp_bench.reproduce.plan import Plan
from mamp_bench.reproduce.resources import SIGNAL_DELAY_S, Cluster, Resources

LEDGER = "jobs.json"
QUEUED = {"PENDING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "CONFIGURING", "RESIZING", "SUSPENDED"}
RUNNING = {"RUNNING", "COMPLETING", "STAGE_OUT", "SIGNALING"}
LIVE = QUEUED | RUNNING
JOB_NAME = "mamp-bench"


@dataclass
class Status:
    """Where one job of the plan stands."""

    job: Job
    state: str  # "done", "running", "queued", "failed", "skipped", "unknown" or "not submitted"
    job_id: str | None = None
    detail: str = ""  # why it failed, and its log


class Ledger:
    """The jobs submitted from one submitit folder: ``{"cluster": ..., "jobs": {key: entry}}``."""

    def __init__(self, folder: Path):
        self.path = Path(folder) / LEDGER
        self.data: dict[str, Any] = read_json(self.path, "submitted jobs") if self.path.is_file() else {"jobs": {}}

    @property
    def jobs(self) -> dict[str, dict[str, Any]]:
        return self.data["jobs"]

    def add(self, job: Job, job_id: str, res: Resources, depends: str | None) -> None:
        now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        self.jobs[job.key] = {"job_id": job_id, "job": job.describe(), "kind": job.kind, "depends": depends,
                              "resources": asdict(res), "submitted": now}  # fmt: skip

    def save(self, cluster: Cluster, device: str) -> None:
        self.data.update(cluster=cluster.record(), device=device)
        write_json(self.path, self.data)


def slurm_states(job_ids: list[str]) -> dict[str, str]:
    """Slurm's state of each job (``sacct`` through submitit's watcher; UNKNOWN where it does not say)."""
    if not job_ids:
        return {}
    from submitit.slurm.slurm import SlurmInfoWatcher

    watcher = SlurmInfoWatcher()
    for job_id in job_ids:
        watcher.register_job(job_id)
    watcher.update()
    return {job_id: watcher.get_state(job_id, mode="cache").split()[0].upper() for job_id in job_ids}


def job_paths(folder: Path, job_id: str):
    from submitit.core.utils import JobPaths

    return JobPaths(folder, job_id=job_id)


def statuses(plan: Plan, cluster: Cluster) -> list[Status]:
    """Every job of the plan: done (its record or finished pretraining is there), else what Slurm says."""
    ledger = Ledger(cluster.folder)
    submitted = {job.key: ledger.jobs[job.key]["job_id"] for job in plan.jobs if job.key in ledger.jobs}
    states = slurm_states([submitted[job.key] for job in plan.todo() if job.key in submitted])
    out: list[Status] = []
    failed_pretrainings = set()
    for job in plan.jobs:
        job_id = submitted.get(job.key)
        state = states.get(job_id, "")
        if job.done:
            out.append(Status(job, "done", job_id))
        elif job_id is None:
            out.append(Status(job, "not submitted"))
        elif state in QUEUED:
            out.append(Status(job, "queued", job_id, state.lower()))
        elif state in RUNNING:
            out.append(Status(job, "running", job_id))
        elif state == "CANCELLED" and set(job.depends) & failed_pretrainings:
            out.append(Status(job, "skipped", job_id, "its pretraining failed"))
        elif state in ("", "UNKNOWN") and not job_paths(cluster.folder, job_id).result_pickle.is_file():
            out.append(Status(job, "unknown", job_id, "sacct does not know it (yet): not submitted again"))
        else:
            why = "finished without its result (another results folder?)" if state == "COMPLETED" else ""
            detail = f"{state.lower() or 'unknown state'}: {why or failure(job_paths(cluster.folder, job_id))}"
            out.append(Status(job, "failed", job_id, detail))
            if job.kind == "pretrain":
                failed_pretrainings.add(job.key)
    return out


def print_statuses(found: list[Status]) -> None:
    order = ("done", "running", "queued", "failed", "skipped", "unknown", "not submitted")
    counts = {state: sum(s.state == state for s in found) for state in order}
    print("status: " + ", ".join(f"{n} {state}" for state, n in counts.items() if n))
    for status in found:  # the queued ones are only counted: they are most of the plan for a while
        if status.state not in ("done", "queued"):
            ident = f" [{status.job_id}]" if status.job_id else ""
            print(f"  {status.state}{ident} {status.job.describe()}" + (f": {status.detail}" if status.detail else ""))
    if not shutil.which("sacct") and any(s.job_id and s.state == "failed" for s in found):
        print("  (sacct is not on this machine's PATH: run --status on the cluster's login node)")


def submit(plan: Plan, options: Options, cluster: Cluster, resources: dict[str, Resources]) -> list[Status]:
    """Submit every job that is neither done nor queued nor running; the plan's statuses after it."""
    submitit = require_submitit()
    before = {s.job.key: s for s in statuses(plan, cluster)}
    ledger = Ledger(cluster.folder)
    options = Options(**{**vars(options), "quiet": True})
    live = ("queued", "running", "unknown")
    wanted = [job for job in plan.todo() if before[job.key].state not in live]
    ids = {key: s.job_id for key, s in before.items() if s.state in live}
    groups: dict[tuple, list[Job]] = {}
    for job in (j for j in wanted if j.kind == "pretrain"):
        groups.setdefault((resources[job.key], None), []).append(job)
    for jobs in groups.values():  # the pretrainings first: their ids are the protocol jobs' dependencies
        _submit_group(submitit, jobs, resources[jobs[0].key], None, options, cluster, ledger, ids)
    groups = {}
    for job in (j for j in wanted if j.kind != "pretrain"):
        after = next((ids[d] for d in job.depends if d in ids), None)
        groups.setdefault((resources[job.key], after), []).append(job)
    for (res, after), jobs in groups.items():
        _submit_group(submitit, jobs, res, after, options, cluster, ledger, ids)
    ledger.save(cluster, plan.device.name)
    return statuses(plan, cluster)


def _submit_group(submitit, jobs: list[Job], res: Resources, after: str | None, options: Options,
                  cluster: Cluster, ledger: Ledger, ids: dict[str, str]) -> None:  # fmt: skip
    """One job array (a single job when alone): the same resources, the same dependency."""
    executor = submitit.SlurmExecutor(folder=str(cluster.folder), max_num_timeout=res.max_timeouts(cluster))
    extra = dict(cluster.sbatch)
    if after:
        extra.update(dependency=f"afterok:{after}", kill_on_invalid_dep="yes")
    executor.update_parameters(job_name=JOB_NAME, time=res.time_min, nodes=res.nodes,
                               ntasks_per_node=res.tasks_per_node, gpus_per_node=res.gpus // res.nodes or None,
                               cpus_per_task=cluster.cpus_per_task,
                               signal_delay_s=SIGNAL_DELAY_S, additional_parameters=extra or None,
                               **cluster.slurm_parameters())  # fmt: skip
    submitted = executor.map_array(CheckpointableJob(), [j.kind for j in jobs], [j.request for j in jobs],
                                   [options] * len(jobs))  # fmt: skip
    for job, handle in zip(jobs, submitted, strict=True):
        ids[job.key] = handle.job_id
        ledger.add(job, handle.job_id, res, after)
    asked = f"{res.gpus} GPU(s) on {res.nodes} node(s), {res.time_limit()}" + (f", after {after}" if after else "")
    names = jobs[0].describe() + (f" and {len(jobs) - 1} more" if len(jobs) > 1 else "")
    print(f"submitted {submitted[0].job_id.split('_')[0]} ({asked}): {names}", flush=True)


def wait(plan_again, cluster: Cluster, poll_s: float = 60) -> list[Status]:
    """Follow the submitted jobs until none is queued or running (``plan_again`` re-reads what is
    done); print each change of the counts."""
    last = None
    while True:
        found = statuses(plan_again(), cluster)
        counts = tuple(sum(s.state == state for s in found) for state in ("done", "running", "queued", "failed"))
        if counts != last:
            stamp = _dt.datetime.now().strftime("%H:%M")
            print(f"{stamp} done {counts[0]}, running {counts[1]}, queued {counts[2]}, failed {counts[3]}", flush=True)
            last = counts
        if not counts[1] and not counts[2]:
            return found
        time.sleep(poll_s)
