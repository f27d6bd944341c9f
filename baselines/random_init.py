"""``random-init``: the untrained encoder, so every linear and k-NN table has its floor.

No pretraining: the protocols evaluate a freshly initialised encoder (the reference's
initialisation, seeded by the run's seed).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from mamp_bench.methods.base import PretrainMethod
from mamp_bench.models.transformer import EncoderConfig, SkeletonEncoder
from mamp_bench.registry import METHODS


@dataclass
class RandomInitConfig:
    encoder: EncoderConfig = dataclasses.field(default_factory=EncoderConfig)

    def validate(self) -> None:
        self.encoder.validate()


@METHODS.register("random-init")
class RandomInit(PretrainMethod):
    """The untrained encoder (a floor for linear and k-NN evaluation)."""

    description = "untrained encoder: the floor of every linear and k-NN table"
    Config = RandomInitConfig
    pretrainable = False
    table_rank = 90
    reproduce_tiers = {"smoke": 2}  # linear and k-NN floors, and the from-scratch fine-tuning

    def __init__(self, config: RandomInitConfig | None = None):
        super().__init__(config or RandomInitConfig())
        self.encoder = SkeletonEncoder(self.config.encoder)

    def forward(self, x, seeds=None):
        raise NotImplementedError("random-init has nothing to pretrain")
