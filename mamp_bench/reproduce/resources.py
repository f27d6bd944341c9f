"""What each job asks for where it runs: GPUs, nodes, CPUs and a time limit, from the plan's estimate on
the device the plan is for.

A pretraining long enough to be worth spreading runs on ``--gpus`` GPUs (the largest count up to it that splits its
batch evenly, and that its method allows: the GCN family's pretrain on one, as their reference; several nodes when
that is more than a node holds); every other job on one GPU: the protocol jobs are many and run side by side, and
under ``fidelity=reference`` their sampling emulates the reference's own process count. A time limit is the
estimated wall time on those GPUs times a margin, plus the start of a job, between a floor and a cap: a job longer
than the cap is not refused but split, each piece ending at the time limit and requeued from its last epoch's
checkpoint (``pieces`` time limits; the requeue limit allows that many and ``max_requeues`` more).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mamp_bench.errors import UserError
from mamp_bench.reproduce.matrix import Job
from mamp_bench.reproduce.plan import Device

EXECUTORS = ("inprocess", "torchrun", "slurm", "local")
#: a pretraining of at least this many hours on one GPU runs on --gpus GPUs
SPREAD_FROM_HOURS = 1.0
#: minutes added to every job's estimate: starting Python and the processes, loading the data
STARTUP_MIN = 10
#: seconds between the warning signal and the end of a time limit (the job saves nothing then: its
#: last checkpoint is its last finished epoch's; submitit requeues it on the signal)
SIGNAL_DELAY_S = 120


@dataclass
class Cluster:
    """How the jobs are launched and what each may ask for: the command line's executor options."""

    executor: str = "inprocess"
    gpus: int = 1  # GPUs for a long pretraining
    gpus_per_node: int = 8
    cpus_per_task: int = 8
    time_floor_min: int = 15
    time_cap_min: int = 24 * 60  # the partition's longest time limit
    margin: float = 1.5  # the estimates are FLOP counts over a rate: allow for more
    max_requeues: int = 3  # time limits a job may reach beyond its planned pieces (preemptions do not count)
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    mem: str | None = None  # per node, as sbatch writes it (64G)
    sbatch: dict[str, Any] = field(default_factory=dict)  # any other sbatch option
    setup: list[str] = field(default_factory=list)  # shell lines before the job (module load ...)
    folder: Path = Path("runs/submitit")
    slots: int | None = None  # torchrun and local: this machine's GPUs to fill (default: those visible)

    def validate(self) -> None:
        if self.executor not in EXECUTORS:
            raise UserError(f"unknown executor {self.executor!r}; choose from {', '.join(EXECUTORS)}")
        for name, value, low in (("--gpus", self.gpus, 1), ("--slurm-gpus-per-node", self.gpus_per_node, 1),
                                 ("--slurm-cpus-per-task", self.cpus_per_task, 1),
                                 ("--slurm-time-floor", self.time_floor_min, 1), ("--slurm-time", self.time_cap_min, 1),
                                 ("--slurm-max-requeues", self.max_requeues, 0)):  # fmt: skip
            if value < low:
                raise UserError(f"{name} must be at least {low}, got {value}")
        if self.gpus > self.gpus_per_node and self.gpus % self.gpus_per_node:
            raise UserError(f"--gpus {self.gpus} over nodes of {self.gpus_per_node} GPUs: ask for a multiple of "
                            f"{self.gpus_per_node} (whole nodes) or at most {self.gpus_per_node}")  # fmt: skip
        if self.time_floor_min > self.time_cap_min:
            raise UserError(f"--slurm-time-floor {self.time_floor_min} is above --slurm-time {self.time_cap_min}")

    def slurm_parameters(self) -> dict[str, Any]:
        """The cluster's own sbatch parameters, the same for every job (submitit's names)."""
        named = {"partition": self.partition, "account": self.account, "qos": self.qos,
                 "constraint": self.constraint, "mem": self.mem, "setup": self.setup or None}  # fmt: skip
        return {k: v for k, v in named.items() if v is not None}

    def record(self) -> dict[str, Any]:
        return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}


@dataclass(frozen=True)
class Resources:
    """What one job asks for."""

    gpus: int  # 0: a CPU job
    nodes: int
    time_min: int  # the time limit of one piece
    pieces: int  # time limits the job spans: more than one, it is requeued from its checkpoint
    wall_s: float  # expected wall time on these GPUs

    @property
    def processes(self) -> int:
        return max(self.gpus, 1)

    @property
    def tasks_per_node(self) -> int:
        return self.processes // self.nodes

    def max_timeouts(self, cluster: Cluster) -> int:
        """submitit's requeue limit: the planned pieces and ``max_requeues`` more."""
        return self.pieces - 1 + cluster.max_requeues

    def time_limit(self) -> str:
        hours, minutes = divmod(self.time_min, 60)
        return f"{hours}:{minutes:02d}:00" + (f" x{self.pieces}" if self.pieces > 1 else "")


def spread(wanted: int, batch_size: int | None) -> int:
    """The largest GPU count up to ``wanted`` that splits ``batch_size`` evenly."""
    return next(g for g in range(wanted, 0, -1) if not batch_size or batch_size % g == 0)


def allocate(job: Job, device: Device, cluster: Cluster) -> Resources:
    """What ``job`` asks for on ``cluster`` (see the module's docstring)."""
    gpus = 1 if device.gpu else 0
    if device.gpu and job.kind == "pretrain" and job.cost_seconds >= SPREAD_FROM_HOURS * 3600:
        gpus = spread(min(cluster.gpus, job.max_processes or cluster.gpus), job.batch_size)
    if cluster.executor == "inprocess":
        gpus = min(gpus, 1)
    nodes = max(1, math.ceil(gpus / cluster.gpus_per_node))
    if gpus % nodes:  # a count that splits the batch but not the nodes: whole nodes only
        gpus = nodes * (gpus // nodes)
    wall = job.cost_seconds / max(gpus, 1)
    needed = wall / 60 * cluster.margin + STARTUP_MIN
    limit = min(max(5 * math.ceil(needed / 5), cluster.time_floor_min), cluster.time_cap_min)
    return Resources(gpus, nodes, limit, math.ceil(needed / cluster.time_cap_min), wall)


def allocate_all(jobs: list[Job], device: Device, cluster: Cluster) -> dict[str, Resources]:
    return {job.key: allocate(job, device, cluster) for job in jobs}
