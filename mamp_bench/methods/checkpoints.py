"""Which method trained a checkpoint, and an official checkpoint (MAMP's, AimCLR's / SkeletonCLR's) as a suite
checkpoint."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mamp_bench.checkpoints import checkpoint_format, official_to_suite, suite_state
from mamp_bench.config import apply_overrides, flatten, to_dict
from mamp_bench.errors import UserError
from mamp_bench.models.loading import checkpoint_encoder, inferred_method_config
from mamp_bench.models.stgcn import check_official_graph
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


def convert_official(
    checkpoint: Mapping[str, Any], method: str | None = None, settings: dict[str, str] | None = None
) -> dict[str, Any]:
    """An official checkpoint as a suite checkpoint payload: weights renamed, the method, its full configuration
    (the method's defaults with what the checkpoint's shapes and args say, then ``settings``: dotted method keys,
    such as the input stream an official GCN checkpoint does not record) and its encoder. MAMP's say their method
    (the reference's own code trains MAMP); an AimCLR / SkeletonCLR checkpoint needs ``method``: both save the
    same layout."""
    fmt = checkpoint_format(checkpoint)
    if fmt == "official-gcn":
        if method is None:
            raise UserError("an official AimCLR/SkeletonCLR checkpoint does not say which method trained it (both "
                            "save the same layout): name it with --method")  # fmt: skip
        check_official_graph(checkpoint)
        state, inferred = suite_state(checkpoint), {}
        kind = "pretrain" if "queue.queue" in state else ("classifier" if "head.weight" in state else "encoder")
        source = "official AimCLR/SkeletonCLR checkpoint"
    else:
        state = official_to_suite(checkpoint.get("model", checkpoint))
        has_head = any(k.startswith("head.") for k in state)
        kind = "pretrain" if any(k.startswith("decoder.") for k in state) else ("classifier" if has_head else "encoder")
        method = method or official_method(checkpoint) or METHODS.default()
        source = "official MAMP checkpoint"
    cls = METHODS.get(method)
    encoder_cls, encoder_config = checkpoint_encoder(checkpoint)
    if encoder_cls.name != cls.encoder_name:
        raise UserError(f"the checkpoint holds a {encoder_cls.name} encoder; {method!r} trains a {cls.encoder_name}")
    if fmt != "official-gcn":
        inferred = inferred_method_config(checkpoint, cls.official_args)
    config = apply_overrides(cls.default_config(), flatten({"encoder": to_dict(encoder_config), **inferred}))
    config = apply_overrides(config, settings or {})
    config.validate()
    return {
        "kind": kind,
        "method": method,
        "method_config": to_dict(config),
        "encoder": {"name": encoder_cls.name, "config": to_dict(config.encoder)},
        "model": state,
        "epoch": checkpoint.get("epoch"),
        "converted_from": source,
    }
