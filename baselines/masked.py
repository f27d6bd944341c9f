"""Masked reconstruction baselines: MAE and the target x masking ablation of the MAMP paper.

* ``mae``: masked joint-coordinate reconstruction with uniform random masking. Reproduces
  ``model_mae/transformer.py`` and ``pretrain_mae_*.yaml`` of maoyunyao/MAMP, the paper's own
  baseline: same encoder, decoder (depth 3 on NTU-60, 5 otherwise), 90 % masking, per-token
  normalised target; only the target and the masking differ from MAMP. It is the transformer
  SkeletonMAE of Wu et al. (arXiv 2209.02399) in spirit, not that paper's code (none is public).
  ``--set method.target_norm=time`` normalises each joint's coordinates over the whole time axis
  instead of per token, the change a later paper reports to close much of the gap to MAMP.
* The 2 x 2 ablation, {coordinates, motion} target x {random, motion-aware} masking:
  ``mae`` (coordinates, random), ``mae-motion-aware`` (coordinates, motion-aware),
  ``mamp-random`` (motion, random) and ``mamp`` (motion, motion-aware). Masking ratio and tau
  sweeps are overrides: ``--set method.mask_ratio=0.8``, ``--set method.tau=0.5``.
"""

from __future__ import annotations

from mamp_bench.methods.masked import MaskedPrediction
from mamp_bench.registry import METHODS


def _presets(**changes):
    return {family: {**preset, **changes} for family, preset in MaskedPrediction.presets.items()}


@METHODS.register("mae")
class MAE(MaskedPrediction):
    """Masked joint-coordinate reconstruction with random masking (MAMP's MAE baseline)."""

    description = "MAE: coordinate reconstruction, random masking (MAMP's own baseline)"
    presets = _presets(target="coords", tau=0.0)


@METHODS.register("mae-motion-aware")
class MAEMotionAware(MaskedPrediction):
    """Ablation: coordinate target with motion-aware masking."""

    description = "ablation: coordinate target, motion-aware masking"
    presets = _presets(target="coords")


@METHODS.register("mamp-random")
class MAMPRandom(MaskedPrediction):
    """Ablation: motion target with random masking."""

    description = "ablation: motion target, random masking"
    presets = _presets(tau=0.0)
