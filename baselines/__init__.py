"""Baseline methods, registered through the ``mamp_bench.methods`` entry point like a third-party
package. All use the MAMP transformer encoder, so the pretext task is the only variable."""

from baselines import contrastive, latent, masked, random_init  # noqa: F401  (importing registers them)
