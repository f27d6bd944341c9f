"""Layer-wise learning-rate decay for fine-tuning (BEiT / MAE / the reference's ``lr_decay.py``)."""

from __future__ import annotations

import torch


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
