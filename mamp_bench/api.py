"""The Python API other code relies on: build a method, load an encoder, extract features."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch

from mamp_bench.checkpoints import (
    checkpoint_format,
    encoder_state,
    load_checkpoint,
    load_into,
    official_method_config,
    suite_state,
)
from mamp_bench.config import apply_overrides, flatten, from_dict
from mamp_bench.methods.base import PretrainMethod
from mamp_bench.models.transformer import EncoderConfig, SkeletonEncoder
from mamp_bench.registry import METHODS

Checkpoint = str | os.PathLike[str] | Mapping[str, Any]


def build_method(name: str, checkpoint: Checkpoint | None = None, **overrides: Any) -> PretrainMethod:
    """The pretraining module of a registered method.

    Defaults are the paper's NTU-60 preset (a suite checkpoint's own configuration when one is
    given); ``overrides`` set configuration fields, with ``__`` for nesting
    (``encoder__depth=4``). ``forward(x)`` takes (N, 3, T, 25, M) and returns the loss first.
    """
    cls = METHODS.get(name)
    config = cls.default_config("ntu60")
    state = None
    if checkpoint is not None:
        ckpt = load_checkpoint(checkpoint)
        if checkpoint_format(ckpt) == "suite" and "method_config" in ckpt:
            config = from_dict(cls.Config, ckpt["method_config"])
        elif checkpoint_format(ckpt) == "official":
            config = apply_overrides(config, flatten(official_method_config(ckpt)))
        state = suite_state(ckpt)
    config = apply_overrides(config, {k.replace("__", "."): v for k, v in overrides.items()})
    method = cls(config)
    if state is not None:
        load_into(method, state, f"checkpoint for method {name!r}")
    return method


def load_encoder(checkpoint: Checkpoint, config: EncoderConfig | None = None) -> SkeletonEncoder:
    """The encoder of a suite or official checkpoint (path or state dict), in eval mode."""
    ckpt = load_checkpoint(checkpoint)
    if config is None and checkpoint_format(ckpt) == "suite" and "encoder" in ckpt.get("method_config", {}):
        config = from_dict(EncoderConfig, ckpt["method_config"]["encoder"])
    if config is None:
        config = from_dict(EncoderConfig, official_method_config(ckpt)["encoder"])
    encoder = SkeletonEncoder(config)
    load_into(encoder, encoder_state(ckpt), "checkpoint encoder")
    return encoder.eval()


@torch.no_grad()
def extract_features(encoder: SkeletonEncoder, x: torch.Tensor) -> torch.Tensor:
    """(N, 3, T, 25, M) -> (N, D): final-LayerNorm output averaged over persons, time and joints."""
    return encoder(x).mean(dim=(1, 2, 3))
