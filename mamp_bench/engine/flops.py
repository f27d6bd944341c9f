"""Floating-point operations of the skeleton transformer, counted from its shapes.

A multiply-add is 2 FLOPs. Only matrix products are counted (linear layers, the token embedding,
q k^T and attention @ v), as is usual for utilisation figures; norms, GELU, softmax and the
optimizer are a few percent at most. Backward is twice the forward, except the token embedding,
whose input needs no gradient (once). ``tests/test_flops.py`` checks these against PyTorch's
``FlopCounterMode`` on the real modules.
"""

from __future__ import annotations

from mamp_bench.models.transformer import EncoderConfig


def block_flops(tokens: int, dim: int, mlp_ratio: float) -> int:
    """Forward FLOPs of one transformer block on one sequence of ``tokens`` tokens."""
    hidden = int(dim * mlp_ratio)
    linear = 2 * tokens * (3 * dim * dim + dim * dim + 2 * dim * hidden)  # qkv, proj, fc1, fc2
    attention = 2 * 2 * tokens * tokens * dim  # q k^T and attn @ v over all heads
    return linear + attention


def encoder_flops(config: EncoderConfig, tokens: int | None = None) -> int:
    """Forward FLOPs of the encoder on one person sequence; ``tokens`` attended (default: all)."""
    TP, VP = config.grid
    tokens = TP * VP if tokens is None else tokens
    embed = 2 * TP * VP * config.t_patch * config.in_channels * config.dim  # every token is embedded
    return embed + config.depth * block_flops(tokens, config.dim, config.mlp_ratio)


def masked_pretrain_flops(config, sequences: int) -> dict[str, int]:
    """FLOPs of one training step of a masked-prediction method (``MaskedPredictionConfig``) on
    ``sequences`` person sequences: {"forward", "backward", "total"}."""
    enc = config.encoder
    TP, VP = enc.grid
    tokens = TP * VP
    visible = int(tokens * (1 - config.mask_ratio))
    embed = 2 * tokens * enc.t_patch * enc.in_channels * enc.dim
    encoder_blocks = enc.depth * block_flops(visible, enc.dim, enc.mlp_ratio)
    decoder = (
        2 * visible * enc.dim * config.decoder_dim  # decoder embed
        + config.decoder_depth * block_flops(tokens, config.decoder_dim, enc.mlp_ratio)
        + 2 * tokens * config.decoder_dim * enc.t_patch * enc.in_channels  # prediction head
    )
    forward = sequences * (embed + encoder_blocks + decoder)
    backward = sequences * (embed + 2 * (encoder_blocks + decoder))
    return {"forward": forward, "backward": backward, "total": forward + backward}
