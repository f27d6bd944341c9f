"""MAMP: masked motion prediction with motion-aware masking (Mao et al., ICCV 2023).

Reproduces ``model_mamp/transformer.py`` of maoyunyao/MAMP: the encoder sees the 10 % of tokens
left visible by motion-aware masking (tau 0.80 on NTU-60 and PKU, 0.75 on NTU-120); the decoder
(depth 3 on NTU-60, 5 otherwise) predicts the per-token-normalised stride-1 frame differences of
the masked 90 %. Differences from the reference: attention through SDPA (same maths), and masking
noise drawn from per-sample seeds when the engine provides them (same distribution, but
independent of batch layout, so that DDP and single-process runs agree).
"""

from __future__ import annotations

from mamp_bench.methods.masked import MaskedPrediction
from mamp_bench.registry import METHODS


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
