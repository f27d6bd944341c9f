"""Checkpoint files: the suite's own format, the official MAMP and GCN-family formats, and safe loading.

Suite checkpoints are dicts of tensors and plain values (``format: "mamp-bench"``), saved
atomically; a pretraining's names its method, the method's configuration and its encoder (``encoder``: the
registered name and its configuration). Official MAMP checkpoints (``checkpoint-399.pth``: ``model``, and often
``optimizer``, ``epoch``, ``scaler``, ``args`` as an ``argparse.Namespace``) are read directly, and so are the
GCN family's (AimCLR's, SkeletonCLR's, CrosSCLR's processors save the model's flat state dict: ``encoder_q.*``,
``encoder_k.*``, ``queue``, ``queue_ptr``; a linear-evaluation one holds ``encoder_q.*`` with its classifier as
``encoder_q.fc``): their parameter names are mapped onto this suite's modules. Loading always uses
``torch.load(weights_only=True)``, with ``argparse.Namespace`` the only extra type allowed, so
nothing in a checkpoint can run code.

This module knows files and parameter names only (base layer): building an encoder from a checkpoint
is ``models/loading.py``, telling which method trained one is ``methods/checkpoints.py``.
"""

from __future__ import annotations

import argparse
import io
import os
import pickle
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from mamp_bench.checkpoint_checks import check_archive
from mamp_bench.errors import UserError
from mamp_bench.fileio import read_regular, write_bytes

SUITE_FORMAT = "mamp-bench"
FORMAT_VERSION = 1
#: Size bound of a checkpoint: the paper's MAMP (8.8 million parameters with its decoder) with its AdamW
#: state is 105 MB; a billion-parameter model with AdamW state in float32 (weights and two moments)
#: is 12 GB, two orders of magnitude beyond any skeleton model; 16 GiB.
MAX_CHECKPOINT_BYTES = 16 << 30


def checkpoint_bytes(payload: dict[str, Any]) -> bytes:
    """The bytes of a suite checkpoint (``torch.save`` of the payload with the format tag)."""
    buffer = io.BytesIO()
    torch.save({"format": SUITE_FORMAT, "format_version": FORMAT_VERSION, **payload}, buffer)
    return buffer.getvalue()


def save_checkpoint(path: str | os.PathLike[str], payload: dict[str, Any] | bytes) -> None:
    """Atomic ``torch.save`` of a payload, or of bytes from ``checkpoint_bytes`` (temporary file,
    fsync, rename; the previous file stays intact on error, which is a one-line ``StorageError``)."""
    write_bytes(path, payload if isinstance(payload, bytes) else checkpoint_bytes(payload))


def load_checkpoint(source: str | os.PathLike[str] | Mapping[str, Any]) -> dict[str, Any]:
    """A checkpoint as a dict, from a path or an already-loaded dict, loaded safely."""
    if isinstance(source, Mapping):
        return dict(source)
    path = Path(source)
    check_archive(path, MAX_CHECKPOINT_BYTES)  # its zip directory first: nothing decompressed or read whole yet
    data = read_regular(path, MAX_CHECKPOINT_BYTES, "checkpoint")
    if not data:
        raise UserError(f"checkpoint {path} is empty")
    try:
        with torch.serialization.safe_globals([argparse.Namespace]), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*pickle protocol.*")
            checkpoint = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "Unsupported global" in str(exc) or "not an allowed global" in str(exc) or "GLOBAL" in str(exc):
            raise UserError(
                f"checkpoint {path} contains objects that could run code when loaded; refused ({first})"
            ) from None
        raise UserError(f"checkpoint {path} is not a readable PyTorch checkpoint ({first})") from None
    except (RuntimeError, EOFError, ValueError, zipfile.BadZipFile, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"checkpoint {path} is truncated or not a PyTorch checkpoint ({first[:160]})") from None
    if not isinstance(checkpoint, dict):
        raise UserError(f"checkpoint {path} holds a {type(checkpoint).__name__}, expected a dict")
    return checkpoint


def checkpoint_format(checkpoint: Mapping[str, Any]) -> str:
    """``suite`` (a suite checkpoint), ``state`` (a bare state dict in the suite's names: a suite
    checkpoint's ``model``, ``method.state_dict()``), ``official`` (a MAMP reference checkpoint, or a bare
    state dict in the reference's names, as ``encoder.state_dict()``), ``official-gcn`` (a GCN-family processor's
    checkpoint: the flat state dict with ``encoder_q.*``), or a one-line error."""
    if checkpoint.get("format") == SUITE_FORMAT:
        return "suite"
    state = checkpoint.get("model", checkpoint)
    names = [str(k).removeprefix("module.") for k in state] if isinstance(state, Mapping) else []
    if any(name.startswith(("joints_embed.", "blocks.")) for name in names):
        return "official"
    if any(name.startswith("encoder.joints_embed.") for name in names):
        return "state"
    if any(name.startswith(GCN_QUERY) for name in names):
        return "official-gcn"
    keys = ", ".join(list(map(str, checkpoint))[:6])
    raise UserError("not a mamp-bench checkpoint, an official MAMP or AimCLR/SkeletonCLR checkpoint, nor a state "
                    f"dict of one (top-level keys: {keys})")  # fmt: skip


