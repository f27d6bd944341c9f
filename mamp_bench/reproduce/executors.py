"""How jobs are launched: in this process, under torchrun (several GPUs), or as Slurm array tasks
through submitit (``local`` runs submitit's local executor, for tests and single machines). An
executor changes how a job runs, never what it computes: every job goes through the pipeline."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from mamp_bench import pipeline
from mamp_bench.errors import UserError
from mamp_bench.reproduce.matrix import Job
from mamp_bench.reproduce.plan import Plan, duration

EXECUTORS = ("inprocess", "torchrun", "slurm", "local")


@dataclass
class ExecutorConfig:
    kind: str = "inprocess"
    gpus: int = 1  # processes per job for torchrun and slurm
    folder: Path = Path("runs/submitit")
    slurm_partition: str | None = None
    slurm_time_min: int = 24 * 60
    slurm_cpus_per_task: int = 8


def run_job(kind: str, request: pipeline.Request, options: pipeline.Options) -> None:
    """One job through the pipeline (which continues whatever an interrupted attempt left)."""
    if kind == "pretrain":
        pipeline.pretrain(request, options)
    else:
        pipeline.run(request, options)


def _job_main(kind: str, request: pipeline.Request, options: pipeline.Options) -> None:
    """Entry point of one job in a submitit task (DDP when the task has several processes)."""
    try:
        import submitit

        if submitit.JobEnvironment().num_tasks > 1:
            submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
    except (ImportError, RuntimeError):
        pass
    run_job(kind, request, options)


def run_stage(jobs: list[Job], options: pipeline.Options, config: ExecutorConfig) -> list[tuple[Job, str | None]]:
    """Run the jobs of one stage (they do not depend on each other); return (job, error or None)."""
    if not jobs:
        return []
    options = pipeline.Options(**{**vars(options), "quiet": True})
    if config.kind in ("inprocess", "torchrun"):
        results = []
        for i, job in enumerate(jobs, 1):
            start = time.time()
            error = _run_here(job, options, config)
            results.append((job, error))
            print(f"[{i}/{len(jobs)}] {job.describe()}: {error or 'done'} in {time.time() - start:.0f} s", flush=True)
        return results
    if config.kind in ("slurm", "local"):
        return _submitit_stage(jobs, options, config)
    raise UserError(f"unknown executor {config.kind!r}; choose from {', '.join(EXECUTORS)}")


def _run_here(job: Job, options: pipeline.Options, config: ExecutorConfig) -> str | None:
    """Run one job on this machine: in this process, or under torchrun with ``config.gpus`` processes."""
    if config.kind == "inprocess":
        try:
            run_job(job.kind, job.request, options)
        except UserError as exc:
            return str(exc)
        return None
    launcher = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={config.gpus}",
                f"--master_port={_free_port()}", "-m", "mamp_bench"]  # fmt: skip
    cmd = [*launcher, *job.command(), *option_arguments(job, options)]
    code = subprocess.run(cmd, env=os.environ.copy()).returncode
    return None if code == 0 else f"exit status {code}"


def option_arguments(job: Job, options: pipeline.Options) -> list[str]:
    """The where-and-how options of a job's command line."""
    args = ["--device", options.device, "--quiet"]
    pairs = [("--data-root", options.data_root), ("--runs-dir", options.runs_dir)]
    if job.kind == "run":  # the results store is the protocols' business
        pairs.append(("--results-dir", options.results_dir))
    return args + [arg for flag, value in pairs if value for arg in (flag, str(value))]


def _submitit_stage(jobs: list[Job], options: pipeline.Options, config: ExecutorConfig) -> list[tuple[Job, str | None]]:
    try:
        import submitit
    except ImportError:
        raise UserError("the slurm and local executors need submitit: pip install 'mamp-bench[slurm]'") from None
    if config.kind == "local":
        executor = submitit.LocalExecutor(folder=str(config.folder))
        executor.update_parameters(timeout_min=config.slurm_time_min)
    else:
        executor = submitit.AutoExecutor(folder=str(config.folder), cluster="slurm")
        params = {
            "timeout_min": config.slurm_time_min,
            "gpus_per_node": config.gpus,
            "tasks_per_node": config.gpus,
            "cpus_per_task": config.slurm_cpus_per_task,
            "nodes": 1,
            "name": "mamp-bench",
        }
        if config.slurm_partition:
            params["slurm_partition"] = config.slurm_partition
        executor.update_parameters(**params)
    submitted = executor.map_array(
        _job_main, [job.kind for job in jobs], [job.request for job in jobs], [options] * len(jobs)
    )
    results = []
    for job, handle in zip(jobs, submitted, strict=True):
        try:
            handle.result()
            results.append((job, None))
        except Exception as exc:  # a failed task is reported, the others go on
            results.append((job, str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__))
    return results


def execute(plan: Plan, options: pipeline.Options, executor: ExecutorConfig) -> list[tuple[Job, str]]:
    """Run a plan stage by stage (pretrainings, then the protocols whose pretraining succeeded)."""
    failures: list[tuple[Job, str]] = []
    start = time.time()
    pretrain = [j for j in plan.pretrain_jobs if not j.done]
    failures += [(job, error) for job, error in run_stage(pretrain, options, executor) if error]
    failed = {j.key for j, _ in failures}
    protocol = [j for j in plan.protocol_jobs if not j.done and not set(j.depends) & failed]
    failures += [(job, error) for job, error in run_stage(protocol, options, executor) if error]
    print(f"reproduce: {len(pretrain) + len(protocol)} jobs run in {duration(time.time() - start)}, "
          f"{len(failures)} failed")  # fmt: skip
    return failures


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
