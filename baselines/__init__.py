"""Baseline methods, registered through the ``mamp_bench.methods`` entry point like a third-party
package (installed as ``mamp_bench.baselines``). All use the MAMP transformer encoder, so the
pretext task is the only variable."""

from mamp_bench.baselines import ablation, contrastive, latent, mae, random_init  # noqa: F401  (registers them)
