"""Baseline methods, registered through the ``mamp_bench.methods`` entry point like a third-party
package (installed as ``mamp_bench.baselines``). MAE, the ablation cells, latent prediction, the MoCo control
and the untrained encoder use the MAMP transformer, so against MAMP the pretext task is the only variable;
SkeletonCLR and AimCLR are the GCN family's, on ST-GCN, as published."""

from mamp_bench.baselines import (  # noqa: F401  (registers them)
    ablation,
    aimclr,
    contrastive,
    latent,
    mae,
    random_init,
    skeletonclr_gcn,
)
