"""Which method trained a checkpoint, and an official MAMP checkpoint as a suite checkpoint."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mamp_bench.checkpoints import checkpoint_format, official_to_suite
from mamp_bench.config import apply_overrides, flatten, to_dict
from mamp_bench.models.loading import inferred_method_config
from mamp_bench.registry import METHODS


def official_method(checkpoint: Mapping[str, Any]) -> str | None:
    """The registered method an official checkpoint was trained as: the one whose ``official_model``
    names the checkpoint's ``args.model`` (None when it has no args, as a bare state dict)."""
    model = str(getattr(checkpoint.get("args"), "model", ""))
    for name, cls in METHODS.items():
        if model and cls.official_model and cls.official_model in model:
            return name
    return None


def checkpoint_method(checkpoint: Mapping[str, Any]) -> str | None:
    """The method a checkpoint says trained it (suite: its ``method``; official: its ``args``), or None."""
    if checkpoint_format(checkpoint) == "suite":
        return checkpoint.get("method")
    return official_method(checkpoint)


def convert_official(checkpoint: Mapping[str, Any]) -> dict[str, Any]:
    """An official checkpoint as a suite checkpoint payload: weights renamed, the method and its full
    configuration (the method's defaults with what the checkpoint's shapes and args say)."""
    state = official_to_suite(checkpoint.get("model", checkpoint))
    has_decoder = any(k.startswith("decoder.") for k in state)
    has_head = any(k.startswith("head.") for k in state)
    kind = "pretrain" if has_decoder else ("classifier" if has_head else "encoder")
    method = official_method(checkpoint) or METHODS.default()  # the reference's own code trains MAMP
    cls = METHODS.get(method)
    inferred = inferred_method_config(checkpoint, cls.official_args)
    return {
        "kind": kind,
        "method": method,
        "method_config": to_dict(apply_overrides(cls.default_config(), flatten(inferred))),
        "model": state,
        "epoch": checkpoint.get("epoch"),
        "converted_from": "official MAMP checkpoint",
    }
