"""Floating-point operations of the encoders, counted from their shapes: the skeleton transformer and ST-GCN.

A multiply-add is 2 FLOPs. Only matrix products are counted (linear layers, the token embedding,
q k^T and attention @ v; ST-GCN's convolutions and its graph product), as is usual for utilisation figures;
norms, GELU, softmax and the optimizer are a few percent at most. Backward is twice the forward, except the
token embedding, whose input needs no gradient (once). ``tests/test_flops.py`` checks these against PyTorch's
``FlopCounterMode`` on the real modules.
"""

from __future__ import annotations

import math

from mamp_bench.data.kinect import NUM_JOINTS
from mamp_bench.models.stgcn import BLOCK_STRIDES, BLOCK_WIDTHS, STGCNConfig
from mamp_bench.models.transformer import EncoderConfig

#: the clips ST-GCN reads: the GCN chain's 50 frames; the spatial partition's 3 adjacency matrices
STGCN_FRAMES = 50
PARTITIONS = 3


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


def stgcn_flops(config: STGCNConfig, frames: int = STGCN_FRAMES, joints: int = NUM_JOINTS) -> int:
    """Forward FLOPs of ST-GCN on one person sequence: per block, the graph convolution's 1x1 convolution to
    3 x C_out channels and its product with the 3 adjacency matrices, the temporal (kernel x 1) convolution at
    the block's stride, and the residual 1x1 convolution where the shape changes."""
    widths = [config.hidden_channels * w if w else config.hidden_dim for w in BLOCK_WIDTHS]
    inputs = [config.in_channels, *widths[:-1]]
    total, t = 0, frames
    for i, (c_in, c_out, stride) in enumerate(zip(inputs, widths, BLOCK_STRIDES, strict=True)):
        total += 2 * c_in * PARTITIONS * c_out * t * joints  # the 1x1 convolution to K * C_out channels
        total += 2 * PARTITIONS * c_out * t * joints * joints  # sum_k sum_v x_k[v] A[k, v, w]
        t_out = math.ceil(t / stride)
        total += 2 * c_out * c_out * config.temporal_kernel * t_out * joints
        if i and (c_in != c_out or stride != 1):
            total += 2 * c_in * c_out * t_out * joints
        t = t_out
    return total


def encoder_forward_flops(config) -> int:
    """Forward FLOPs on one person sequence of a built-in encoder's configuration (the transformer's or
    ST-GCN's); 0 for an encoder this module cannot count."""
    if isinstance(config, EncoderConfig):
        return encoder_flops(config)
    if isinstance(config, STGCNConfig):
        return stgcn_flops(config)
    return 0
