"""MAMP: masked motion prediction with motion-aware masking (Mao et al., ICCV 2023).

``MaskedPrediction`` is the masked-method core (``masked.py``) with the token's own values as the target:
its motion (MAMP) or its coordinates (MAE, ``baselines/mae.py``), normalised per token, and the mean
squared error over masked tokens.

Reproduces ``model_mamp/transformer.py`` of maoyunyao/MAMP: the encoder sees the 10 % of tokens
left visible by motion-aware masking (tau 0.80 on NTU-60 and PKU, 0.75 on NTU-120); the decoder
(depth 3 on NTU-60, 5 otherwise) predicts the per-token-normalised stride-1 frame differences of
the masked 90 %. Differences from the reference: attention through SDPA (same maths), and masking
noise drawn from per-sample seeds when the engine provides them (same distribution, but
independent of batch layout, so that DDP and single-process runs agree).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from mamp_bench.config import require
from mamp_bench.methods.losses import masked_mse
from mamp_bench.methods.masked import MaskedConfig, MaskedMethod
from mamp_bench.methods.targets import TokenTarget
from mamp_bench.registry import METHODS


@dataclass
class MaskedPredictionConfig(MaskedConfig):
    target: str = "motion"  # "motion" (MAMP) or "coords" (MAE)
    motion_stride: int = 1
    target_norm: str = "patch"  # "patch" (reference), "time" (per joint and axis over time), "none"

    def validate(self) -> None:
        super().validate()
        require(self, [
            (self.target in ("motion", "coords"), f"target must be 'motion' or 'coords', got {self.target!r}"),
            (self.target_norm in ("patch", "time", "none"),
             f"target_norm must be 'patch', 'time' or 'none', got {self.target_norm!r}"),
            (1 <= self.motion_stride < self.encoder.frames,
             f"motion_stride must be in [1, frames), got {self.motion_stride}"),
        ])  # fmt: skip


class MaskedPrediction(MaskedMethod):
    """Predict the masked tokens' own values (motion or coordinates), normalised, with MSE."""

    Config = MaskedPredictionConfig

    def __init__(self, config: MaskedPredictionConfig | None = None):
        super().__init__(config)
        enc = self.config.encoder
        self.target = TokenTarget(self.config.target, enc.t_patch, self.config.motion_stride, self.config.target_norm)

    def prediction_size(self, config: MaskedPredictionConfig) -> int:
        return config.encoder.t_patch * config.encoder.in_channels

    def make_target(self, seq: torch.Tensor) -> torch.Tensor:
        return self.target(seq)  # (NM, L, t_patch * C)

    @classmethod
    def objective(cls, config: Mapping[str, Any]) -> str:
        """The configured target and its normalisation under a mean squared error; a subclass that
        replaces the target or the loss measures something else (its own name, unless it says)."""
        if cls.make_target is not MaskedPrediction.make_target or cls.loss is not MaskedPrediction.loss:
            return super().objective(config)
        return f"masked {config.get('target', 'motion')}, {config.get('target_norm', 'patch')}-normalised (MSE)"

    def loss(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return masked_mse(pred, target, mask)


@METHODS.register("mamp", default=True)
class MAMP(MaskedPrediction):
    """Masked motion prediction with motion-aware masking (ICCV 2023)."""

    description = "MAMP: masked motion prediction, motion-aware masking (ICCV 2023)"
    reported_as = "MAMP"
    table_rank = 0
    reproduce_tiers = {"smoke": 3, "paper": 3}
    ablation = "motion target, motion-aware masking (MAMP)"
    sweeps = {"mask_ratio": (0.8, 0.95), "tau": (0.5, 1.0)}
    official_model = "model_mamp"
    official_args = {"mask_ratio": "mask_ratio", "motion_aware_tau": "tau"}
