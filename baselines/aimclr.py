"""AimCLR on ST-GCN, as published (Guo et al., AAAI 2022; Levigty/AimCLR ``net/aimclr.py``, ``net/att_drop.py``,
``processor/pretrain_aimclr.py``, ``feeder/ntu_feeder.py`` ``Feeder_triple``).

Three views of each clip: an extreme view (the normal view, then mirror, rotation, noise, blur and a zeroed axis:
``data/gcn/augment.py``), a query and a key (normal views). The encoders derive their stream from each augmented
view. The
extreme view goes through the query encoder twice in one pass: as it is, and after the energy-based attention
drop of its last feature map (``attention_drop``: SimAM energies, joints and (channel-joint, frame) entries
whose attention is >= 0.7 dropped, the rest rescaled; deterministic). Loss:

* until mining starts (reference: epochs 1-150 of 300): InfoNCE of the query, plus the mean of the two DDM
  terms, DDM(p) = -mean_n sum softmax(query logits, detached) * log softmax(p's logits), for the extreme view
  and its dropped version;
* from then on (epochs 151-300): the InfoNCE term becomes nearest-neighbour mining: positives are the key and
  the top-1 queue neighbour of the query, the extreme view and the dropped view; -sum(mask * log softmax) /
  sum(mask), averaged.

``mining_start`` is the fraction of training after which mining is on (0.5: epoch 151 of 300); ``after_step``
sets it from the engine's progress and ``set_progress`` restores it on resume. Deliberate differences:
``log_softmax`` instead of ``log(softmax)`` (the same value, without the reference's underflow to -inf); see also
``data/gcn/augment.py`` and ``methods/moco.py``. Pretraining and protocols: as ``skeletonclr``'s (the GCN
family's pretext configs and processors).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from mamp_bench.baselines.skeletonclr_gcn import GCNContrastiveConfig, SkeletonCLR, random_seeds
from mamp_bench.config import require
from mamp_bench.data.gcn.augment import ViewDraws, draw_extreme, draw_normal, extreme_view, normal_view
from mamp_bench.methods.base import PretrainOutput
from mamp_bench.methods.moco import contrastive_logits
from mamp_bench.registry import METHODS


@dataclass
class AimCLRConfig(GCNContrastiveConfig):
    mining_start: float = 0.5  # fraction of training: the reference's mining_epoch 150 of 300 epochs
    topk: int = 1  # queue neighbours mined per view
    drop_keep: float = 0.7  # attention threshold of Simam_Drop (keep_prob)
    drop_lambda: float = 1e-4  # SimAM's e_lambda

    def validate(self) -> None:
        super().validate()
        require(self, [
            (0 <= self.mining_start <= 1, f"mining_start must be in [0, 1], got {self.mining_start}"),
            (1 <= self.topk <= self.queue_size, f"topk must be in [1, queue_size], got {self.topk}"),
            (0 < self.drop_keep <= 1, f"drop_keep must be in (0, 1], got {self.drop_keep}"),
            (self.drop_lambda > 0, f"drop_lambda must be positive, got {self.drop_lambda}"),
        ])  # fmt: skip


def attention_drop(x: torch.Tensor, keep: float = 0.7, e_lambda: float = 1e-4) -> torch.Tensor:
    """AimCLR's ``Simam_Drop`` on a feature map (n, C, T, V) -> same.

    SimAM attention a = sigmoid(d / (4 (sum d / (T V - 1) + lambda)) + 0.5), d = (x - mean over (T, V))^2.
    Joints whose attention averaged over (C, T) is >= ``keep`` are dropped, then (channel, frame, joint) entries
    whose attention is >= ``keep``; after each drop the map is scaled by (entries / kept entries) over the whole
    batch. The masks carry no gradient (the reference overwrites them with constants)."""
    n, C, T, V = x.shape
    with torch.no_grad():
        d = (x - x.mean(dim=(2, 3), keepdim=True)).pow(2)
        attention = torch.sigmoid(d / (4 * (d.sum(dim=(2, 3), keepdim=True) / (V * T - 1) + e_lambda)) + 0.5)
        joints = (attention.mean(dim=(1, 2)) < keep).to(x.dtype)  # (n, V)
        entries = (attention < keep).to(x.dtype)  # (n, C, T, V)
    x = x * joints[:, None, None, :] * (joints.numel() / joints.sum())
    return x * entries * (entries.numel() / entries.sum())


@METHODS.register("aimclr")
class AimCLR(SkeletonCLR):
    """AimCLR: extreme augmentations, energy-based attention drop, DDM and nearest-neighbour mining."""

    description = "AimCLR (ST-GCN): extreme views, attention drop, DDM and nearest-neighbour mining (AAAI 2022)"
    Config = AimCLRConfig
    reported_as = "AimCLR"
    table_rank = 61
    forward_passes = 7.0  # the query's and the extreme view's forward and backward, the key's forward

    def __init__(self, config: AimCLRConfig | None = None):
        super().__init__(config or AimCLRConfig())
        self.mining = self.config.mining_start == 0

    @classmethod
    def objective(cls, config) -> str:
        return f"AimCLR (InfoNCE / mining + DDM), ST-GCN {config.get('encoder', {}).get('stream', 'joint')} stream"

    def set_progress(self, progress: float) -> None:
        """Mining is on once ``progress`` (the fraction of training done) reached ``mining_start``."""
        self.mining = progress >= self.config.mining_start

    def after_step(self, progress: float) -> None:
        super().after_step(progress)
        self.set_progress(progress)

    def views(self, x: torch.Tensor, seeds: torch.Tensor | None, draws: Sequence[ViewDraws] | None):
        """(extreme, query, key) views of clips (N, C, T, V, M) (the encoders derive their stream from them)."""
        if draws is None:
            seeds = random_seeds(len(x)) if seeds is None else seeds
            draws = [draw_extreme(seeds, 0, tuple(x.shape), x.device),
                     *(draw_normal(seeds, view, x.shape[2], x.device) for view in (1, 2))]  # fmt: skip
        clips = x.double()  # float64 views, as SkeletonCLR.views
        views = [extreme_view(clips, draws[0]), *(normal_view(clips, d) for d in draws[1:])]
        return [view.to(x.dtype) for view in views]

    def embed_extreme(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Extreme clips -> normalised projections (N, D) of the view and of its attention-dropped features."""
        features = self.encoder.features(x)  # (N*M, 256, T', V)
        dropped = attention_drop(features, self.config.drop_keep, self.config.drop_lambda)
        persons = x.shape[-1]
        return tuple(F.normalize(self.projection(self.encoder.pool(f, persons)), dim=1) for f in (features, dropped))

    def forward(
        self, x: torch.Tensor, seeds: torch.Tensor | None = None, draws: Sequence[ViewDraws] | None = None
    ) -> PretrainOutput:
        """Clips (N, C, T, V, M), per-clip seeds (N,) or recorded ``draws`` (extreme, query, key) -> loss."""
        extreme, query, key = self.views(x, seeds, draws)
        q = self.embed(query)
        q_extreme, q_dropped = self.embed_extreme(extreme)
        k = self.keys(key)
        negatives, temperature = self.queue.negatives(), self.config.temperature
        logits, similar = contrastive_logits(q, k, negatives, temperature)
        logits_e, similar_e = contrastive_logits(q_extreme, k, negatives, temperature)
        logits_d, similar_d = contrastive_logits(q_dropped, k, negatives, temperature)
        target = torch.softmax(logits.detach(), dim=1)  # DDM: the query's distribution supervises
        ddm = sum(-(target * torch.log_softmax(p, dim=1)).sum(dim=1).mean() for p in (logits_e, logits_d)) / 2
        if self.mining:
            positives = torch.zeros_like(similar)
            for s in (similar, similar_e, similar_d):
                positives.scatter_(1, s.topk(self.config.topk, dim=1).indices, 1)
            mask = torch.cat([torch.ones_like(positives[:, :1]), positives], dim=1)  # (N, 1 + K)
            contrastive = (-(torch.log_softmax(logits, dim=1) * mask).sum(dim=1) / mask.sum(dim=1)).mean()
        else:
            contrastive = F.cross_entropy(logits, torch.zeros(len(q), dtype=torch.long, device=q.device))
        accuracy = (logits.argmax(dim=1) == 0).float().mean().item()
        extras = {"contrastive": contrastive.item(), "ddm": float(ddm.detach()), "contrastive_accuracy": accuracy}
        return PretrainOutput(contrastive + ddm, weight=float(len(q)), extras=extras)
