"""Optimizers, their parameter groups (weight decay, layer-wise lr decay) and the learning-rate schedules of the
reference recipes: MAMP's (AdamW, warmup then half-cosine) and the GCN family's (SGD, the lr times 0.1 at each
of a list of epochs)."""

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


#: the optimizers a recipe can name
OPTIMIZERS = ("adamw", "sgd")
#: the learning-rate schedules a recipe can name: ``CosineSchedule``, ``StepSchedule``
SCHEDULES = ("cosine", "step")
#: the GCN family's step: the lr times 0.1 at each step epoch (every processor's ``adjust_lr``)
STEP_FACTOR = 0.1


def make_sgd(groups: list[dict] | list[torch.nn.Parameter], lr: float, momentum: float, weight_decay: float = 0.0,
             nesterov: bool = False) -> torch.optim.SGD:  # fmt: skip
    """SGD as the GCN family's processors build it (``optim.SGD(params, lr, momentum, nesterov, weight_decay)``);
    groups that carry their own ``weight_decay`` keep it."""
    return torch.optim.SGD(groups, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov)


@dataclass(frozen=True)
class StepSchedule:
    """Linear warmup from 0 over ``warmup_epochs``, then ``lr`` times ``STEP_FACTOR`` for each epoch of ``steps``
    reached: epoch index e (0-based) trains at ``lr * 0.1 ** #{s in steps: e >= s}``, which is the processors'
    ``base_lr * 0.1 ** sum(epoch > step)`` with their 1-based epochs (``step: [80]``: epochs 81-100 at lr / 10)."""

    lr: float
    steps: tuple[int, ...]
    warmup_epochs: float = 0.0

    def __call__(self, epoch: float) -> float:
        if epoch < self.warmup_epochs:
            return self.lr * epoch / self.warmup_epochs
        return self.lr * STEP_FACTOR ** sum(math.floor(epoch) >= step for step in self.steps)


def make_schedule(config) -> CosineSchedule | StepSchedule:
    """The learning-rate schedule a configuration names: its ``schedule`` ("cosine": ``lr``, ``min_lr``,
    ``warmup_epochs``, ``epochs``; "step": ``lr``, ``lr_steps``, ``warmup_epochs``)."""
    if config.schedule == "step":
        return StepSchedule(config.lr, tuple(config.lr_steps), config.warmup_epochs)
    return CosineSchedule(config.lr, config.min_lr, config.warmup_epochs, config.epochs)


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
