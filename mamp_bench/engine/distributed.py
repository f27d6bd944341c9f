"""Process and device context: single process, or DDP under ``torchrun`` (nccl on GPU, gloo on CPU), and
what produced a run (``environment``: the suite's version and git state, the software, the machine)."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from mamp_bench.errors import UserError
from mamp_bench.version import __version__


@dataclass
class Runtime:
    device: torch.device
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def reduce_device(self) -> torch.device:
        """Where collectives run: the GPU under nccl, the CPU under gloo."""
        return self.device if self.device.type == "cuda" else torch.device("cpu")

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def mean(self, value: float) -> float:
        """Average a float over processes."""
        if not self.distributed:
            return value
        tensor = torch.tensor([value], dtype=torch.float64, device=self.reduce_device)
        dist.all_reduce(tensor)
        return tensor.item() / self.world_size

    def wrap(self, module: torch.nn.Module) -> torch.nn.Module:
        """``module`` for training: wrapped in DDP when several processes run, else itself."""
        if not self.distributed:
            return module
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return torch.nn.parallel.DistributedDataParallel(module, device_ids=device_ids)

    def gather_strided(self, rows: torch.Tensor) -> torch.Tensor:
        """Rows of every process in dataset order, when process r holds items r, r + W, r + 2W, ...
        (shards differ in length by at most one; padded for the collective, then interleaved)."""
        if not self.distributed:
            return rows
        device = self.reduce_device
        lengths = [torch.zeros(1, dtype=torch.long, device=device) for _ in range(self.world_size)]
        dist.all_gather(lengths, torch.tensor([len(rows)], device=device))
        longest = int(max(lengths).item())
        padded = torch.zeros(longest, *rows.shape[1:], dtype=rows.dtype, device=device)
        padded[: len(rows)] = rows.to(device)
        parts = [torch.empty_like(padded) for _ in range(self.world_size)]
        dist.all_gather(parts, padded)
        total = int(sum(lengths).item())
        out = torch.empty(total, *rows.shape[1:], dtype=rows.dtype)
        for rank, part in enumerate(parts):
            out[rank :: self.world_size] = part[: int(lengths[rank].item())].cpu()
        return out

    def sum_tensor(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.distributed:
            tensor = tensor.clone()
            dist.all_reduce(tensor)
        return tensor


def resolve_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError(f"--device {name}: no CUDA device is available (torch {torch.__version__})")
        return torch.device("cuda", local_rank if name == "cuda" else torch.device(name).index)
    if name != "cpu":
        raise UserError(f"--device must be auto, cpu, cuda or cuda:N, got {name!r}")
    return torch.device("cpu")


def init_runtime(device: str = "auto") -> Runtime:
    """Set up this process: DDP when launched by torchrun (WORLD_SIZE > 1), else a single process."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local_rank)
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group(backend, timeout=datetime.timedelta(minutes=30))
    return Runtime(dev, rank, world_size, local_rank)


def shutdown(runtime: Runtime) -> None:
    if runtime.distributed and dist.is_initialized():
        dist.destroy_process_group()


def environment(runtime: Runtime | None = None) -> dict[str, Any]:
    """What produced a run: versions, commit, device and process count."""
    commit, dirty = git_state()
    env = {
        "suite_version": __version__,
        "git_commit": commit,
        "git_dirty": dirty,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "hostname": platform.node(),
        **slurm_job(),
    }
    if runtime is not None:
        env["device"] = str(runtime.device)
        env["device_name"] = (
            torch.cuda.get_device_name(runtime.device)
            if runtime.device.type == "cuda"
            else platform.processor() or "cpu"
        )
        env["processes"] = runtime.world_size
        env["threads"] = torch.get_num_threads()
    return env


#: what "the code" is when a record says whether the tree was dirty
CODE_PATHS = ("mamp_bench", "baselines", "protocols", "pyproject.toml", "setup.py")


def git_state() -> tuple[str | None, bool | None]:
    """(commit, whether the suite's code differs from it), or (None, None) outside a git checkout."""
    here = Path(__file__).resolve().parents[2]
    if not (here / ".git").exists():
        return None, None
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        status = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--", *CODE_PATHS],
                                capture_output=True, text=True, timeout=5)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None, None
    if out.returncode != 0:
        return None, None
    return out.stdout.strip(), bool(status.stdout.strip())


def slurm_job() -> dict[str, Any]:
    """The Slurm job a run is in (``123_4`` for a task of a job array, as ``sacct`` and ``reproduce --status``
    name it) and how many times Slurm requeued it (``SLURM_RESTART_COUNT``, set in a requeued job: a time
    limit or a preemption that submitit requeued, or a node failure): ``{"slurm": {...}}``, else ``{}``."""
    if "SLURM_JOB_ID" not in os.environ:
        return {}
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    job_id = f"{array}_{task}" if array and task else os.environ["SLURM_JOB_ID"]
    return {"slurm": {"job_id": job_id, "requeues": int(os.environ.get("SLURM_RESTART_COUNT") or 0)}}
