"""``latent``: masked latent prediction in the style of S-JEPA / data2vec.

What it reproduces: predict, for the masked tokens, the representations that a target encoder
(an exponential moving average of the online encoder, seeing the whole unmasked sequence) gives
them; motion-aware masking as MAMP. Collapse is prevented by centring the targets with a running
mean and sharpening them (a DINO-style cross-entropy between a sharp softmax of the centred target
and the prediction's softmax, per token, over the feature dimensions), as S-JEPA describes.

Sources: S-JEPA (Abdelfattah & Alahi, ECCV 2024) and data2vec (Baevski et al., 2022). S-JEPA's
code was not available to read; this is a faithful-in-spirit re-implementation on MAMP's
encoder, not a port: no 2D-to-3D lifting head, no extra view augmentations (the pipeline's crop and
rotation are used), the predictor is MAMP's decoder emitting D values per token (the shared
masked-method core, ``MaskedMethod``), and the EMA momentum rises from 0.996 to 1 along a cosine.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from mamp_bench.config import require
from mamp_bench.methods.masked import MaskedConfig, MaskedMethod
from mamp_bench.methods.momentum import MomentumMethod, momentum_copy
from mamp_bench.registry import METHODS


@dataclass
class LatentConfig(MaskedConfig):
    momentum: float = 0.996  # EMA of the target encoder, rising to 1 over training
    teacher_temperature: float = 0.04
    student_temperature: float = 0.1
    center_momentum: float = 0.9

    def validate(self) -> None:
        super().validate()
        require(self, [
            (0 <= self.momentum <= 1, f"momentum must be in [0, 1], got {self.momentum}"),
            (self.teacher_temperature > 0, f"teacher_temperature must be positive, got {self.teacher_temperature}"),
            (self.student_temperature > 0, f"student_temperature must be positive, got {self.student_temperature}"),
            (0 <= self.center_momentum <= 1, f"center_momentum must be in [0, 1], got {self.center_momentum}"),
        ])  # fmt: skip


@METHODS.register("latent")
class LatentPrediction(MomentumMethod, MaskedMethod):
    """Predict EMA-target-encoder representations of masked tokens (S-JEPA / data2vec style)."""

    description = "latent prediction of masked tokens from an EMA target encoder (S-JEPA style)"
    Config = LatentConfig
    momentum_schedule = "cosine"
    table_rank = 40
    reproduce_tiers = {"smoke": 2}

    def __init__(self, config: LatentConfig | None = None):
        super().__init__(config)
        self.target_encoder = momentum_copy(self.encoder)
        self.register_buffer("center", torch.zeros(1, 1, self.config.encoder.dim))
        self._target_sum = None
        self._target_count = 0

    def momentum_pairs(self):
        return [(self.encoder, self.target_encoder)]

    def prediction_size(self, config: LatentConfig) -> int:
        return config.encoder.dim

    def make_target(self, seq: torch.Tensor) -> torch.Tensor:
        """The target encoder's centred, sharpened token distributions (NM, L, D) (no gradient)."""
        target = self.target_encoder.blocks_and_norm(self.target_encoder.embed(seq))  # (NM, L, D)
        self._accumulate(target)
        return F.softmax((target - self.center) / self.config.teacher_temperature, dim=-1)

    @classmethod
    def objective(cls, config) -> str:
        return "masked latent targets (cross-entropy)"

    def loss(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Cross-entropy between the teacher's and the predicted distributions, over masked tokens."""
        per_token = -(target * F.log_softmax(pred / self.config.student_temperature, dim=-1)).sum(dim=-1)
        return (per_token * mask).sum() / mask.sum()

    def _accumulate(self, target: torch.Tensor) -> None:
        batch_sum = target.sum(dim=(0, 1))
        self._target_sum = batch_sum if self._target_sum is None else self._target_sum + batch_sum
        self._target_count += target.shape[0] * target.shape[1]

    @torch.no_grad()
    def after_step(self, progress: float) -> None:
        super().after_step(progress)
        if self._target_sum is not None:
            mean = (self._target_sum / self._target_count).view(1, 1, -1)
            m = self.config.center_momentum
            self.center.mul_(m).add_(mean, alpha=1 - m)
            self._target_sum, self._target_count = None, 0
