"""Classification heads of the reference (``model/transformer.py``), on top of the encoder.

Parameter names follow the reference (``head.fc.0/1`` for the linear probe, ``head.fc1``,
``head.bn``, ``head.fc2`` for fine-tuning) so official fine-tuned checkpoints load directly.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from mamp_bench.models.transformer import SkeletonEncoder, to_person_sequences, trunc_normal_


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


class FinetuneHead(nn.Module):
    """Dropout -> mean over time -> joints concatenated (25 * D) -> mean over persons ->
    Linear(25 * D, hidden) -> BatchNorm1d -> ReLU -> Linear(hidden, classes). (N, M, TP, VP, D) in."""

    def __init__(self, dim: int, classes: int, joints: int = 25, hidden: int = 2048, dropout: float = 0.3):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.fc1 = nn.Linear(dim * joints, hidden)
        self.bn = nn.BatchNorm1d(hidden, momentum=0.1)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(hidden, classes)
        for fc in (self.fc1, self.fc2):  # the reference's xavier-uniform Linear init
            nn.init.xavier_uniform_(fc.weight)
            nn.init.zeros_(fc.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        N, M = features.shape[:2]
        x = self.dropout(features).mean(dim=2)  # (N, M, VP, D)
        x = x.reshape(N, M, -1).mean(dim=1)  # (N, VP * D)
        return self.fc2(self.relu(self.bn(self.fc1(x))))


def encode_in_chunks(
    encoder: SkeletonEncoder, x: torch.Tensor, chunk: int = 0, skip_empty: bool = False
) -> torch.Tensor:
    """Clips (N, C, T, V, M) -> ``encoder(x)`` (N, M, TP, VP, D), ``chunk`` clips at a time (0: at once).

    The encoder treats every person sequence independently, so chunking gives the same result; on a
    CPU the smaller activations stay in cache and it runs faster. Gradients flow as usual.

    ``skip_empty``: an absent person is an all-zero sequence, and every all-zero sequence has the
    same features (in eval mode; in train mode they differ only by their drop-path draws). The
    encoder then runs on the present persons plus one zero sequence, whose output stands for every
    absent person: the same features in eval mode, at about half the cost on NTU-60's mix. In train
    mode the absent persons of a batch share one drop-path draw (not in the reference).
    """
    if skip_empty:
        return _encode_present(encoder, x, chunk)
    if chunk <= 0 or chunk >= x.shape[0]:
        return encoder(x)
    return torch.cat([encoder(x[i : i + chunk]) for i in range(0, x.shape[0], chunk)])


def _encode_present(encoder: SkeletonEncoder, x: torch.Tensor, chunk: int) -> torch.Tensor:
    N, C, T, V, M = x.shape
    seq = to_person_sequences(x)  # (NM, T, V, C)
    present = seq.flatten(1).ne(0).any(dim=1)  # (NM,)
    kept = torch.cat([seq[present], seq.new_zeros(1, T, V, C)])  # (P + 1, T, V, C)
    step = len(kept) if chunk <= 0 else chunk * M  # the same number of sequences a chunk of clips has
    tokens = torch.cat(
        [encoder.blocks_and_norm(encoder.embed(kept[i : i + step])) for i in range(0, len(kept), step)]
    )  # (P + 1, L, D)
    source = torch.full((N * M,), len(kept) - 1, dtype=torch.long, device=x.device)
    source[present] = torch.arange(len(kept) - 1, device=x.device)
    TP, VP = encoder.config.grid
    return tokens[source].reshape(N, M, TP, VP, -1)


class Classifier(nn.Module):
    """Encoder + head: clips (N, C, T, V, M) -> logits (N, classes).

    The head (with its BatchNorm) always sees the whole batch; only the encoder may run in chunks.
    """

    def __init__(self, encoder: SkeletonEncoder, head: nn.Module, chunk: int = 0, skip_empty: bool = False):
        super().__init__()
        self.encoder = encoder
        self.head = head
        self.chunk = chunk
        self.skip_empty = skip_empty

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(encode_in_chunks(self.encoder, x, self.chunk, self.skip_empty))
