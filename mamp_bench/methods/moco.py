"""MoCo v2 machinery of the GCN contrastive family (SkeletonCLR, AimCLR): shared, each method short.

As Levigty/AimCLR ``net/skeletonclr.py`` / ``net/aimclr.py`` (after MoCo): a query encoder with a projection
MLP (256 -> 256 -> ReLU -> 128), a key encoder and projection updated as ``k = 0.999 k + 0.001 q``, a queue
of 32,768 L2-normalised keys (initialised from randn, normalised per column), logits ``[q.k, q.queue] / 0.07``.

The timing follows the reference, where it changes a number: the key encoder is updated at the start of the
step, before the keys are computed (``forward`` does it once per optimizer step, the first time it runs after
``after_step``), and the step's keys enter the queue after the loss (``after_step``). The processors re-draw
every weight after building the model (``processor/pretrain.py`` ``weights_init``): conv and linear weights
N(0, 0.02) with zero biases, BatchNorm weights N(1, 0.02) with zero biases, the key encoder drawn
independently of the query encoder (so the two differ at the start): ``models/stgcn.py`` ``weights_init``,
applied by the methods.

Deliberate differences: the queue takes any batch size (the reference asserts ``32768 % batch == 0``) and, under
DDP, the keys of every process (the reference runs on one GPU); the pointer is advanced where the keys are
written (the reference advances it from the processor, after the forward).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from mamp_bench.checkpoints import official_gcn_to_suite
from mamp_bench.methods.base import PretrainMethod
from mamp_bench.methods.momentum import ema_update, momentum_copy
from mamp_bench.models.stgcn import STGCN, check_official_graph, weights_init


class Projection(nn.Sequential):
    """The projection MLP: Linear(dim, dim), ReLU, Linear(dim, out) (indices 0 and 2, as the reference's ``fc``)."""

    def __init__(self, dim: int, out: int):
        super().__init__(nn.Linear(dim, dim), nn.ReLU(inplace=True), nn.Linear(dim, out))


class KeyQueue(nn.Module):
    """The negatives: (dim, size) L2-normalised keys and the write pointer (``queue``, ``queue_ptr`` (1,))."""

    def __init__(self, dim: int, size: int):
        super().__init__()
        self.register_buffer("queue", F.normalize(torch.randn(dim, size), dim=0))
        self.register_buffer("queue_ptr", torch.zeros(1, dtype=torch.long))

    def negatives(self) -> torch.Tensor:
        """(dim, size), detached (the keys are written in place later)."""
        return self.queue.clone().detach()

    @torch.no_grad()
    def push(self, keys: torch.Tensor) -> None:
        """Write keys (B, dim) (of every process under DDP) at the pointer, wrapping, and advance it."""
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            gathered = [torch.empty_like(keys) for _ in range(torch.distributed.get_world_size())]
            torch.distributed.all_gather(gathered, keys)
            keys = torch.cat(gathered)
        size = self.queue.shape[1]
        keys = keys[-size:]
        ptr = int(self.queue_ptr[0])
        index = (torch.arange(len(keys), device=keys.device) + ptr) % size
        self.queue[:, index] = keys.T.to(self.queue.dtype)
        self.queue_ptr[0] = (ptr + len(keys)) % size


def contrastive_logits(q: torch.Tensor, k: torch.Tensor, negatives: torch.Tensor, temperature: float):
    """Normalised queries and keys (N, D), negatives (D, K) -> logits (N, 1 + K) (positive first) and the
    negative similarities (N, K) before the temperature."""
    positive = (q * k).sum(dim=1, keepdim=True)  # (N, 1)
    negative = q @ negatives  # (N, K)
    return torch.cat([positive, negative], dim=1) / temperature, negative


class MoCoMethod(PretrainMethod):
    """Query and key ST-GCN encoders with projections and a key queue. Subclasses write ``forward`` with
    ``embed``, ``keys`` and ``contrastive_logits`` and set ``Config`` (fields ``encoder``,
    ``projection_dim``, ``queue_size``, ``momentum``, ``temperature``)."""

    micro_batches = False  # BatchNorm statistics are over the whole batch, as the reference

    def __init__(self, config: Any):
        super().__init__(config)
        self.encoder = STGCN(config.encoder)
        self.projection = Projection(config.encoder.hidden_dim, config.projection_dim)
        self.key_encoder = momentum_copy(self.encoder)
        self.key_projection = momentum_copy(self.projection)
        for part in (self.encoder, self.projection, self.key_encoder, self.key_projection):
            weights_init(part)  # the key side drawn on its own, as the processors do
        self.queue = KeyQueue(config.projection_dim, config.queue_size)
        self._momentum_due = True  # the reference updates the key encoder before its first keys too
        self._pending: list[torch.Tensor] = []

    def momentum_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        return [(self.encoder, self.key_encoder), (self.projection, self.key_projection)]

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Query side: clips (N, C, T, V, M) -> normalised projections (N, projection_dim)."""
        return F.normalize(self.projection(self.encoder(x)), dim=1)

    @torch.no_grad()
    def keys(self, x: torch.Tensor) -> torch.Tensor:
        """Key side, after the step's momentum update: clips -> normalised keys (N, projection_dim), which
        join the queue after the step."""
        if self._momentum_due:
            for online, target in self.momentum_pairs():
                ema_update(target, online, self.config.momentum)
            self._momentum_due = False
        k = F.normalize(self.key_projection(self.key_encoder(x)), dim=1)
        self._pending.append(k)
        return k

    @torch.no_grad()
    def after_step(self, progress: float) -> None:
        if self._pending:
            self.queue.push(torch.cat(self._pending))
            self._pending = []
        self._momentum_due = True

    def load_official(self, state: Mapping[str, torch.Tensor]) -> None:
        """Load an official-layout state dict (``encoder_q.*``, ``encoder_k.*``, ``queue``, ``queue_ptr``, as the
        reference processors save it; ``checkpoints.official_gcn_to_suite``), its graph checked, every key
        accounted for (strict)."""
        check_official_graph(state)
        self.load_state_dict(official_gcn_to_suite(state))
