"""``skeletonclr``: SkeletonCLR on ST-GCN, as published (Li et al., CrosSCLR, CVPR 2021; LinguoLi/CrosSCLR
``net/skeletonclr.py``, ``processor/pretrain_skeletonclr.py``, ``feeder/ntu_feeder.py`` ``Feeder_dual``).

Two normal views of each 50-frame clip of the GCN chain (temporal shift, then shear: ``data/gcn/augment.py``), a
query and a key ST-GCN (hidden 16, ``models/stgcn.py``; each derives its input stream, ``encoder.stream``:
``joint``, ``motion`` or ``bone``, from the augmented view) each with a projection MLP to 128, MoCo v2 InfoNCE
against the key and a queue of 32,768 negatives at temperature 0.07 (``methods/moco.py``). Its pretraining is the
pretext configs' (``pretraining``): SGD lr 0.1, momentum 0.9, weight decay 1e-4 on every parameter, x0.1 after
epoch 250 of 300, batch 128; its protocols follow the GCN family's processors (the ``gcn`` recipes).

The suite's other contrastive method, ``moco-transformer``, is this objective on MAMP's encoder (a control).
Deliberate differences: see ``data/gcn/augment.py`` and ``methods/moco.py``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from mamp_bench.config import MAX_WIDTH, require
from mamp_bench.data.gcn.augment import ViewDraws, draw_normal, normal_view
from mamp_bench.methods.base import PretrainOutput
from mamp_bench.methods.moco import MoCoMethod, contrastive_logits
from mamp_bench.models.stgcn import STGCNConfig
from mamp_bench.registry import METHODS

#: the largest negative queue: 32 times the reference's 32,768
MAX_QUEUE = 1 << 20


@dataclass
class GCNContrastiveConfig:
    encoder: STGCNConfig = dataclasses.field(default_factory=STGCNConfig)
    projection_dim: int = 128
    queue_size: int = 32768
    momentum: float = 0.999
    temperature: float = 0.07

    def validate(self) -> None:
        self.encoder.validate()
        require(self, [
            (1 <= self.projection_dim <= MAX_WIDTH,
             f"projection_dim must be in [1, {MAX_WIDTH}], got {self.projection_dim}"),
            (1 <= self.queue_size <= MAX_QUEUE, f"queue_size must be in [1, {MAX_QUEUE}], got {self.queue_size}"),
            (0 <= self.momentum <= 1, f"momentum must be in [0, 1], got {self.momentum}"),
            (self.temperature > 0, f"temperature must be positive, got {self.temperature}"),
        ])  # fmt: skip


def random_seeds(n: int) -> torch.Tensor:
    return torch.randint(0, 2**62, (n,))


#: the GCN family's pretext configs (Levigty/AimCLR ``config/*/pretext/*.yaml``, ``processor/pretrain.py``), and the
#: smoke scale's short version: 3 epochs on the first 128 clips (56 of the stand-in's 60 classes), the step after
#: the second, so that the smoke reproduction's six GCN pretrainings (two methods, three seeds) take about 4 minutes
#: on 2 CPU cores (SkeletonCLR's step runs at 12.5 clips/s there, AimCLR's at 8.2:
#: benchmarks/results/gcn-smoke-pretrain-amd-epyc-2core.txt)
GCN_PRETRAINING = {
    "paper": {"optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4, "decay_all": True,
              "schedule": "step", "lr_steps": (250,), "epochs": 300, "warmup_epochs": 0, "batch_size": 128},
    "smoke": {"epochs": 3, "lr_steps": (2,), "warmup_epochs": 0, "max_clips": 128},
}  # fmt: skip
#: the other two streams, each pretrained and evaluated on its own: the 3-stream ensemble's members
OTHER_STREAMS = ({"method.encoder.stream": "motion"}, {"method.encoder.stream": "bone"})


@METHODS.register("skeletonclr")
class SkeletonCLR(MoCoMethod):
    """SkeletonCLR: MoCo v2 on two normal views (temporal shift + shear), ST-GCN encoder."""

    description = "SkeletonCLR (ST-GCN): MoCo v2 on shear + temporal-shift views, as published (CVPR 2021)"
    Config = GCNContrastiveConfig
    encoder_name = "stgcn"
    pretraining = GCN_PRETRAINING
    reported_as = "SkeletonCLR"
    table_rank = 60
    reproduce_tiers = {"smoke": 1, "paper": 1}  # the family publishes linear evaluation only
    variants = {"paper": OTHER_STREAMS}
    max_processes = 1  # the processors train on one GPU: BatchNorm over the whole batch of 128
    forward_passes = 4.0  # the query's forward and backward, the key's forward

    def __init__(self, config: GCNContrastiveConfig | None = None):
        config = config or GCNContrastiveConfig()
        config.validate()
        super().__init__(config)

    @classmethod
    def objective(cls, config) -> str:
        return f"contrastive views (InfoNCE), ST-GCN {config.get('encoder', {}).get('stream', 'joint')} stream"

    def views(self, x: torch.Tensor, seeds: torch.Tensor | None, draws: Sequence[ViewDraws] | None):
        """(query, key) views of clips (N, C, T, V, M) (the encoders derive their stream from them). The views are
        computed in float64 and cast back, as the reference's NumPy feeder and its processor's ``.float()`` (the
        gradients are sensitive to the rounding of the views: float32 views move gradient norms by up to 8e-3)."""
        if draws is None:
            seeds = random_seeds(len(x)) if seeds is None else seeds
            draws = [draw_normal(seeds, view, x.shape[2], x.device) for view in (0, 1)]
        return [normal_view(x.double(), d).to(x.dtype) for d in draws]

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
