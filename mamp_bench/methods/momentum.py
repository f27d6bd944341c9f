"""Methods with a momentum (EMA) copy of their networks: the shared part (solo-learn style)."""

from __future__ import annotations

import copy
import math

import torch
import torch.nn as nn

from mamp_bench.methods.base import PretrainMethod


def momentum_copy(module: nn.Module) -> nn.Module:
    """A frozen copy of ``module`` to be updated as an exponential moving average."""
    target = copy.deepcopy(module)
    for param in target.parameters():
        param.requires_grad_(False)
    return target


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """target = momentum * target + (1 - momentum) * online, parameter by parameter."""
    for t, o in zip(target.parameters(), online.parameters(), strict=True):
        t.mul_(momentum).add_(o.detach(), alpha=1 - momentum)


def cosine_momentum(base: float, progress: float) -> float:
    """Momentum rising from ``base`` to 1 along a half cosine over training (BYOL / DINO)."""
    return 1 - (1 - base) * (math.cos(math.pi * progress) + 1) / 2


class MomentumMethod(PretrainMethod):
    """Subclasses list (online, target) pairs in ``momentum_pairs`` and set ``base_momentum``."""

    momentum_schedule = "constant"  # or "cosine"

    def momentum_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        raise NotImplementedError

    def current_momentum(self, progress: float) -> float:
        base = self.config.momentum
        return cosine_momentum(base, progress) if self.momentum_schedule == "cosine" else base

    def after_step(self, progress: float) -> None:
        momentum = self.current_momentum(progress)
        for online, target in self.momentum_pairs():
            ema_update(target, online, momentum)
