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
