"""``latent``: masked latent prediction in the style of S-JEPA / data2vec.

What it reproduces: predict, for the masked tokens, the representations that a target encoder
(an exponential moving average of the online encoder, seeing the whole unmasked sequence) gives
them; motion-aware masking as MAMP. Collapse is prevented by centring the targets with a running
mean and sharpening them (a DINO-style cross-entropy between a sharp softmax of the centred target
and the prediction's softmax, per token, over the feature dimensions), as S-JEPA describes.

Sources: S-JEPA (Abdelfattah & Alahi, ECCV 2024) and data2vec (Baevski et al., 2022). S-JEPA's
code was not available to read; this is a faithful-in-spirit re-implementation on MAMP's
encoder, not a port: no 2D-to-3D lifting head, no extra view augmentations (the pipeline's crop and
rotation are used), the predictor is MAMP's decoder emitting D values per token, and the EMA
momentum rises from 0.996 to 1 along a cosine.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from mamp_bench.methods.base import PretrainOutput
from mamp_bench.methods.masking import build_masking
from mamp_bench.methods.momentum import MomentumMethod, momentum_copy
from mamp_bench.methods.targets import patchify
from mamp_bench.models.transformer import EncoderConfig, MaskedDecoder, SkeletonEncoder, to_person_sequences
from mamp_bench.registry import METHODS
from mamp_bench.seeding import seeded_uniform


@dataclass
class LatentConfig:
    encoder: EncoderConfig = dataclasses.field(default_factory=EncoderConfig)
    decoder_dim: int = 256  # the predictor
    decoder_depth: int = 3
    mask_ratio: float = 0.9
    tau: float = 0.8  # motion-aware masking, as MAMP
    momentum: float = 0.996  # EMA of the target encoder, rising to 1 over training
    teacher_temperature: float = 0.04
    student_temperature: float = 0.1
    center_momentum: float = 0.9
    skip_empty_persons: bool = False  # drop all-zero person sequences (as the masked methods' option)

    def validate(self) -> None:
        from mamp_bench.errors import UserError

        if not 0 < self.mask_ratio < 1:
            raise UserError(f"mask_ratio must be in (0, 1), got {self.mask_ratio}")
        if not 0 <= self.momentum <= 1:
            raise UserError(f"momentum must be in [0, 1], got {self.momentum}")


@METHODS.register("latent")
class LatentPrediction(MomentumMethod):
    """Predict EMA-target-encoder representations of masked tokens (S-JEPA / data2vec style)."""

    description = "latent prediction of masked tokens from an EMA target encoder (S-JEPA style)"
    Config = LatentConfig
    presets = {
        "ntu60": {},
        "ntu120": {"decoder_depth": 5, "tau": 0.75},
        "pku1": {"decoder_depth": 5},
        "pku2": {"decoder_depth": 5},
    }
    momentum_schedule = "cosine"
    micro_batches = True

    def __init__(self, config: LatentConfig | None = None):
        config = config or self.default_config()
        config.validate()
        super().__init__(config)
        enc = config.encoder
        self.encoder = SkeletonEncoder(enc)
        self.target_encoder = momentum_copy(self.encoder)
        self.predictor = MaskedDecoder(enc, config.decoder_dim, config.decoder_depth, out_per_token=enc.dim)
        self.masking = build_masking(config.mask_ratio, config.tau, enc.grid)
        self.register_buffer("center", torch.zeros(1, 1, enc.dim))
        self._target_sum = None
        self._target_count = 0

    def momentum_pairs(self):
        return [(self.encoder, self.target_encoder)]

    def forward(self, x: torch.Tensor, seeds: torch.Tensor | None = None) -> PretrainOutput:
        seq = to_person_sequences(x)  # (NM, T, V, C)
        NM = seq.shape[0]
        TP, VP = self.config.encoder.grid
        with torch.no_grad():
            if seeds is None:
                noise = torch.rand(NM, TP * VP, device=x.device)
            else:
                noise = seeded_uniform(seeds.to(x.device), NM // len(seeds) * TP * VP).reshape(NM, TP * VP)
            if self.config.skip_empty_persons:
                present = seq.flatten(1).ne(0).any(dim=1)
                seq, noise = seq[present], noise[present]
            mask = self.masking(patchify(seq, self.config.encoder.t_patch), noise)
            target = self.target_encoder.blocks_and_norm(self.target_encoder.embed(seq))  # (NM, L, D)
            self._accumulate(target)
            teacher = F.softmax((target - self.center) / self.config.teacher_temperature, dim=-1)
        tokens = self.encoder.embed(seq)
        visible = torch.gather(tokens, 1, mask.ids_keep.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))
        pred = self.predictor(self.encoder.blocks_and_norm(visible), mask.ids_restore)  # (NM, L, D)
        per_token = -(teacher * F.log_softmax(pred / self.config.student_temperature, dim=-1)).sum(dim=-1)
        loss = (per_token * mask.mask).sum() / mask.mask.sum()
        return PretrainOutput(loss, pred, mask.mask, weight=float(mask.mask.sum()))

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
