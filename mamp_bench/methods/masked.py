"""The masked-method core (MMSelfSup's split): encoder + masking + decoder, then target and loss.

``MaskedMethod`` does what every masked method shares: person sequences, masking noise from
per-clip seeds, the mask, visible-token gathering, the encoder on the visible tokens, and the
decoder that re-inserts mask tokens and predicts every token. A method supplies only its target
(``make_target``) and its loss (``loss``):

* ``MaskedPrediction`` (``mamp.py``): the token's own values, coordinates (MAE) or motion (MAMP),
  normalised, with the mean squared error over masked tokens. MAMP is (motion, motion-aware masking);
  MAE is (coordinates, random masking); the ablation cells are the other two pairs.
* the latent-prediction baseline (``baselines/latent.py``): an EMA target encoder's representation.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch

from mamp_bench.config import MAX_DEPTH, MAX_PARAMETERS, MAX_WIDTH, require
from mamp_bench.methods.base import PretrainMethod, PretrainOutput
from mamp_bench.methods.masking import Mask, build_masking, keep_count
from mamp_bench.methods.targets import patchify
from mamp_bench.models.transformer import (
    EncoderConfig,
    MaskedDecoder,
    SkeletonEncoder,
    block_parameters,
    to_person_sequences,
)
from mamp_bench.seeding import seeded_uniform


@dataclass
class MaskedConfig:
    encoder: EncoderConfig = dataclasses.field(default_factory=EncoderConfig)
    decoder_dim: int = 256
    decoder_depth: int = 3
    mask_ratio: float = 0.9
    tau: float = 0.8  # motion-aware masking temperature; <= 0 means uniform random masking
    skip_empty_persons: bool = False  # drop all-zero person sequences (not in the reference; see README)

    def validate(self) -> None:
        self.encoder.validate()
        tokens = self.encoder.grid[0] * self.encoder.grid[1]
        visible = keep_count(tokens, self.mask_ratio) if 0 < self.mask_ratio < 1 else 0
        heads = self.encoder.heads
        require(self, [
            (0 < self.mask_ratio < 1, f"mask_ratio must be in (0, 1), got {self.mask_ratio}"),
            (0 < visible < tokens, f"mask_ratio {self.mask_ratio} leaves {visible} of {tokens} tokens visible; "
                                   "at least one must be visible and one masked"),
            (1 <= self.decoder_dim <= MAX_WIDTH and self.decoder_dim % heads == 0,
             f"decoder_dim must be in [1, {MAX_WIDTH}] and a multiple of encoder.heads ({heads}), "
             f"got {self.decoder_dim}"),
            (0 <= self.decoder_depth <= MAX_DEPTH,
             f"decoder_depth must be in [0, {MAX_DEPTH}], got {self.decoder_depth}"),
            (self.decoder_dim <= MAX_WIDTH and self.decoder_depth <= MAX_DEPTH
             and block_parameters(self.decoder_dim, self.encoder.mlp_ratio) * self.decoder_depth <= MAX_PARAMETERS,
             f"{self.decoder_depth} decoder blocks of width {self.decoder_dim} exceed {MAX_PARAMETERS:,} parameters"),
        ])  # fmt: skip


class MaskedMethod(PretrainMethod):
    """Encoder, masking and decoder; subclasses give ``prediction_size``, ``make_target``, ``loss``."""

    Config = MaskedConfig
    micro_batches = True
    presets = {
        "ntu60": {"decoder_depth": 3, "tau": 0.8},
        "ntu120": {"decoder_depth": 5, "tau": 0.75},
        "pku1": {"decoder_depth": 5, "tau": 0.8},
        "pku2": {"decoder_depth": 5, "tau": 0.8},
    }

    def __init__(self, config: MaskedConfig | None = None):
        config = config or self.default_config()
        config.validate()
        super().__init__(config)
        enc = config.encoder
        self.encoder = SkeletonEncoder(enc)
        self.decoder = MaskedDecoder(enc, config.decoder_dim, config.decoder_depth, self.prediction_size(config))
        self.masking = build_masking(config.mask_ratio, config.tau, enc.grid)

    def prediction_size(self, config: Any) -> int:
        """Values the decoder predicts per token."""
        raise NotImplementedError

    def make_target(self, seq: torch.Tensor) -> Any:
        """Person sequences (NM, T, V, C) -> what ``loss`` compares the predictions with."""
        raise NotImplementedError

    def loss(self, pred: torch.Tensor, target: Any, mask: torch.Tensor) -> torch.Tensor:
        """Predictions (NM, L, P), the target and the mask (NM, L), 1 = masked -> scalar loss."""
        raise NotImplementedError

    def noise(self, seeds: torch.Tensor | None, persons: int, device: torch.device) -> torch.Tensor:
        """(N*M, L) uniform masking noise: from per-sample seeds when given, else torch.rand."""
        TP, VP = self.config.encoder.grid
        if seeds is None:
            return torch.rand(persons, TP * VP, device=device)
        per_sample = seeded_uniform(seeds.to(device), persons // len(seeds) * TP * VP)
        return per_sample.reshape(persons, TP * VP)

    def predict(self, seq: torch.Tensor, mask: Mask) -> torch.Tensor:
        """Encode the visible tokens, decode every token: (NM, T, V, C) -> (NM, L, P)."""
        tokens = self.encoder.embed(seq)  # (NM, L, D)
        visible = torch.gather(tokens, 1, mask.ids_keep.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))
        latent = self.encoder.blocks_and_norm(visible)  # (NM, L_keep, D)
        return self.decoder(latent, mask.ids_restore)  # (NM, L, P)

    def forward(self, x: torch.Tensor, seeds: torch.Tensor | None = None) -> PretrainOutput:
        seq = to_person_sequences(x)  # (NM, T, V, C)
        with torch.no_grad():
            noise = self.noise(seeds, seq.shape[0], x.device)  # (NM, L)
            if self.config.skip_empty_persons:
                present = seq.flatten(1).ne(0).any(dim=1)
                seq, noise = seq[present], noise[present]
            mask = self.masking(patchify(seq, self.config.encoder.t_patch), noise)
            target = self.make_target(seq)
        pred = self.predict(seq, mask)
        return PretrainOutput(self.loss(pred, target, mask.mask), pred, mask.mask, weight=float(mask.mask.sum()))
