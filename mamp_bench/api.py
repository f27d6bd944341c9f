"""The Python API other code relies on: build a method, load an encoder, extract features, run.

``run`` is the pipeline behind ``mamp-bench run``: a method, a protocol and a dataset in, a result
record out (pretraining first when needed).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch

from mamp_bench.checkpoints import checkpoint_format, load_checkpoint, load_into, suite_state
from mamp_bench.config import apply_overrides, flatten, from_dict, to_dict
from mamp_bench.engine.features import pooled_features
from mamp_bench.methods.base import PretrainMethod
from mamp_bench.models.encoder import Encoder
from mamp_bench.models.loading import checkpoint_encoder, inferred_method_config, load_encoder
from mamp_bench.models.stgcn import check_official_graph
from mamp_bench.pipeline import run as run_request
from mamp_bench.plan import Options, Request
from mamp_bench.registry import METHODS

Checkpoint = str | os.PathLike[str] | Mapping[str, Any]
__all__ = ["build_method", "load_encoder", "extract_features", "run"]


def build_method(name: str, checkpoint: Checkpoint | None = None, **overrides: Any) -> PretrainMethod:
    """The pretraining module of a registered method.

    Defaults are the paper's NTU-60 preset (a suite checkpoint's own configuration when one is
    given; an official one's as its shapes say); ``overrides`` set configuration fields, with ``__`` for nesting
    (``encoder__depth=4``). ``forward(x)`` takes (N, 3, T, 25, M) and returns the loss first.
    """
    cls = METHODS.get(name)
    config = cls.default_config("ntu60")
    state = None
    if checkpoint is not None:
        ckpt = load_checkpoint(checkpoint)
        fmt = checkpoint_format(ckpt)
        if fmt == "suite" and "method_config" in ckpt:
            config = from_dict(cls.Config, ckpt["method_config"])
        elif fmt in ("official", "state"):
            config = apply_overrides(config, flatten(inferred_method_config(ckpt, cls.official_args)))
        elif fmt == "official-gcn":
            check_official_graph(ckpt)
            config = apply_overrides(config, flatten({"encoder": to_dict(checkpoint_encoder(ckpt)[1])}))
        state = suite_state(ckpt)
    config = apply_overrides(config, {k.replace("__", "."): v for k, v in overrides.items()})
    method = cls(config)
    if state is not None:
        load_into(method, state, f"checkpoint for method {name!r}")
    return method


@torch.no_grad()
def extract_features(encoder: Encoder, x: torch.Tensor) -> torch.Tensor:
    """(N, C, T, V, M) -> (N, D) pooled features of any registered encoder (the transformer's: its final-LayerNorm
    output averaged over persons, time and joints)."""
    return pooled_features(encoder, x)


def run(method: str, protocol: str, dataset: str | None = None, **kwargs: Any) -> dict[str, Any]:
    """Evaluate ``method`` with ``protocol`` (pretraining first, or reusing an identical pretraining);
    the record. Other keywords are ``Request`` fields (``scale``, ``seed``, ``checkpoint``,
    ``overrides``) or ``Options`` fields (``data_root``, ``runs_dir``, ``results_dir``, ``device``)."""
    request_keys = set(Request.__dataclass_fields__)
    request = Request(method, protocol, dataset, **{k: v for k, v in kwargs.items() if k in request_keys})
    options = Options(**{k: v for k, v in kwargs.items() if k not in request_keys})
    return run_request(request, options)
