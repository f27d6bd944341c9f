"""SkeletonCLR on ST-GCN, as published (Li et al., CrosSCLR, CVPR 2021; LinguoLi/CrosSCLR ``net/skeletonclr.py``,
``processor/pretrain_skeletonclr.py``, ``feeder/ntu_feeder.py`` ``Feeder_dual``).

Two normal views of each 50-frame clip (temporal shift, then shear: ``data/gcn/augment.py``), the chosen stream
(``joint``, ``motion`` or ``bone``: ``data/gcn/streams.py``) derived from each augmented view, a query and a key
ST-GCN (hidden 16, ``models/stgcn.py``) each with a projection MLP to 128, MoCo v2 InfoNCE against the key and
a queue of 32,768 negatives at temperature 0.07 (``methods/moco.py``). Optimiser of every pretext config:
SGD lr 0.1, momentum 0.9, weight decay 1e-4, x0.1 after epoch 250 of 300, batch 128.

Not registered yet: the registry's ``skeletonclr`` is still the MoCo control on MAMP's transformer
(``baselines/contrastive.py``), and the protocols build MAMP's encoder; phase 2 of issue 23 renames that one
and wires this in. Deliberate differences: see ``data/gcn/augment.py`` and ``methods/moco.py``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from mamp_bench.config import MAX_WIDTH, require
from mamp_bench.data.gcn.augment import ViewDraws, draw_normal, normal_view
from mamp_bench.data.gcn.streams import STREAMS
from mamp_bench.methods.base import PretrainOutput
from mamp_bench.methods.moco import MoCoMethod, contrastive_logits
from mamp_bench.models.stgcn import STGCNConfig

#: the largest negative queue: 32 times the reference's 32,768
MAX_QUEUE = 1 << 20


@dataclass
class GCNContrastiveConfig:
    encoder: STGCNConfig = dataclasses.field(default_factory=STGCNConfig)
    projection_dim: int = 128
    queue_size: int = 32768
    momentum: float = 0.999
    temperature: float = 0.07
    stream: str = "joint"  # joint, motion or bone

    def validate(self) -> None:
        self.encoder.validate()
        require(self, [
            (1 <= self.projection_dim <= MAX_WIDTH,
             f"projection_dim must be in [1, {MAX_WIDTH}], got {self.projection_dim}"),
            (1 <= self.queue_size <= MAX_QUEUE, f"queue_size must be in [1, {MAX_QUEUE}], got {self.queue_size}"),
            (0 <= self.momentum <= 1, f"momentum must be in [0, 1], got {self.momentum}"),
            (self.temperature > 0, f"temperature must be positive, got {self.temperature}"),
            (self.stream in STREAMS, f"stream must be one of {', '.join(STREAMS)}, got {self.stream!r}"),
        ])  # fmt: skip


def random_seeds(n: int) -> torch.Tensor:
    return torch.randint(0, 2**62, (n,))


class SkeletonCLR(MoCoMethod):
    """SkeletonCLR: MoCo v2 on two normal views (temporal shift + shear), ST-GCN encoder."""

    description = "SkeletonCLR (ST-GCN): MoCo v2 on shear + temporal-shift views, as published"
    Config = GCNContrastiveConfig
    reported_as = "SkeletonCLR"

    def __init__(self, config: GCNContrastiveConfig | None = None):
        config = config or GCNContrastiveConfig()
        config.validate()
        super().__init__(config)

    @classmethod
    def objective(cls, config) -> str:
        return f"contrastive views (InfoNCE), ST-GCN {config.get('stream', 'joint')} stream"

    def views(self, x: torch.Tensor, seeds: torch.Tensor | None, draws: Sequence[ViewDraws] | None):
        """(query, key) views of clips (N, C, T, V, M), each as the configured stream. The views are computed in
        float64 and cast back, as the reference's NumPy feeder and its processor's ``.float()`` (the gradients are
        sensitive to the rounding of the views: float32 views move gradient norms by up to 8e-3)."""
        if draws is None:
            seeds = random_seeds(len(x)) if seeds is None else seeds
            draws = [draw_normal(seeds, view, x.shape[2], x.device) for view in (0, 1)]
        stream = STREAMS[self.config.stream]
        return [stream(normal_view(x.double(), d).to(x.dtype)) for d in draws]

    def forward(
        self, x: torch.Tensor, seeds: torch.Tensor | None = None, draws: Sequence[ViewDraws] | None = None
    ) -> PretrainOutput:
        """Clips (N, C, T, V, M), per-clip seeds (N,) or recorded ``draws`` (query, key) -> InfoNCE loss."""
        query, key = self.views(x, seeds, draws)
        q = self.embed(query)  # (N, 128)
        k = self.keys(key)  # (N, 128), after the momentum update
        logits, _ = contrastive_logits(q, k, self.queue.negatives(), self.config.temperature)
        loss = F.cross_entropy(logits, torch.zeros(len(q), dtype=torch.long, device=q.device))
        accuracy = (logits.argmax(dim=1) == 0).float().mean().item()
        return PretrainOutput(loss, weight=float(len(q)), extras={"contrastive_accuracy": accuracy})
