"""How jobs are launched on this machine: in this process, side by side under torchrun (one job per free
GPU, a multi-GPU job as one torchrun), or through submitit's local executor; ``reproduce/slurm.py``
submits them to a Slurm cluster. An executor changes how a job runs, never what it computes: every
job goes through the pipeline, which continues whatever an interrupted attempt left.

A job starts when the one job it depends on (the pretraining it evaluates) has finished; a failed
pretraining skips only its dependants.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from mamp_bench import pipeline
from mamp_bench.errors import UserError
from mamp_bench.plan import Options, Request
from mamp_bench.reproduce.matrix import Job
from mamp_bench.reproduce.plan import Plan, duration
from mamp_bench.reproduce.resources import SIGNAL_DELAY_S, Cluster, Resources


def run_job(kind: str, request: Request, options: Options) -> None:
    """One job through the pipeline (which continues whatever an interrupted attempt left)."""
    if kind == "pretrain":
        pipeline.pretrain(request, options)
    else:
        pipeline.run(request, options)


class CheckpointableJob:
    """A job as submitit runs it. Checkpointable (submitit calls ``checkpoint`` on the time limit's
    warning signal and on preemption): the same job is requeued, and its next attempt resumes from the
    last finished epoch through the pipeline's own resume. A task of several processes sets up
    torch.distributed from the job's environment (several nodes too)."""

    def __call__(self, kind: str, request: Request, options: Options) -> None:
        import submitit

        if submitit.JobEnvironment().num_tasks > 1:
            submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
        run_job(kind, request, options)

    def checkpoint(self, kind: str, request: Request, options: Options):
        """Requeue the same job: its state is on disk (``checkpoint-last.pth``), not in this object."""
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self, kind, request, options)


def require_submitit():
    try:
        import submitit
    except ImportError:
        raise UserError("the slurm and local executors need submitit: pip install 'mamp-bench[slurm]'") from None
    return submitit


@dataclass
class Outcome:
    job: Job
    state: str  # "done", "failed" or "skipped"
    error: str = ""


class Running:
    """A started job: ``poll`` is None while it runs, then "" (done) or the error."""

    def __init__(self, poll: Callable[[], str | None]):
        self.poll = poll


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def failure(paths) -> str:
    """Why a submitit job failed: the last line of its error (its result, else its log), and the log's path
    (``paths``: the job's ``submitit.core.utils.JobPaths``)."""
    why = ""
    if paths.result_pickle.is_file():
        import pickle

        with open(paths.result_pickle, "rb") as handle:
            outcome, value = pickle.load(handle)
        why = last_line(str(value)) if outcome == "error" else ""
    if not why and paths.stderr.is_file():
        why = last_line(paths.stderr.read_text(errors="replace")[-4000:])
    why = why.removeprefix("mamp_bench.errors.UserError: ")  # a user's mistake reads as its one line
    return f"{why + '; ' if why else ''}log {paths.stderr}"


def schedule(jobs: list[Job], slots: int, need: Callable[[Job], int],
             start: Callable[[Job, list[int]], Running]) -> list[Outcome]:  # fmt: skip
    """Run ``jobs`` on ``slots`` devices: each as soon as its dependency has finished and ``need(job)``
    devices are free (in the jobs' order), ``start`` launching it on those devices."""
    pending, running, free = list(jobs), {}, list(range(slots))
    outcomes: dict[str, Outcome] = {}
    keys = {job.key for job in jobs}
    while pending or running:
        for job in list(pending):
            failed = [d for d in job.depends if d in outcomes and outcomes[d].state != "done"]
            if failed:
                pending.remove(job)
                outcomes[job.key] = Outcome(job, "skipped", f"its pretraining failed ({outcomes[failed[0]].error})")
                print(f"[{len(outcomes)}/{len(jobs)}] {job.describe()}: skipped, its pretraining failed", flush=True)
                continue
            count = min(need(job), slots)
            if any(d in keys and d not in outcomes for d in job.depends) or count > len(free):
                continue
            devices, free = free[:count], free[count:]
            pending.remove(job)
            started = time.time()
            running[job.key] = (job, devices, start(job, devices), started)
        for key, (job, devices, handle, started) in list(running.items()):
            error = handle.poll()
            if error is None:
                continue
            del running[key]
            free += devices
            outcomes[key] = Outcome(job, "failed" if error else "done", error)
            print(f"[{len(outcomes)}/{len(jobs)}] {job.describe()}: {error or 'done'} in "
                  f"{duration(time.time() - started)}", flush=True)  # fmt: skip
        if running:
            time.sleep(0.2)
    return [outcomes[job.key] for job in jobs]


