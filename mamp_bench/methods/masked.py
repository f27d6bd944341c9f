"""Masked prediction on the skeleton transformer: encoder + target + masking + loss.

MAMP is (motion target, motion-aware masking, normalised MSE on masked tokens); the MAE baseline
is the same with (coordinate target, random masking). Both are this class with other settings.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from mamp_bench.methods.base import PretrainMethod, PretrainOutput
from mamp_bench.methods.losses import masked_mse
from mamp_bench.methods.masking import build_masking
from mamp_bench.methods.targets import TokenTarget, patchify
from mamp_bench.models.transformer import EncoderConfig, MaskedDecoder, SkeletonEncoder, to_person_sequences
from mamp_bench.seeding import seeded_uniform


@dataclass
class MaskedPredictionConfig:
    encoder: EncoderConfig = dataclasses.field(default_factory=EncoderConfig)
    decoder_dim: int = 256
    decoder_depth: int = 3
    mask_ratio: float = 0.9
    tau: float = 0.8  # motion-aware masking temperature; <= 0 means uniform random masking
    target: str = "motion"  # "motion" (MAMP) or "coords" (MAE)
    motion_stride: int = 1
    target_norm: str = "patch"  # "patch" (reference), "time" (per joint and axis over time), "none"
    skip_empty_persons: bool = False  # drop all-zero person sequences (not in the reference; see README)

    def validate(self) -> None:
        from mamp_bench.errors import UserError

        if not 0 < self.mask_ratio < 1:
            raise UserError(f"mask_ratio must be in (0, 1), got {self.mask_ratio}")
        if self.encoder.frames % self.encoder.t_patch:
            raise UserError(f"encoder.frames ({self.encoder.frames}) must be a multiple of t_patch")
        if self.encoder.dim % self.encoder.heads:
            raise UserError(f"encoder.dim ({self.encoder.dim}) must be a multiple of encoder.heads")
        if not 1 <= self.motion_stride < self.encoder.frames:
            raise UserError(f"motion_stride must be in [1, frames), got {self.motion_stride}")


class MaskedPrediction(PretrainMethod):
    Config = MaskedPredictionConfig
    micro_batches = True
    presets = {
        "ntu60": {"decoder_depth": 3, "tau": 0.8},
        "ntu120": {"decoder_depth": 5, "tau": 0.75},
        "pku1": {"decoder_depth": 5, "tau": 0.8},
        "pku2": {"decoder_depth": 5, "tau": 0.8},
    }

    def __init__(self, config: MaskedPredictionConfig | None = None):
        config = config or self.default_config()
        config.validate()
        super().__init__(config)
        enc = config.encoder
        self.encoder = SkeletonEncoder(enc)
        self.decoder = MaskedDecoder(enc, config.decoder_dim, config.decoder_depth)
        self.target = TokenTarget(config.target, enc.t_patch, config.motion_stride, config.target_norm)
        self.masking = build_masking(config.mask_ratio, config.tau, enc.grid)

    def noise(self, seeds: torch.Tensor | None, persons: int, device: torch.device) -> torch.Tensor:
        """(N*M, L) uniform masking noise: from per-sample seeds when given, else torch.rand."""
        TP, VP = self.config.encoder.grid
        if seeds is None:
            return torch.rand(persons, TP * VP, device=device)
        per_sample = seeded_uniform(seeds.to(device), persons // len(seeds) * TP * VP)
        return per_sample.reshape(persons, TP * VP)

    def forward(self, x: torch.Tensor, seeds: torch.Tensor | None = None) -> PretrainOutput:
        seq = to_person_sequences(x)  # (NM, T, V, C)
        with torch.no_grad():
            noise = self.noise(seeds, seq.shape[0], x.device)  # (NM, L)
            if self.config.skip_empty_persons:
                present = seq.flatten(1).ne(0).any(dim=1)
                seq, noise = seq[present], noise[present]
            target = self.target(seq)  # (NM, L, t_patch * C)
            mask = self.masking(patchify(seq, self.config.encoder.t_patch), noise)
        tokens = self.encoder.embed(seq)  # (NM, L, D)
        visible = torch.gather(tokens, 1, mask.ids_keep.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))
        latent = self.encoder.blocks_and_norm(visible)  # (NM, L_keep, D)
        pred = self.decoder(latent, mask.ids_restore)  # (NM, L, t_patch * C)
        return PretrainOutput(masked_mse(pred, target, mask.mask), pred, mask.mask, weight=float(mask.mask.sum()))
