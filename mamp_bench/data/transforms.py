"""The data pipeline as small named steps (MAMP's feeder semantics).

Each step maps a clip ``(C=3, T, V=25, M=2)`` float32 array to another, drawing its randomness
from the ``numpy.random.Generator`` it is given, so that the augmentation of a sample depends
only on its seed, not on the worker or process that loads it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


def valid_frame_count(clip: np.ndarray) -> int:
    """Frames whose values (all axes, joints, persons) sum to non-zero, as the reference counts."""
    return int(np.sum(clip.sum(0).sum(-1).sum(-1) != 0))


def resize_frames(clip: np.ndarray, window: int) -> np.ndarray:
    """Linear resize along time, (C, T, V, M) -> (C, window, V, M).

    Done as the reference does it (bilinear ``F.interpolate`` on a (C*V*M, T) image with
    ``align_corners=False``) so the numbers are the same.
    """
    c, t, v, m = clip.shape
    image = torch.from_numpy(np.ascontiguousarray(clip.transpose(0, 2, 3, 1))).reshape(1, 1, c * v * m, t)
    image = F.interpolate(image, size=(c * v * m, window), mode="bilinear", align_corners=False)
    return image.reshape(c, v, m, window).permute(0, 3, 1, 2).contiguous().numpy()


@dataclass(frozen=True)
class CropResize:
    """Crop the valid frames, then resize to ``window`` frames.

    ``p_interval`` of two values (training): a random crop of a ratio p ~ U(lo, hi) of the valid
    frames, at least ``min_length`` frames (and at most all of them), at a random offset.
    One value (test): a centre crop keeping that ratio.
    """

    window: int = 120
    p_interval: tuple[float, ...] = (0.5, 1.0)
    min_length: int = 64

    def __call__(self, clip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        valid = valid_frame_count(clip)
        if valid == 0:
            raise ValueError("clip has no non-zero frame")
        if len(self.p_interval) == 1:
            bias = int((1 - self.p_interval[0]) * valid / 2)
            cropped = clip[:, bias : valid - bias]
        else:
            lo, hi = self.p_interval
            p = rng.random() * (hi - lo) + lo
            length = int(min(max(int(np.floor(valid * p)), self.min_length), valid))
            start = int(rng.integers(0, valid - length + 1))
            cropped = clip[:, start : start + length]
        return resize_frames(cropped, self.window)


def rotation_matrix(angles: Sequence[float]) -> np.ndarray:
    """R = Rz @ Ry @ Rx for angles (x, y, z), in the reference's sign convention."""
    (cx, cy, cz), (sx, sy, sz) = np.cos(angles), np.sin(angles)
    rx = np.array([[1, 0, 0], [0, cx, sx], [0, -sx, cx]])
    ry = np.array([[cy, 0, -sy], [0, 1, 0], [sy, 0, cy]])
    rz = np.array([[cz, sz, 0], [-sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


@dataclass(frozen=True)
class RandomRotation:
    """Rotate the whole clip (all frames, both persons) by angles ~ U(-theta, theta) on each axis."""

    theta: float = 0.3

    def __call__(self, clip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        rot = rotation_matrix(rng.uniform(-self.theta, self.theta, size=3)).astype(np.float32)
        return np.einsum("ij,jtvm->itvm", rot, clip).astype(np.float32, copy=False)


@dataclass(frozen=True)
class Compose:
    steps: tuple

    def __call__(self, clip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        for step in self.steps:
            clip = step(clip, rng)
        return clip


def train_transform(window: int | None = 120, rotate: bool = True) -> Compose:
    """Pretraining / linear / fine-tune training augmentation of the reference. ``window`` None: an encoder that
    takes the prepared clips as they are (ST-GCN: its methods draw their views themselves), no step."""
    if window is None:
        return Compose(())
    steps: tuple = (CropResize(window, (0.5, 1.0)),)
    return Compose(steps + ((RandomRotation(0.3),) if rotate else ()))


def test_transform(window: int | None = 120) -> Compose:
    """Evaluation: centre crop of 95% of the valid frames, resized; no randomness. ``window`` None: the
    prepared clips as they are."""
    return Compose(()) if window is None else Compose((CropResize(window, (0.95,)),))
