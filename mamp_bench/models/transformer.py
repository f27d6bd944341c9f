"""The skeleton transformer of MAMP (Mao et al., ICCV 2023), readable top to bottom.

Input: clips (N, C=3, T=120, V=25, M=2). Each person is an independent sequence (N*M, T, V, C);
a token is one joint over ``t_patch=4`` frames, embedded by a (4, 1) convolution, so a sequence
has (T/4) * V = 30 * 25 = 750 tokens. Learnable joint (1, 1, 25, D) and temporal (1, 30, 1, D)
embeddings are added; pre-norm ViT blocks attend globally over all tokens of a person.

Numerically the reference's model: same shapes, same initialisation (xavier-uniform Linear,
zero bias, LayerNorm (1, 0), trunc-normal 0.02 embeddings, PyTorch-default conv). Attention
runs through ``F.scaled_dot_product_attention`` (same maths: softmax(q k^T / sqrt(32)) v);
``attention="explicit"`` computes it the reference's way for comparison.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from mamp_bench.config import MAX_DEPTH, MAX_PARAMETERS, MAX_WIDTH, require
from mamp_bench.errors import UserError
from mamp_bench.models.encoder import Encoder
from mamp_bench.registry import ENCODERS

#: The length of a prepared clip (the reference pads every sample to 300 frames); no window exceeds it.
MAX_CLIP_FRAMES = 300


@dataclass
class EncoderConfig:
    dim: int = 256
    depth: int = 8
    heads: int = 8
    mlp_ratio: float = 4.0
    frames: int = 120
    joints: int = 25
    t_patch: int = 4
    in_channels: int = 3
    drop_path: float = 0.0  # stochastic depth at the last block (linear from 0)
    attention: str = "sdpa"  # "sdpa" or "explicit"

    @property
    def grid(self) -> tuple[int, int]:
        """(TP, VP) = (frames // t_patch, joints)."""
        return self.frames // self.t_patch, self.joints

    def validate(self) -> None:
        """``UserError`` (one line) unless this architecture can be built on prepared clips (x y z, at most
        300 frames) at a sane size."""
        require(self, [
            (1 <= self.dim <= MAX_WIDTH, f"dim must be in [1, {MAX_WIDTH}], got {self.dim}"),
            (1 <= self.depth <= MAX_DEPTH, f"depth must be in [1, {MAX_DEPTH}], got {self.depth}"),
            (1 <= self.heads <= self.dim and self.dim % self.heads == 0,
             f"heads must be >= 1 and divide dim ({self.dim}), got {self.heads}"),
            (0 < self.mlp_ratio <= 64 and self.dim <= MAX_WIDTH and self.dim * self.mlp_ratio >= 1,
             f"mlp_ratio must be in (0, 64] with at least one hidden unit, got {self.mlp_ratio}"),
            (1 <= self.t_patch <= self.frames <= MAX_CLIP_FRAMES and self.frames % self.t_patch == 0,
             f"frames must be a multiple of t_patch in [t_patch, {MAX_CLIP_FRAMES}], got frames {self.frames}, "
             f"t_patch {self.t_patch}"),
            # the clips' own joint count is checked against this when they arrive (check_input)
            (1 <= self.joints <= MAX_WIDTH, f"joints must be in [1, {MAX_WIDTH}], got {self.joints}"),
            (self.in_channels == 3, f"in_channels must be 3 (x, y, z), got {self.in_channels}"),
            (0 <= self.drop_path < 1, f"drop_path must be in [0, 1), got {self.drop_path}"),
            (self.attention in ("sdpa", "explicit"), f"attention must be 'sdpa' or 'explicit', got {self.attention!r}"),
            (self.dim <= MAX_WIDTH and self.depth <= MAX_DEPTH
             and block_parameters(self.dim, self.mlp_ratio) * self.depth <= MAX_PARAMETERS,
             f"{self.depth} blocks of width {self.dim} exceed {MAX_PARAMETERS:,} parameters"),
        ], prefix="encoder.")  # fmt: skip


def block_parameters(dim: int, mlp_ratio: float) -> float:
    """Weights of one transformer block: qkv and projection (4 dim^2) and the MLP (2 dim^2 mlp_ratio)."""
    return (4 + 2 * mlp_ratio) * dim * dim


def trunc_normal_(tensor: torch.Tensor, std: float = 0.02) -> torch.Tensor:
    """Truncated normal on [-2, 2] (absolute bounds, as timm's and the reference's)."""
    return nn.init.trunc_normal_(tensor, mean=0.0, std=std, a=-2.0, b=2.0)


class DropPath(nn.Module):
    """Stochastic depth: drop the residual branch of a whole sample with probability ``p``."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int, qkv_bias: bool = True, implementation: str = "sdpa"):
        super().__init__()
        if implementation not in ("sdpa", "explicit"):
            raise ValueError(f"attention must be 'sdpa' or 'explicit', got {implementation!r}")
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.implementation = implementation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, L, D = x.shape
        if self.implementation == "explicit":  # the reference's code path
            qkv = self.qkv(x).reshape(B, L, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]  # (B, heads, L, D/heads)
            attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
            return self.proj((attn @ v).transpose(1, 2).reshape(B, L, D))
        # unbind (not indexing) so that backward stacks the three gradients instead of
        # zero-filling and copying a full qkv-sized tensor for each of q, k and v
        q, k, v = (t.transpose(1, 2) for t in self.qkv(x).view(B, L, 3, self.heads, D // self.heads).unbind(2))
        x = F.scaled_dot_product_attention(q, k, v)  # (B, heads, L, D/heads)
        return self.proj(x.transpose(1, 2).reshape(B, L, D))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, drop_path: float = 0.0, attention: str = "sdpa"):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, qkv_bias=True, implementation=attention)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class SkeletonEmbed(nn.Module):
    """(NM, T, V, C) -> (NM, T/t_patch, V, D): a linear map of each joint's t_patch x C values."""

    def __init__(self, in_channels: int, dim: int, t_patch: int):
        super().__init__()
        self.proj = nn.Conv2d(in_channels, dim, kernel_size=(t_patch, 1), stride=(t_patch, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj(x.permute(0, 3, 1, 2))  # (NM, D, TP, VP)
        return x.permute(0, 2, 3, 1)


def _init_linear_and_norm(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def to_person_sequences(x: torch.Tensor) -> torch.Tensor:
    """(N, C, T, V, M) -> (N*M, T, V, C); sequence n*M + m is person m of clip n."""
    N, C, T, V, M = x.shape
    return x.permute(0, 4, 2, 3, 1).reshape(N * M, T, V, C)


@ENCODERS.register("transformer")
class SkeletonEncoder(Encoder):
    """The MAMP encoder: 6,336,000 parameters at the paper's size."""

    description = "MAMP's skeleton transformer: joint x 4-frame tokens, global attention (ICCV 2023)"
    Config = EncoderConfig
    label = "Transformer"
    recipe = "transformer"  # MAMP's scripts
    chain = "sgn"
    windowed = True  # the pretraining's window sets its frames
    tokens = True  # forward gives the token map (N, M, TP, VP, D)

    def __init__(self, config: EncoderConfig | None = None):
        super().__init__()
        self.config = config = config or EncoderConfig()
        TP, VP = config.grid
        self.joints_embed = SkeletonEmbed(config.in_channels, config.dim, config.t_patch)
        rates = [r.item() for r in torch.linspace(0, config.drop_path, config.depth)]
        self.blocks = nn.ModuleList(
            Block(config.dim, config.heads, config.mlp_ratio, rates[i], config.attention) for i in range(config.depth)
        )
        self.norm = nn.LayerNorm(config.dim)
        self.temp_embed = nn.Parameter(torch.zeros(1, TP, 1, config.dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1, VP, config.dim))
        trunc_normal_(self.temp_embed)
        trunc_normal_(self.pos_embed)
        self.apply(_init_linear_and_norm)

    @property
    def dim(self) -> int:
        return self.config.dim

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Person sequences (NM, T, V, C) -> tokens with positions (NM, TP*VP, D)."""
        self.check_input(x)
        x = self.joints_embed(x)  # (NM, TP, VP, D)
        NM, TP, VP, D = x.shape
        x = x + self.pos_embed[:, :, :VP] + self.temp_embed[:, :TP]
        return x.reshape(NM, TP * VP, D)

    def check_input(self, seq: torch.Tensor) -> None:
        """One line naming the expected clip shape when person sequences (NM, T, V, C) do not fit."""
        c = self.config
        if tuple(seq.shape[1:]) != (c.frames, c.joints, c.in_channels):  # (NM, T, V, C), from forward or a method
            got = f"person sequences of shape {tuple(seq.shape)}"
            if seq.ndim == 4:
                got = f"{seq.shape[1]} frames, {seq.shape[2]} joints, {seq.shape[3]} channels"
            raise UserError(f"this encoder takes clips of shape (N, {c.in_channels}, {c.frames}, {c.joints}, M) "
                            f"(a {c.frames}-frame window), got {got}: crop or resample the clips to "
                            f"{c.frames} frames")  # fmt: skip

    def blocks_and_norm(self, tokens: torch.Tensor) -> torch.Tensor:
        """(NM, L, D) -> (NM, L, D) through every block and the final LayerNorm."""
        for block in self.blocks:
            tokens = block(tokens)
        return self.norm(tokens)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Clips (N, C, T, V, M) -> features (N, M, TP, VP, D), all tokens, no masking."""
        if x.ndim != 5:
            c = self.config
            raise UserError(f"this encoder takes clips of shape (N, {c.in_channels}, {c.frames}, {c.joints}, M), "
                            f"got a {x.ndim}-dimensional input {tuple(x.shape)}")  # fmt: skip
        N, _, _, _, M = x.shape
        TP, VP = self.config.grid
        tokens = self.blocks_and_norm(self.embed(to_person_sequences(x)))
        return tokens.reshape(N, M, TP, VP, -1)

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """Clips (N, C, T, V, M) -> (N, D): the final-LayerNorm output averaged over persons, time and joints."""
        return self.forward(x).mean(dim=(1, 2, 3))


class MaskedDecoder(nn.Module):
    """MAE-style decoder: visible latents + mask tokens -> a prediction for every token."""

    def __init__(self, encoder: EncoderConfig, dim: int = 256, depth: int = 3, out_per_token: int | None = None):
        super().__init__()
        TP, VP = encoder.grid
        self.grid = (TP, VP)
        self.embed = nn.Linear(encoder.dim, dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.blocks = nn.ModuleList(
            Block(dim, encoder.heads, encoder.mlp_ratio, 0.0, encoder.attention) for _ in range(depth)
        )
        self.norm = nn.LayerNorm(dim)
        self.temp_embed = nn.Parameter(torch.zeros(1, TP, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1, VP, dim))
        self.pred = nn.Linear(dim, out_per_token or encoder.t_patch * encoder.in_channels)
        trunc_normal_(self.mask_token)
        trunc_normal_(self.temp_embed)
        trunc_normal_(self.pos_embed)
        self.apply(_init_linear_and_norm)

    def forward(self, latent: torch.Tensor, ids_restore: torch.Tensor) -> torch.Tensor:
        """Visible latents (NM, L_keep, D_enc) and the unshuffle order (NM, L) -> (NM, L, out)."""
        x = self.embed(latent)  # (NM, L_keep, D)
        NM, keep, D = x.shape
        TP, VP = self.grid
        mask_tokens = self.mask_token.expand(NM, TP * VP - keep, D)
        x = torch.cat([x, mask_tokens], dim=1)
        x = torch.gather(x, 1, ids_restore.unsqueeze(-1).expand(-1, -1, D))  # back to token order
        x = x.view(NM, TP, VP, D) + self.pos_embed[:, :, :VP] + self.temp_embed[:, :TP]
        x = x.reshape(NM, TP * VP, D)
        for block in self.blocks:
            x = block(x)
        return self.pred(self.norm(x))
