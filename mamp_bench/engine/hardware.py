"""What the machine offers: whether a device computes bf16 natively (CUDA capability, CPU flags)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch

#: CPU flags (``/proc/cpuinfo``) of instructions that compute bf16 products natively
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (Linux ``/proc/cpuinfo``; empty elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def bf16_support(device: torch.device) -> tuple[bool, str]:
    """(whether bf16 autocast runs on native bf16 arithmetic on ``device``, why or why not)."""
    if device.type == "cuda":
        try:
            native = torch.cuda.is_bf16_supported(including_emulation=False)
        except TypeError:  # torch < 2.4 has no emulation and no argument
            native = torch.cuda.is_bf16_supported()
        if native:
            return True, f"{torch.cuda.get_device_name(device)} computes bf16 natively"
        return False, f"{torch.cuda.get_device_name(device)} has no native bf16 (compute capability < 8.0)"
    native = sorted(flag for flag in BF16_CPU_FLAGS if flag in cpu_flags())
    if native:
        return True, f"the CPU has {' and '.join(native)}"
    return False, f"the CPU has none of {', '.join(BF16_CPU_FLAGS)}: bf16 is emulated in fp32 units (slower)"
