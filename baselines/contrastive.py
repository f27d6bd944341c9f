"""``moco-transformer``: SkeletonCLR's objective on MAMP's encoder, a control (not SkeletonCLR as published).

The objective is SkeletonCLR's (Li et al., CrosSCLR, CVPR 2021, LinguoLi/CrosSCLR ``net/skeletonclr.py``): two
augmented views of each clip, a query encoder and a momentum (EMA, 0.999) key encoder, each followed by a
two-layer projection MLP to 128 dimensions, InfoNCE against the positive key and a queue of 32768 negatives at
temperature 0.07; augmentations shear (each off-diagonal entry of a 3x3 matrix ~ U(-0.5, 0.5)) and a temporal
shift (6 frames of reflection padding each side, then a random window of the original length).

What makes it a control rather than SkeletonCLR, so that against MAMP the pretext task is the only variable:
the encoder is MAMP's transformer (120 frames, mean-pooled final-LayerNorm output) on MAMP's data (the SGN
chain, the pipeline's crop and rotation first), with MAMP's pretraining schedule, instead of a 16-channel ST-GCN
on the GCN chain's 50 frames with SGD; the two views are drawn on the device from per-clip seeds; its temporal
shift reflects 6 frames without repeating the edge frame (SkeletonCLR pads T // 6 frames symmetrically, the edge
frame repeated); the queue is sized to the dataset at the smoke scale. SkeletonCLR as published is
``skeletonclr`` (``baselines/skeletonclr_gcn.py``), whose published numbers are not this method's.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from mamp_bench.config import MAX_WIDTH, require
from mamp_bench.methods.base import PretrainOutput
from mamp_bench.methods.moco import Projection
from mamp_bench.methods.momentum import MomentumMethod, momentum_copy
from mamp_bench.models.transformer import EncoderConfig, SkeletonEncoder, to_person_sequences
from mamp_bench.registry import METHODS
from mamp_bench.seeding import seeded_uniform


@dataclass
class MoCoTransformerConfig:
    encoder: EncoderConfig = dataclasses.field(default_factory=EncoderConfig)
    projection_dim: int = 128
    queue_size: int = 32768
    momentum: float = 0.999
    temperature: float = 0.07
    shear: float = 0.5
    temporal_padding: int = 6
    #: encode only the persons present (pool over them); off = the reference's pooling over both
    skip_empty_persons: bool = False

    def validate(self) -> None:
        self.encoder.validate()
        require(self, [
            (1 <= self.projection_dim <= MAX_WIDTH,
             f"projection_dim must be in [1, {MAX_WIDTH}], got {self.projection_dim}"),
            (1 <= self.queue_size <= MAX_QUEUE, f"queue_size must be in [1, {MAX_QUEUE}], got {self.queue_size}"),
            (0 <= self.momentum <= 1, f"momentum must be in [0, 1], got {self.momentum}"),
            (self.temperature > 0, f"temperature must be positive, got {self.temperature}"),
            (self.shear >= 0, f"shear must be >= 0, got {self.shear}"),
            (0 <= self.temporal_padding < self.encoder.frames,
             f"temporal_padding must be in [0, frames), got {self.temporal_padding}"),
        ])  # fmt: skip


#: the largest negative queue: 16 times MoCo's 65,536 (the reference's 32,768 is the default)
MAX_QUEUE = 1 << 20


def augment(x: torch.Tensor, seeds: torch.Tensor, view: int, shear: float, padding: int) -> torch.Tensor:
    """Shear then temporal crop of clips (N, C, T, V, M), drawn from per-clip seeds."""
    N, C, T, V, M = x.shape
    u = seeded_uniform(seeds.to(x.device) * 2 + view, C * C + 1)  # (N, 10)
    matrix = (u[:, : C * C].reshape(N, C, C) * 2 - 1) * shear
    matrix = matrix * (1 - torch.eye(C, device=x.device)) + torch.eye(C, device=x.device)  # unit diagonal
    x = torch.einsum("nij,njtvm->nitvm", matrix, x)
    if padding:
        padded = torch.cat([x[:, :, 1 : padding + 1].flip(2), x, x[:, :, -padding - 1 : -1].flip(2)], dim=2)
        start = (u[:, -1] * (2 * padding + 1)).long().clamp(max=2 * padding)  # (N,)
        index = (start[:, None] + torch.arange(T, device=x.device))[:, None, :, None, None].expand(N, C, T, V, M)
        x = torch.gather(padded, 2, index)
    return x


@METHODS.register("moco-transformer")
class MoCoTransformer(MomentumMethod):
    """SkeletonCLR's MoCo-v2 objective (shear and temporal-shift views) on MAMP's transformer: a control."""

    description = "control: SkeletonCLR's objective (MoCo v2, shear + temporal shift) on MAMP's encoder and data"
    Config = MoCoTransformerConfig
    micro_batches = True  # negatives come from the queue, so each clip's loss is independent
    table_rank = 50
    reproduce_tiers = {"smoke": 2}
    forward_passes = 4.0  # the query's forward and backward, the key's forward

    def __init__(self, config: MoCoTransformerConfig | None = None):
        config = config or self.default_config()
        config.validate()
        super().__init__(config)
        self.encoder = SkeletonEncoder(config.encoder)
        self.projection = Projection(config.encoder.dim, config.projection_dim)
        self.key_encoder = momentum_copy(self.encoder)
        self.key_projection = momentum_copy(self.projection)
        self.register_buffer("queue", F.normalize(torch.randn(config.projection_dim, config.queue_size), dim=0))
        self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))
        self._pending: list[torch.Tensor] = []

    @classmethod
    def objective(cls, config) -> str:
        return "contrastive views (InfoNCE)"

    def momentum_pairs(self):
        return [(self.encoder, self.key_encoder), (self.projection, self.key_projection)]

    def embed(self, encoder: SkeletonEncoder, projection: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """Clips (N, C, T, V, M) -> normalised projections (N, projection_dim)."""
        if not self.config.skip_empty_persons:
            pooled = encoder(x).mean(dim=(1, 2, 3))
        else:
            N, M = x.shape[0], x.shape[-1]
            seq = to_person_sequences(x)  # (N*M, T, V, C)
            present = seq.flatten(1).ne(0).any(dim=1)
            present[::M] = True  # keep the first person of every clip
            tokens = encoder.blocks_and_norm(encoder.embed(seq[present]))  # (P, L, D)
            per_person = torch.zeros(N * M, tokens.shape[-1], device=x.device, dtype=tokens.dtype)
            per_person = per_person.index_copy(0, present.nonzero().squeeze(1), tokens.mean(dim=1))
            counts = present.view(N, M).sum(dim=1, keepdim=True).to(tokens.dtype)
            pooled = per_person.view(N, M, -1).sum(dim=1) / counts
        return F.normalize(projection(pooled), dim=1)

    def forward(self, x: torch.Tensor, seeds: torch.Tensor | None = None) -> PretrainOutput:
        if seeds is None:
            seeds = torch.randint(0, 2**62, (x.shape[0],))
        cfg = self.config
        q = self.embed(self.encoder, self.projection, augment(x, seeds, 0, cfg.shear, cfg.temporal_padding))
        with torch.no_grad():
            k = self.embed(self.key_encoder, self.key_projection, augment(x, seeds, 1, cfg.shear, cfg.temporal_padding))
        positive = (q * k).sum(dim=1, keepdim=True)  # (N, 1)
        negative = q @ self.queue.clone().detach()  # (N, K)
        logits = torch.cat([positive, negative], dim=1) / cfg.temperature
        labels = torch.zeros(len(q), dtype=torch.long, device=q.device)
        loss = F.cross_entropy(logits, labels)
        self._pending.append(k)
        accuracy = (logits.argmax(dim=1) == 0).float().mean().item()
        return PretrainOutput(loss, weight=float(len(q)), extras={"contrastive_accuracy": accuracy})

    @torch.no_grad()
    def after_step(self, progress: float) -> None:
        super().after_step(progress)
        if not self._pending:
            return
        keys = torch.cat(self._pending)
        self._pending = []
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            gathered = [torch.empty_like(keys) for _ in range(torch.distributed.get_world_size())]
            torch.distributed.all_gather(gathered, keys)
            keys = torch.cat(gathered)
        size = self.config.queue_size
        keys = keys[-size:]
        ptr = int(self.queue_ptr)
        index = (torch.arange(len(keys), device=keys.device) + ptr) % size
        self.queue[:, index] = keys.T
        self.queue_ptr.fill_((ptr + len(keys)) % size)
