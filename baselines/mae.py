"""``mae``: masked joint-coordinate reconstruction with uniform random masking.

Reproduces ``model_mae/transformer.py`` and ``pretrain_mae_*.yaml`` of maoyunyao/MAMP, the paper's
own baseline: same encoder, decoder (depth 3 on NTU-60, 5 otherwise), 90 % masking, per-token
normalised target; only the target and the masking differ from MAMP. It is the transformer
SkeletonMAE of Wu et al. (arXiv 2209.02399) in spirit, not that paper's code (none is public).
``--set method.target_norm=time`` normalises each joint's coordinates over the whole time axis
instead of per token, the change a later paper reports to close much of the gap to MAMP.
"""

from __future__ import annotations

from mamp_bench.methods.mamp import MaskedPrediction
from mamp_bench.registry import METHODS


def ablation_presets(**changes) -> dict:
    """MAMP's per-dataset presets with ``changes`` (the target x masking ablation cells)."""
    return {family: {**preset, **changes} for family, preset in MaskedPrediction.presets.items()}


@METHODS.register("mae")
class MAE(MaskedPrediction):
    """Masked joint-coordinate reconstruction with random masking (MAMP's MAE baseline)."""

    description = "MAE: coordinate reconstruction, random masking (MAMP's own baseline)"
    presets = ablation_presets(target="coords", tau=0.0)
    table_rank = 10
    reproduce_tiers = {"smoke": 3, "paper": 3}
    ablation = "coordinate target, random masking (MAE)"
    official_model = "model_mae"
    official_args = {"mask_ratio": "mask_ratio"}  # its configs carry motion_aware_tau, which model_mae ignores
