"""Per-sample random numbers that do not depend on batch layout, process count or device.

A counter-based generator (SplitMix64 on int64 tensors, wrapping arithmetic): the i-th number
of the sample with seed s is a fixed function of (s, i). So a sample gets the same masking noise
whether it is in a batch of 128 on one process or of 64 on each of two DDP ranks, on CPU or GPU.
"""

from __future__ import annotations

import torch

#: Seeds are in [0, 2**32 - 1]: every generator the suite seeds (torch, NumPy's, the per-sample hashes)
#: takes them, and a negative or wider seed fails in some of them, late.
MAX_SEED = 2**32 - 1


def seed_check(seed: int, key: str = "seed") -> tuple[bool, str]:
    """A ``config.require`` check: ``seed`` is an int in [0, MAX_SEED]."""
    ok = isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed <= MAX_SEED
    return ok, f"{key} must be an integer in [0, {MAX_SEED}], got {seed}"


_GOLDEN = 0x9E3779B97F4A7C15 - 2**64  # as signed int64
_MIX1 = 0xBF58476D1CE4E5B9 - 2**64
_MIX2 = 0x94D049BB133111EB - 2**64


def _shr(z: torch.Tensor, bits: int) -> torch.Tensor:
    """Logical right shift of int64 (torch's >> is arithmetic)."""
    return (z >> bits) & ((1 << (64 - bits)) - 1)


def _mix(z: torch.Tensor) -> torch.Tensor:
    z = (z ^ _shr(z, 30)) * _MIX1
    z = (z ^ _shr(z, 27)) * _MIX2
    return z ^ _shr(z, 31)


def seeded_uniform(seeds: torch.Tensor, count: int) -> torch.Tensor:
    """(B,) int64 seeds -> (B, count) float32 uniform numbers in [0, 1), 24-bit resolution."""
    key = _mix(seeds.to(torch.int64) + _GOLDEN)
    steps = torch.arange(1, count + 1, device=seeds.device, dtype=torch.int64)
    z = _mix(key[:, None] + steps[None] * _GOLDEN)
    return _shr(z, 40).to(torch.float32) * (1.0 / (1 << 24))


def derive_seed(*parts: int) -> int:
    """A 63-bit seed from integers (e.g. run seed, epoch, sample index), stable across platforms."""
    import numpy as np

    return int(np.random.SeedSequence([int(p) & (2**63 - 1) for p in parts]).generate_state(1, np.uint64)[0] >> 1)
