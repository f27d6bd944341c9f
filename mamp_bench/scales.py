"""Scales: ``paper`` is the published recipe; ``smoke`` is a small model and short schedule that
runs the whole pipeline on a laptop CPU in minutes (its numbers are for checking the pipeline and
comparing methods among themselves, not against the paper).

A scale is a set of overrides on top of the paper's defaults, which live in the configuration
dataclasses (``PretrainConfig``, each method's ``Config``) and in the protocols' recipes.
"""

from __future__ import annotations

from typing import Any

from mamp_bench.config import flat_keys
from mamp_bench.errors import UserError

SCALES = ("smoke", "paper")

#: pretraining overrides per scale (the paper's are the PretrainConfig defaults)
PRETRAIN: dict[str, dict[str, Any]] = {
    "paper": {},
    "smoke": {"epochs": 35, "warmup_epochs": 2, "batch_size": 16, "window": 40, "micro_batch": 0},
}

#: method overrides per scale, applied to every method configuration that has these fields
METHOD: dict[str, dict[str, Any]] = {
    "paper": {},
    "smoke": {
        "encoder.dim": 64,
        "encoder.depth": 2,
        "encoder.heads": 4,
        "decoder_dim": 64,
        "decoder_depth": 1,
        "queue_size": 512,  # the MoCo methods: about one epoch of the synthetic set, as 32768 is for NTU
        "skip_empty_persons": True,  # do not spend compute on absent second persons (see the README)
        "encoder.hidden_channels": 8,  # ST-GCN: half the family's widths, a 64-wide last block (101,420 weights)
        "encoder.hidden_dim": 64,
    },
}


def check_scale(scale: str) -> str:
    if scale not in SCALES:
        raise UserError(f"unknown scale {scale!r}; valid: {', '.join(SCALES)}")
    return scale


def method_overrides(config_cls: type, scale: str) -> dict[str, Any]:
    """The scale's method overrides that exist in ``config_cls`` (methods differ in fields)."""
    keys = set(flat_keys(config_cls))
    return {key: value for key, value in METHOD[check_scale(scale)].items() if key in keys}
