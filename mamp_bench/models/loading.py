"""An encoder from a checkpoint: its architecture read from the checkpoint, its weights loaded.

A suite checkpoint names its configuration; an official checkpoint or a bare state dict gives it
through its shapes (and its ``args``, where an official one has them).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from mamp_bench.checkpoint_checks import check_tensors
from mamp_bench.checkpoints import checkpoint_format, encoder_state, load_checkpoint, load_into, suite_state
from mamp_bench.config import from_dict
from mamp_bench.errors import UserError
from mamp_bench.models.transformer import EncoderConfig, SkeletonEncoder


def inferred_method_config(checkpoint: Mapping[str, Any], args_map: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The configuration of an official checkpoint or a bare state dict, read from its shapes, and from
    the entries of its ``args`` that ``args_map`` maps onto configuration keys (the ones its model
    actually uses). The number of heads does not show in the shapes: ``args`` give it, else the paper's 8."""
    state = suite_state(checkpoint)
    args = checkpoint.get("args")
    model_args = dict(getattr(args, "model_args", None) or {}) if args is not None else {}
    pos = state.get("encoder.pos_embed")
    temp = state.get("encoder.temp_embed")
    embed = state.get("encoder.joints_embed.proj.weight")  # (D, C, t_patch, 1)
    if pos is None or temp is None or embed is None:
        raise UserError("checkpoint without pos_embed/temp_embed/joints_embed: not a MAMP transformer")
    depth = len({k.split(".")[2] for k in state if k.startswith("encoder.blocks.")})
    decoder_depth = len({k.split(".")[2] for k in state if k.startswith("decoder.blocks.")})
    t_patch = int(embed.shape[2])
    config: dict[str, Any] = {
        "encoder": {
            "dim": int(pos.shape[-1]),
            "depth": depth,
            "heads": int(model_args.get("num_heads", 8)),
            "mlp_ratio": float(model_args.get("mlp_ratio", 4)),
            "frames": int(temp.shape[1]) * t_patch,
            "joints": int(pos.shape[2]),
            "t_patch": t_patch,
            "in_channels": int(embed.shape[1]),
        }
    }
    if decoder_depth:
        config["decoder_depth"] = decoder_depth
        config["decoder_dim"] = int(state["decoder.embed.weight"].shape[0])
    for arg, key in (args_map or {}).items():
        if getattr(args, arg, None) is not None:
            config[key] = float(getattr(args, arg))
    return config


def load_encoder(
    checkpoint: str | os.PathLike[str] | Mapping[str, Any], config: EncoderConfig | None = None
) -> SkeletonEncoder:
    """The encoder of a suite or official checkpoint, in eval mode: a file, a loaded checkpoint, or a
    state dict (of a method or an encoder, in either's names; its architecture is read from its shapes,
    with the paper's 8 heads unless ``config`` says otherwise)."""
    ckpt = load_checkpoint(checkpoint)
    if config is None and checkpoint_format(ckpt) == "suite" and "encoder" in ckpt.get("method_config", {}):
        config = from_dict(EncoderConfig, ckpt["method_config"]["encoder"])
    if config is None:
        config = from_dict(EncoderConfig, inferred_method_config(ckpt)["encoder"])
    config.validate()  # a checkpoint's configuration is input too
    encoder = SkeletonEncoder(config)
    state = encoder_state(ckpt)
    expected = {name: tuple(value.shape) for name, value in encoder.state_dict().items()}
    check_tensors(state, expected, "checkpoint encoder")  # exactly its keys, floating point, declared shapes
    load_into(encoder, state, "checkpoint encoder")
    return encoder.eval()
