"""The other two cells of the MAMP paper's target x masking ablation.

{coordinates, motion} target x {random, motion-aware} masking: ``mae`` is (coordinates, random),
``mamp`` is (motion, motion-aware); these are ``mae-motion-aware`` (coordinates, motion-aware)
and ``mamp-random`` (motion, random). Masking-ratio and tau sweeps are MAMP's declared
``sweeps`` (``--set method.mask_ratio=0.8``, ``--set method.tau=0.5``).
"""

from __future__ import annotations

from mamp_bench.baselines.mae import ablation_presets
from mamp_bench.methods.mamp import MaskedPrediction
from mamp_bench.registry import METHODS


@METHODS.register("mamp-random")
class MAMPRandom(MaskedPrediction):
    """Ablation: motion target with random masking."""

    description = "ablation: motion target, random masking"
    presets = ablation_presets(tau=0.0)
    table_rank = 20
    ablation = "motion target, random masking"


@METHODS.register("mae-motion-aware")
class MAEMotionAware(MaskedPrediction):
    """Ablation: coordinate target with motion-aware masking."""

    description = "ablation: coordinate target, motion-aware masking"
    presets = ablation_presets(target="coords")
    table_rank = 30
    ablation = "coordinate target, motion-aware masking"