def official_to_suite(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename reference parameters onto this suite's modules.

    ``joints_embed.* / pos_embed / temp_embed / blocks.* / norm.*`` -> ``encoder.*``;
    ``decoder_embed / decoder_blocks / decoder_norm / decoder_pred / decoder_pos_embed /
    decoder_temp_embed / mask_token`` -> ``decoder.embed / .blocks / .norm / .pred / .pos_embed /
    .temp_embed / .mask_token``; ``head.*`` stays ``head.*`` (the downstream heads use the
    reference's names). A ``module.`` prefix from DDP is dropped.
    """
    out = {}
    for key, value in state.items():
        key = key.removeprefix("module.")
        if key.startswith("decoder_"):
            new = "decoder." + key[len("decoder_") :]
        elif key == "mask_token":
            new = "decoder.mask_token"
        elif key.startswith("head."):
            new = key
        else:
            new = "encoder." + key
        out[new] = value
    return out


#: the GCN family's query (evaluated) and key encoders in their processors' checkpoints
GCN_QUERY, GCN_KEY = "encoder_q.", "encoder_k."


def official_gcn_to_suite(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a GCN-family checkpoint's parameters onto the suite's MoCo methods (``methods/moco.py``).

    ``encoder_q.*`` -> ``encoder.*`` and ``encoder_k.*`` -> ``key_encoder.*`` (``st_gcn_networks.i`` ->
    ``blocks.i``); their ``fc`` -> ``projection.*`` / ``key_projection.*`` when it is the pretext MLP (``fc.0``,
    ``fc.2``), ``head.*`` when it is a linear-evaluation classifier (``fc.weight``, ``fc.bias``); ``queue`` and
    ``queue_ptr`` -> ``queue.queue`` / ``queue.queue_ptr``. The stored adjacencies (``*.A``) are dropped: the suite
    builds its graph (``models/stgcn.py`` ``check_official_graph`` checks them first). A ``module.`` prefix from
    DataParallel is dropped."""
    out = {}
    for key, value in state.items():
        key = key.removeprefix("module.")
        if key in ("queue", "queue_ptr"):
            out[f"queue.{key}"] = value
            continue
        for prefix, encoder, projection in ((GCN_QUERY, "encoder", "projection"),
                                            (GCN_KEY, "key_encoder", "key_projection")):  # fmt: skip
            if not key.startswith(prefix):
                continue
            name = key[len(prefix) :]
            if name == "A":
                break
            if name.startswith("fc."):
                head = name[len("fc.") :]
                out[f"{projection}.{head}" if "." in head else f"head.{head}"] = value
            else:
                out[f"{encoder}.{name.replace('st_gcn_networks.', 'blocks.', 1)}"] = value
            break
    return out


def suite_state(checkpoint: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """The model state dict of any supported checkpoint, in the suite's names."""
    fmt = checkpoint_format(checkpoint)
    if fmt == "suite":
        return dict(checkpoint["model"])
    if fmt == "state":
        return {str(k).removeprefix("module."): v for k, v in checkpoint.get("model", checkpoint).items()}
    if fmt == "official-gcn":
        return official_gcn_to_suite(checkpoint.get("model", checkpoint))
    return official_to_suite(checkpoint.get("model", checkpoint))


def encoder_state(checkpoint: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Only the encoder's parameters (names relative to the encoder)."""
    state = suite_state(checkpoint)
    encoder = {k[len("encoder.") :]: v for k, v in state.items() if k.startswith("encoder.")}
    if not encoder:
        raise UserError("the checkpoint holds no encoder parameters")
    return encoder


def load_into(module: torch.nn.Module, state: Mapping[str, torch.Tensor], what: str, strict: bool = True) -> None:
    """``load_state_dict`` with a one-line error that names missing, unexpected and mis-shaped keys."""
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
        for k in own
        if k in state and state[k].shape != own[k].shape
    ]
    if shapes or (strict and (missing or unexpected)):
        parts = []
        if missing:
            parts.append(f"missing {_few(missing)}")
        if unexpected and strict:
            parts.append(f"unexpected {_few(unexpected)}")
        if shapes:
            parts.append(f"wrong shape {_few(shapes)}")
        raise UserError(f"{what} does not fit this architecture: {'; '.join(parts)}")
    module.load_state_dict(state, strict=strict)


def _few(items: list[str], limit: int = 4) -> str:
    more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more
