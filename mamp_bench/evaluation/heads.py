"""Classification heads of the references, on top of the encoder.

MAMP's (``model/transformer.py``): parameter names follow the reference (``head.fc.0/1`` for the linear probe,
``head.fc1``, ``head.bn``, ``head.fc2`` for fine-tuning) so official fine-tuned checkpoints load directly. The
GCN family's: the model's ``fc``, one linear layer on the pooled features (``LinearClassifier``).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from mamp_bench.engine.features import encode_in_chunks, pooled_features
from mamp_bench.models.encoder import Encoder
from mamp_bench.models.stgcn import weights_init
from mamp_bench.models.transformer import trunc_normal_


class LinearHead(nn.Module):
    """Mean over persons, time and joints -> BatchNorm1d(D, affine=False, eps=1e-6) -> Linear.

    (N, M, TP, VP, D) features, or (N, D) pooled features -> (N, classes) logits.
    """

    def __init__(self, dim: int, classes: int):
        super().__init__()
        linear = nn.Linear(dim, classes)
        trunc_normal_(linear.weight, std=0.01)
        nn.init.zeros_(linear.bias)
        self.fc = nn.Sequential(nn.BatchNorm1d(dim, affine=False, eps=1e-6), linear)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if features.ndim == 5:
            features = features.mean(dim=(1, 2, 3))
        return self.fc(features)


class LinearClassifier(nn.Linear):
    """The GCN processors' classifier (the model's ``fc``): pooled features (N, D) -> logits (N, classes), one
    linear layer drawn by their ``weights_init`` (weights N(0, 0.02), bias 0)."""

    def __init__(self, dim: int, classes: int):
        super().__init__(dim, classes)
        weights_init(self)


class FinetuneHead(nn.Module):
    """Dropout -> mean over time -> joints concatenated (25 * D) -> mean over persons ->
    Linear(25 * D, hidden) -> BatchNorm1d -> ReLU -> Linear(hidden, classes). (N, M, TP, VP, D) in.

    ``joints`` 0: an encoder without a token map; the head reads its pooled features (N, D): dropout ->
    Linear(D, hidden) -> BatchNorm1d -> ReLU -> Linear(hidden, classes)."""

    def __init__(self, dim: int, classes: int, joints: int = 25, hidden: int = 2048, dropout: float = 0.3):
        super().__init__()
        self.reads_tokens = joints > 0
        self.dropout = nn.Dropout(dropout)
        self.fc1 = nn.Linear(dim * max(joints, 1), hidden)
        self.bn = nn.BatchNorm1d(hidden, momentum=0.1)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(hidden, classes)
        for fc in (self.fc1, self.fc2):  # the reference's xavier-uniform Linear init
            nn.init.xavier_uniform_(fc.weight)
            nn.init.zeros_(fc.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if not self.reads_tokens:  # (N, D)
            return self.fc2(self.relu(self.bn(self.fc1(self.dropout(features)))))
        N, M = features.shape[:2]
        x = self.dropout(features).mean(dim=2)  # (N, M, VP, D)
        x = x.reshape(N, M, -1).mean(dim=1)  # (N, VP * D)
        return self.fc2(self.relu(self.bn(self.fc1(x))))


class GhostBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm over chunks of ``ghost`` clips, as separate processes without SyncBatchNorm would do.

    In training, each chunk of the batch is normalised with its own statistics, and the running
    statistics follow the first chunk only: under DDP (``broadcast_buffers``) every forward starts
    from process 0's buffers, so the other processes' updates never survive. Evaluation uses the
    running statistics, as BatchNorm does. Parameter and buffer names are BatchNorm1d's.
    """

    def __init__(self, *args, ghost: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.ghost = ghost

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C) -> (N, C)."""
        if not self.training or x.shape[0] <= self.ghost:
            return super().forward(x)
        chunks = x.split(self.ghost)
        first = super().forward(chunks[0])  # updates the running statistics
        rest = [F.batch_norm(c, None, None, self.weight, self.bias, True, 0.0, self.eps) for c in chunks[1:]]
        return torch.cat([first, *rest])


def per_process_batch_norm(module: nn.Module, ghost: int) -> nn.Module:
    """``module`` with every BatchNorm1d normalising over chunks of ``ghost`` clips (same state)."""
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm1d) and not isinstance(child, GhostBatchNorm1d):
            replacement = GhostBatchNorm1d(child.num_features, child.eps, child.momentum, child.affine,
                                           child.track_running_stats, ghost=ghost)  # fmt: skip
            replacement.load_state_dict(child.state_dict())
            setattr(module, name, replacement.to(next(child.buffers()).device))
        else:
            per_process_batch_norm(child, ghost)
    return module


class Classifier(nn.Module):
    """Encoder + head: clips (N, C, T, V, M) -> logits (N, classes).

    The head (with its BatchNorm) always sees the whole batch; only the transformer may run in chunks
    (``chunk`` clips at a time) and encode absent persons once (``skip_empty``; see
    ``encode_in_chunks``). ``frozen``: the encoder's parameters are fixed and it runs without an
    autograd graph (the linear probe), on pooled features. The head reads the token map when it asks for it
    (``reads_tokens``, MAMP's fine-tuning head on the transformer), else the pooled features.
    """

    def __init__(
        self, encoder: Encoder, head: nn.Module, chunk: int = 0, skip_empty: bool = False, frozen: bool = False
    ):
        super().__init__()
        self.encoder = encoder.requires_grad_(False) if frozen else encoder
        self.head = head
        self.chunk, self.skip_empty, self.frozen = chunk, skip_empty, frozen
        self.tokens = not frozen and getattr(head, "reads_tokens", False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.frozen:
            with torch.no_grad():
                features = pooled_features(self.encoder, x, self.chunk, self.skip_empty)  # (N, D)
            return self.head(features)
        if self.tokens:
            return self.head(encode_in_chunks(self.encoder, x, self.chunk, self.skip_empty))
        return self.head(pooled_features(self.encoder, x, self.chunk, self.skip_empty))
