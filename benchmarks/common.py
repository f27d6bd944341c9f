"""Helpers for benchmarks: repeated timing with median and spread, and a description of the machine."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    text = f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"
    try:
        import torch

        text += f", torch {torch.__version__}, {torch.get_num_threads()} threads"
        if torch.cuda.is_available():
            text += f", GPU {torch.cuda.get_device_name()}"
    except ImportError:
        pass
    return text


def repeat(fn: Callable[[], object], repeats: int = 3, warmup: int = 0) -> tuple[float, float, float]:
    """(median, min, max) seconds of ``fn`` over ``repeats`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), max(times)


def spread(median: float, low: float, high: float) -> str:
    return f"{median:.3g} [{low:.3g}-{high:.3g}]"


def matmul_peak(
    device: str = "cpu", dtype: str = "float32", repeats: int = 5, sizes: tuple[int, ...] | None = None
) -> dict:
    """The machine's dense matrix-multiply rate: the best over ``sizes`` of the median GFLOP/s of
    ``repeats`` square products (n x n @ n x n = 2 n^3 FLOPs) in ``dtype`` on ``device``."""
    import torch

    dev = torch.device(device)
    kind = getattr(torch, dtype)
    best = {"gflops": 0.0}
    for n in sizes or ((2048, 4096) if dev.type == "cpu" else (4096, 8192)):
        a = torch.randn(n, n, device=dev).to(kind)
        b = torch.randn(n, n, device=dev).to(kind)

        def product(a: torch.Tensor = a, b: torch.Tensor = b) -> None:
            torch.mm(a, b)
            if dev.type == "cuda":
                torch.cuda.synchronize()

        median, low, high = repeat(product, repeats, warmup=1)
        rate = {"n": n, "gflops": 2 * n**3 / median / 1e9, "low": 2 * n**3 / high / 1e9, "high": 2 * n**3 / low / 1e9}
        if rate["gflops"] > best["gflops"]:
            best = rate
    return best