def visible_gpus() -> int:
    import torch

    return torch.cuda.device_count()


def run_here(plan: Plan, options: Options, cluster: Cluster, resources: dict[str, Resources]) -> list[Outcome]:
    """Run the plan's unfinished jobs on this machine with the ``inprocess``, ``torchrun`` or ``local``
    executor."""
    options = Options(**{**vars(options), "quiet": True})
    jobs = plan.todo()
    if cluster.executor == "inprocess":
        return schedule(jobs, 1, lambda job: 1, lambda job, devices: _in_process(job, options))
    slots = cluster.slots or max(visible_gpus(), 1)
    need = lambda job: resources[job.key].processes  # noqa: E731
    if cluster.executor == "torchrun":
        return schedule(jobs, slots, need, lambda job, devices: _torchrun(job, options, devices))
    if cluster.executor == "local":
        submitit = require_submitit()
        start = lambda job, devices: _local(submitit, job, options, cluster, resources[job.key], devices)  # noqa: E731
        return schedule(jobs, slots, need, start)
    raise UserError(f"the {cluster.executor} executor does not run jobs on this machine")


def _in_process(job: Job, options: Options) -> Running:
    try:
        run_job(job.kind, job.request, options)
        error = ""
    except UserError as exc:
        error = str(exc)
    return Running(lambda: error)


def _torchrun(job: Job, options: Options, devices: list[int]) -> Running:
    """A job on ``devices``: one process on one GPU, or one torchrun of a process per GPU."""
    command = [sys.executable, "-m", "mamp_bench", *job.command(), *option_arguments(job, options)]
    if len(devices) > 1:
        command[1:3] = ["-m", "torch.distributed.run", f"--nproc_per_node={len(devices)}",
                        f"--master_port={free_port()}", "-m", "mamp_bench"]  # fmt: skip
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ",".join(map(str, devices))}
    process = subprocess.Popen(command, env=env)
    return Running(lambda: None if process.poll() is None else ("" if process.returncode == 0 else
                                                                f"exit status {process.returncode}"))  # fmt: skip


def _local(submitit, job: Job, options: Options, cluster: Cluster, res: Resources,
           devices: list[int]) -> Running:  # fmt: skip
    """A job through submitit's local executor: a time limit and a requeue on it, as on a cluster."""
    executor = submitit.LocalExecutor(folder=str(cluster.folder), max_num_timeout=res.max_timeouts(cluster))
    gpus = devices if res.gpus else []
    executor.update_parameters(timeout_min=res.time_min, tasks_per_node=res.processes, gpus_per_node=len(gpus),
                               visible_gpus=gpus, signal_delay_s=SIGNAL_DELAY_S)  # fmt: skip
    handle = executor.submit(CheckpointableJob(), job.kind, job.request, options)

    def poll() -> str | None:
        if not handle.done():
            return None
        try:
            handle.result()
        except Exception:  # a failed job is reported, the others go on
            return failure(handle.paths)
        return ""

    return Running(poll)


def option_arguments(job: Job, options: Options) -> list[str]:
    """The where-and-how options of a job's command line."""
    args = ["--device", options.device, "--quiet"]
    pairs = [("--data-root", options.data_root), ("--runs-dir", options.runs_dir)]
    if job.kind == "run":  # the results store is the protocols' business
        pairs.append(("--results-dir", options.results_dir))
    return args + [arg for flag, value in pairs if value for arg in (flag, str(value))]


def report(outcomes: list[Outcome], seconds: float) -> list[Outcome]:
    """Print the summary line; return the jobs that did not finish."""
    failed = [o for o in outcomes if o.state != "done"]
    skipped = sum(o.state == "skipped" for o in outcomes)
    print(f"reproduce: {len(outcomes)} jobs run in {duration(seconds)}, {len(failed) - skipped} failed"
          + (f", {skipped} skipped (their pretraining failed)" if skipped else ""))  # fmt: skip
    return failed


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
