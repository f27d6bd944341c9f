"""How jobs are launched: in this process, under torchrun (several GPUs), or as Slurm array tasks
through submitit (``local`` runs submitit's local executor, for tests and single machines)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from mamp_bench.errors import UserError
from mamp_bench.reproduce.matrix import Job

EXECUTORS = ("inprocess", "torchrun", "slurm", "local")


def _job_main(argv: list[str]) -> int:
    """Entry point of one job in a worker process (submitit)."""
    try:
        import submitit

        env = submitit.JobEnvironment()
        if env.num_tasks > 1:
            submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
    except (ImportError, RuntimeError):
        pass
    from mamp_bench.cli import main

    code = main(argv)
    if code:
        raise RuntimeError(f"mamp-bench {' '.join(argv)} exited with status {code}")
    return code


@dataclass
class ExecutorConfig:
    kind: str = "inprocess"
    gpus: int = 1  # processes per job for torchrun and slurm
    folder: Path = Path("runs/submitit")
    slurm_partition: str | None = None
    slurm_time_min: int = 24 * 60
    slurm_cpus_per_task: int = 8


def run_stage(jobs: list[Job], common: list[str], config: ExecutorConfig) -> list[tuple[Job, str | None]]:
    """Run the jobs of one stage (they do not depend on each other); return (job, error or None)."""
    if not jobs:
        return []
    if config.kind in ("inprocess", "torchrun"):
        results = []
        for i, job in enumerate(jobs, 1):
            start = time.time()
            code = _run_here(job, common, config)
            error = None if code == 0 else f"exit status {code}"
            results.append((job, error))
            print(f"[{i}/{len(jobs)}] {job.describe()}: {error or 'done'} in {time.time() - start:.0f} s", flush=True)
        return results
    if config.kind in ("slurm", "local"):
        return _submitit_stage(jobs, common, config)
    raise UserError(f"unknown executor {config.kind!r}; choose from {', '.join(EXECUTORS)}")


def _run_here(job: Job, common: list[str], config: ExecutorConfig) -> int:
    """Run one job on this machine: in this process, or under torchrun with ``config.gpus`` processes."""
    if config.kind == "inprocess":
        from mamp_bench.cli import main

        return main(job.argv(common))
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={config.gpus}",
           f"--master_port={_free_port()}", "-m", "mamp_bench", *job.argv(common)]  # fmt: skip
    return subprocess.run(cmd, env=os.environ.copy()).returncode


def _submitit_stage(jobs: list[Job], common: list[str], config: ExecutorConfig) -> list[tuple[Job, str | None]]:
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
    submitted = executor.map_array(_job_main, [job.argv(common) for job in jobs])
    results = []
    for job, handle in zip(jobs, submitted, strict=True):
        try:
            handle.result()
            results.append((job, None))
        except Exception as exc:  # a failed task is reported, the others go on
            results.append((job, str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__))
    return results


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
