"""What the cluster's scheduler says about the process a run is in, for the record's environment: the
Slurm job (``123_4`` for a task of a job array, as ``sacct`` and ``reproduce --status`` name it) and how
many times Slurm requeued it (``SLURM_RESTART_COUNT``, which Slurm sets in a requeued job: a time
limit or a preemption that submitit requeued, or a node failure)."""

from __future__ import annotations

import os
from typing import Any


def slurm_job() -> dict[str, Any]:
    """``{"slurm": {"job_id": ..., "requeues": n}}`` inside a Slurm job, else ``{}``."""
    if "SLURM_JOB_ID" not in os.environ:
        return {}
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    job_id = f"{array}_{task}" if array and task else os.environ["SLURM_JOB_ID"]
    return {"slurm": {"job_id": job_id, "requeues": int(os.environ.get("SLURM_RESTART_COUNT") or 0)}}
