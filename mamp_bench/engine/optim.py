"""Optimizer parameter groups and learning-rate schedules of the reference recipes."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


def weight_decay_groups(model: torch.nn.Module, weight_decay: float, skip: set[str] = frozenset()) -> list[dict]:
    """timm's ``add_weight_decay``: no decay for 1-D parameters, biases and ``skip`` names.

    Note that positional embeddings and the mask token are not 1-D, so they *are* decayed, as in
    the reference.
    """
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if param.ndim <= 1 or name.endswith(".bias") or name in skip:
            no_decay.append(param)
        else:
            decay.append(param)
    return [{"params": no_decay, "weight_decay": 0.0}, {"params": decay, "weight_decay": weight_decay}]


def make_adamw(groups: list[dict], lr: float, betas: tuple[float, float], device: torch.device) -> torch.optim.AdamW:
    """AdamW; the fused kernel on CUDA (same maths), the default implementation elsewhere."""
    kwargs = {"fused": True} if device.type == "cuda" else {}
    return torch.optim.AdamW(groups, lr=lr, betas=betas, **kwargs)


@dataclass(frozen=True)
class CosineSchedule:
    """Linear warmup from 0, then half-cosine to ``min_lr``, evaluated at fractional epochs."""

    lr: float
    min_lr: float
    warmup_epochs: float
    epochs: float

    def __call__(self, epoch: float) -> float:
        if epoch < self.warmup_epochs:
            return self.lr * epoch / self.warmup_epochs
        progress = (epoch - self.warmup_epochs) / max(self.epochs - self.warmup_epochs, 1e-12)
        return self.min_lr + (self.lr - self.min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set every group's lr, scaled by its ``lr_scale`` (layer-wise decay) when it has one."""
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)
