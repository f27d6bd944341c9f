"""The base class of pretraining methods (solo-learn style: one base, each method short).

A method is an ``nn.Module`` that owns an encoder (the part the protocols evaluate: a registered
encoder, named by ``encoder_name``, configured by the ``encoder`` field of its configuration),
declares its configuration dataclass with the paper's defaults (written once, there), and maps a
batch of clips to a loss. It also declares the facts the rest of the suite reads from the
registry: its label and place in tables, its published counterpart, how far the reproduction
matrix takes it, its ablation row and sweeps, and its own pretraining schedule where it is not MAMP's
(``pretraining``). Methods with a momentum (EMA) network update it in ``after_step``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn as nn

from mamp_bench.config import apply_overrides
from mamp_bench.models.encoder import Encoder
from mamp_bench.registry import ENCODERS
from mamp_bench.scales import method_overrides


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

    name: ClassVar[str]  # set by ``METHODS.register``
    Config: ClassVar[type]
    #: the registered encoder it trains (``ENCODERS``); its configuration is the ``encoder`` field of ``Config``
    encoder_name: ClassVar[str] = "transformer"
    #: its pretraining schedule where it differs from ``PretrainConfig``'s (MAMP's): scale -> overrides of
    #: ``PretrainConfig``; "paper" applies at every scale before the scale's own overrides, the others after them
    pretraining: ClassVar[dict[str, dict[str, Any]]] = {}
    #: dataset family ("ntu60", "ntu120", "pku1", "pku2") -> overrides of the paper's configs
    presets: ClassVar[dict[str, dict[str, Any]]] = {}
    #: one line for ``mamp-bench list``
    description: ClassVar[str] = ""
    #: the loss is a weighted mean over independent items (so micro-batches are exact)
    micro_batches: ClassVar[bool] = False
    #: the most processes its pretraining runs on (None: any; the GCN family's: 1, as its reference, whose
    #: BatchNorm statistics and attention drop are over the whole batch of one GPU)
    max_processes: ClassVar[int | None] = None
    #: the encoder passes one pretraining step costs, in forward passes (a forward and its backward: 3), for the
    #: reproduction plan's cost of a method that is not a masked one (whose decoder it counts)
    forward_passes: ClassVar[float] = 3.0
    #: False for methods with nothing to pretrain (the protocols then use a fresh encoder)
    pretrainable: ClassVar[bool] = True
    #: name of this method's rows in the published results (``reported.csv``), if any
    reported_as: ClassVar[str | None] = None
    #: position among the measured rows of a table (lower first; ties by name)
    table_rank: ClassVar[int] = 100
    #: scale -> the highest protocol tier ``reproduce`` runs this method with (1: frozen-encoder
    #: protocols; 2: fine-tuning; 3: semi-supervised and transfer); absent scale: not reproduced
    reproduce_tiers: ClassVar[dict[str, int]] = {"smoke": 1}
    #: scale -> the further rows ``reproduce`` runs it with besides its default, each a set of ``--set``
    #: overrides (the GCN methods' motion and bone streams, the members of their 3-stream ensemble)
    variants: ClassVar[dict[str, tuple[dict[str, str], ...]]] = {}
    #: its row in the ablation table (target x masking), e.g. "motion target, random masking"
    ablation: ClassVar[str | None] = None
    #: ablation sweeps: configuration key -> values tried besides the default
    sweeps: ClassVar[dict[str, tuple[Any, ...]]] = {}
    #: official checkpoints: the reference's model module that trained this method ("model_mamp"),
    #: and which of their ``args`` its model uses, mapped onto configuration keys
    official_model: ClassVar[str | None] = None
    official_args: ClassVar[dict[str, str]] = {}

    encoder: Encoder

    def __init__(self, config: Any):
        super().__init__()
        self.config = config

    @classmethod
    def resolve_config(
        cls, family: str = "ntu60", scale: str = "paper", overrides: dict[str, Any] | None = None, window: int = 0
    ) -> Any:
        """The configuration of a run, resolved once: the paper's defaults, the dataset family's
        preset, the scale's overrides, the user's ``overrides`` (dotted keys) and the input
        ``window`` (``encoder.frames``, when given and the encoder resamples its clips); validated."""
        config = apply_overrides(cls.Config(), cls.presets.get(family, {}))
        config = apply_overrides(config, {**method_overrides(cls.Config, scale), **(overrides or {})})
        if window and hasattr(config, "encoder") and ENCODERS.get(cls.encoder_name).windowed:
            config = apply_overrides(config, {"encoder.frames": window})
        if hasattr(config, "validate"):
            config.validate()
        return config

    @classmethod
    def default_config(cls, family: str = "ntu60") -> Any:
        """The paper's configuration for a dataset family (NTU-60's when unknown)."""
        return cls.resolve_config(family)

    @classmethod
    def objective(cls, config: Mapping[str, Any]) -> str:
        """The quantity its loss measures, from its configuration (as ``config.json`` stores it): runs
        with the same objective share a loss plot's panel, others never do. Default: its own name."""
        return cls.name

    def forward(self, x: torch.Tensor, seeds: torch.Tensor | None = None) -> PretrainOutput:
        """Clips (N, C, T, V, M) and optional per-sample seeds (N,) int64 -> loss first."""
        raise NotImplementedError

    def after_step(self, progress: float) -> None:
        """Called after each optimizer step with the training progress in [0, 1]."""

    def set_progress(self, progress: float) -> None:
        """Called when a pretraining resumes, with the share of training done (what ``after_step`` last said)."""

    def no_weight_decay(self) -> set[str]:
        """Names of parameters that get no weight decay besides 1-D ones and biases."""
        return set()
