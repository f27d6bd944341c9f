"""The base class of pretraining methods.

A method is an ``nn.Module`` that owns a ``SkeletonEncoder`` (the part the protocols evaluate),
declares its configuration dataclass with the paper's defaults, and maps a batch of clips to a
loss. Methods with a momentum (EMA) network update it in ``after_step``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn as nn

from mamp_bench.config import apply_overrides
from mamp_bench.models.transformer import SkeletonEncoder


@dataclass
class PretrainOutput:
    loss: torch.Tensor  # scalar
    pred: torch.Tensor | None = None
    mask: torch.Tensor | None = None
    #: what ``loss`` averages over (e.g. the number of masked tokens); lets the engine split a
    #: batch into micro-batches and still apply exactly the full batch's gradient
    weight: float | None = None
    extras: dict[str, float] = dataclasses.field(default_factory=dict)  # logged, e.g. an accuracy


class PretrainMethod(nn.Module):
    """Subclasses set ``Config`` (a dataclass) and may set ``presets`` per dataset family."""

    Config: ClassVar[type]
    #: dataset family ("ntu60", "ntu120", "pku1", "pku2") -> overrides of the paper's configs
    presets: ClassVar[dict[str, dict[str, Any]]] = {}
    #: one line for ``mamp-bench list``
    description: ClassVar[str] = ""
    #: the loss is a weighted mean over independent items (so micro-batches are exact)
    micro_batches: ClassVar[bool] = False
    #: False for methods with nothing to pretrain (the protocols then use a fresh encoder)
    pretrainable: ClassVar[bool] = True
    #: name of this method's rows in the published results (``reported.csv``), if any
    reported_as: ClassVar[str | None] = None

    encoder: SkeletonEncoder

    def __init__(self, config: Any):
        super().__init__()
        self.config = config

    @classmethod
    def default_config(cls, family: str = "ntu60") -> Any:
        """The paper's configuration for a dataset family (NTU-60's when unknown)."""
        return apply_overrides(cls.Config(), cls.presets.get(family, {}))

    def forward(self, x: torch.Tensor, seeds: torch.Tensor | None = None) -> PretrainOutput:
        """Clips (N, C, T, V, M) and optional per-sample seeds (N,) int64 -> loss first."""
        raise NotImplementedError

    def after_step(self, progress: float) -> None:
        """Called after each optimizer step with the training progress in [0, 1]."""

    def no_weight_decay(self) -> set[str]:
        """Names of parameters that get no weight decay besides 1-D ones and biases."""
        return set()
