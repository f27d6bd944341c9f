"""Target generators: what a masked-prediction method asks the decoder to predict per token.

All take person sequences (NM, T, V, C) and return (NM, L, t_patch * C) with L = (T/t_patch) * V,
each token's values ordered frame-major then xyz (u * C + c), as the reference patchifies.
"""

from __future__ import annotations

import torch


def patchify(x: torch.Tensor, t_patch: int) -> torch.Tensor:
    """(NM, T, V, C) -> (NM, (T/t_patch) * V, t_patch * C), token index t * V + v."""
    NM, T, V, C = x.shape
    x = x.reshape(NM, T // t_patch, t_patch, V, C).permute(0, 1, 3, 2, 4)
    return x.reshape(NM, (T // t_patch) * V, t_patch * C)


def motion(x: torch.Tensor, stride: int = 1) -> torch.Tensor:
    """Frame differences x[t + stride] - x[t]; the last ``stride`` frames are zero. (NM, T, V, C)."""
    out = torch.zeros_like(x)
    out[:, :-stride] = x[:, stride:] - x[:, :-stride]
    return out


def normalize_per_token(target: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Each token's values minus their mean, over sqrt(unbiased variance + eps) (the reference's)."""
    mean = target.mean(dim=-1, keepdim=True)
    var = target.var(dim=-1, keepdim=True)
    return (target - mean) / (var + eps) ** 0.5


def normalize_over_time(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Each (sequence, joint, axis) series minus its mean over time, over its std. (NM, T, V, C)."""
    mean = x.mean(dim=1, keepdim=True)
    var = x.var(dim=1, keepdim=True)
    return (x - mean) / (var + eps) ** 0.5


class TokenTarget:
    """A target: raw coordinates or motion, normalised per token (reference), over time, or not."""

    def __init__(self, kind: str = "motion", t_patch: int = 4, stride: int = 1, norm: str = "patch"):
        if kind not in ("motion", "coords"):
            raise ValueError(f"target must be 'motion' or 'coords', got {kind!r}")
        if norm not in ("patch", "time", "none"):
            raise ValueError(f"target normalisation must be 'patch', 'time' or 'none', got {norm!r}")
        self.kind, self.t_patch, self.stride, self.norm = kind, t_patch, stride, norm

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        series = motion(x, self.stride) if self.kind == "motion" else x
        if self.norm == "time":
            series = normalize_over_time(series)
        target = patchify(series, self.t_patch)
        return normalize_per_token(target) if self.norm == "patch" else target
