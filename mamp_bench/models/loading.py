"""An encoder from a checkpoint: which registered encoder it is and its architecture read from the checkpoint,
its weights loaded.

A suite checkpoint names its encoder and configuration (``encoder``; one written before encoders were registered
holds the transformer, then every method's encoder, configured by its ``method_config.encoder``); an official
checkpoint or a bare state dict gives them through its layout and shapes (and its ``args``, where an official
MAMP one has them).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from mamp_bench.checkpoint_checks import check_tensors
from mamp_bench.checkpoints import checkpoint_format, encoder_state, load_checkpoint, load_into, suite_state
from mamp_bench.config import from_dict
from mamp_bench.errors import UserError
from mamp_bench.models.encoder import Encoder
from mamp_bench.models.stgcn import STGCN, check_official_graph, config_from_state
from mamp_bench.models.transformer import EncoderConfig, SkeletonEncoder
from mamp_bench.registry import ENCODERS

#: the encoder of a checkpoint or a record written before encoders were registered (every method's then: the old
#: transformer-MoCo control was called ``skeletonclr``, the name the GCN SkeletonCLR has now)
PRE_REGISTRY_ENCODER = SkeletonEncoder


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


def checkpoint_encoder(checkpoint: Mapping[str, Any]) -> tuple[type[Encoder], Any]:
    """(the registered encoder class, its configuration) a loaded checkpoint holds: what a suite checkpoint
    names (``encoder``, else the transformer with its ``method_config.encoder``: a checkpoint written before
    encoders were registered, whose method name may now be a GCN method's), else what an official checkpoint's or
    a state dict's layout and shapes say."""
    fmt = checkpoint_format(checkpoint)
    if fmt == "suite":
        named = checkpoint.get("encoder") if isinstance(checkpoint.get("encoder"), Mapping) else None
        name = named["name"] if named else PRE_REGISTRY_ENCODER.name
        config = named["config"] if named else checkpoint.get("method_config", {}).get("encoder")
        if name is not None and config is not None:
            cls = ENCODERS.get(name)
            return cls, from_dict(cls.Config, dict(config))
    if fmt == "official-gcn":
        return STGCN, config_from_state(encoder_state(checkpoint))
    return SkeletonEncoder, from_dict(EncoderConfig, inferred_method_config(checkpoint)["encoder"])


def load_encoder(checkpoint: str | os.PathLike[str] | Mapping[str, Any], config: Any = None) -> Encoder:
    """The encoder of a suite or official checkpoint (MAMP's, or AimCLR's / SkeletonCLR's), in eval mode: a file,
    a loaded checkpoint, or a state dict (of a method or an encoder, in either's names; a transformer's
    architecture is read from its shapes, with the paper's 8 heads unless ``config`` says otherwise). An official
    GCN checkpoint does not say its input stream: the joint stream unless ``config`` says otherwise."""
    ckpt = load_checkpoint(checkpoint)
    cls, found = checkpoint_encoder(ckpt)
    config = config if config is not None else found
    if not isinstance(config, cls.Config):
        raise UserError(f"the checkpoint holds a {cls.name} encoder, not one configured by {type(config).__name__}")
    config.validate()  # a checkpoint's configuration is input too
    if checkpoint_format(ckpt) == "official-gcn":
        check_official_graph(ckpt)
    encoder = cls(config)
    state = encoder_state(ckpt)
    own = encoder.state_dict()
    expected = {name: tuple(value.shape) for name, value in own.items()}
    counters = {name for name, value in own.items() if not value.is_floating_point()}  # BatchNorm's batch counts
    check_tensors(state, expected, "checkpoint encoder", counters)  # exactly its keys and dtypes, declared shapes
    load_into(encoder, state, "checkpoint encoder")
    return encoder.eval()
