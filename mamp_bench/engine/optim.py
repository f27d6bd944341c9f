"""Optimizer parameter groups (weight decay, layer-wise lr decay) and learning-rate schedules of the
reference recipes."""

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


def layer_id(name: str, num_layers: int) -> int:
    """0 for the tokeniser and the embeddings, i + 1 for block i, ``num_layers`` for the rest
    (final norm, head). Names are relative to the classifier (``encoder.`` prefix allowed)."""
    name = name.removeprefix("encoder.")
    if name in ("temp_embed", "pos_embed") or name.startswith("joints_embed"):
        return 0
    if name.startswith("blocks."):
        return int(name.split(".")[1]) + 1
    return num_layers


def layer_decay_groups(model: torch.nn.Module, depth: int, weight_decay: float, decay: float) -> list[dict]:
    """Parameter groups with ``lr_scale = decay ** (depth + 1 - layer_id)``; no weight decay on 1-D
    parameters (biases, norms), weight decay on the rest (embeddings included), as the reference."""
    num_layers = depth + 1
    scales = [decay ** (num_layers - i) for i in range(num_layers + 1)]
    groups: dict[str, dict] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        no_decay = param.ndim == 1
        lid = layer_id(name, num_layers)
        key = f"layer_{lid}_{'no_decay' if no_decay else 'decay'}"
        group = groups.setdefault(
            key, {"lr_scale": scales[lid], "weight_decay": 0.0 if no_decay else weight_decay, "params": [], "names": []}
        )
        group["params"].append(param)
        group["names"].append(name)
    return list(groups.values())


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
