"""Masking strategies: which tokens the encoder sees and which the decoder must predict."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class Mask:
    ids_keep: torch.Tensor  # (B, L_keep) visible token indices
    ids_restore: torch.Tensor  # (B, L) position of each token in [visible, masked] order
    mask: torch.Tensor  # (B, L) float, 1 = masked (predicted), 0 = visible


def keep_count(tokens: int, ratio: float) -> int:
    """Visible tokens, computed as the reference does: int(750 * (1 - 0.9)) is 74 in floating
    point (1 - 0.9 = 0.0999...), so 74 tokens stay visible and 676 are masked, not 75 / 675."""
    return int(tokens * (1 - ratio))


def mask_from_scores(scores: torch.Tensor, ratio: float) -> Mask:
    """Keep the tokens with the lowest scores, mask the rest. scores: (B, L)."""
    B, L = scores.shape
    keep = keep_count(L, ratio)
    ids_shuffle = torch.argsort(scores, dim=1)  # ascending: low scores stay visible
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    mask = torch.ones(B, L, device=scores.device)
    mask[:, :keep] = 0
    return Mask(ids_shuffle[:, :keep], ids_restore, torch.gather(mask, 1, ids_restore))


class RandomMasking:
    """Uniform random masking of ``ratio`` of the tokens (MAE)."""

    def __init__(self, ratio: float):
        self.ratio = ratio

    def __call__(self, patches: torch.Tensor, noise: torch.Tensor) -> Mask:
        """patches (B, L, P) (unused), noise (B, L) uniform in [0, 1)."""
        return mask_from_scores(noise, self.ratio)


class MotionAwareMasking:
    """MAMP's motion-aware masking: tokens that move more are more likely to be masked.

    Per token, motion = mean |P[t] - P[t-1]| over its t_patch * C values, with P the patchified
    input (a 4-frame-stride displacement; the first segment copies the second); divided by
    max * tau; the masked set is a Gumbel-top-k sample from softmax over the L tokens.
    """

    def __init__(self, ratio: float, tau: float, grid: tuple[int, int]):
        self.ratio, self.tau, self.grid = ratio, tau, grid

    def token_motion(self, patches: torch.Tensor) -> torch.Tensor:
        """(B, L, P) patchified input -> (B, L) mean absolute segment-to-segment displacement."""
        B, L, P = patches.shape
        TP, VP = self.grid
        p = patches.reshape(B, TP, VP, P)
        moved = torch.zeros_like(p)
        moved[:, 1:] = (p[:, 1:] - p[:, :-1]).abs()
        moved[:, 0] = moved[:, 1]
        return moved.mean(dim=3).reshape(B, L)

    def probabilities(self, patches: torch.Tensor) -> torch.Tensor:
        """(B, L) masking weights softmax(motion / (max * tau))."""
        m = self.token_motion(patches)
        m = m / (m.max(dim=-1, keepdim=True).values * self.tau + 1e-10)
        return F.softmax(m, dim=-1)

    def __call__(self, patches: torch.Tensor, noise: torch.Tensor) -> Mask:
        gumbel = -torch.log(-torch.log(noise + 1e-10) + 1e-10)
        return mask_from_scores(torch.log(self.probabilities(patches)) + gumbel, self.ratio)


def build_masking(ratio: float, tau: float, grid: tuple[int, int]):
    """Motion-aware masking when tau > 0, else uniform random masking (the reference's switch)."""
    return MotionAwareMasking(ratio, tau, grid) if tau > 0 else RandomMasking(ratio)
