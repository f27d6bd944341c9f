"""The training transform as one batched operation on the training device (``--set batched_transform=true``).

The per-sample transform (``transforms.train_transform``: crop of the valid frames, linear resize to
the window, rotation) is the reference: it runs in the DataLoader, one clip at a time on the CPU,
and equals MAMP's feeder bit for bit. A GPU step at thousands of clips per second can outrun it.
Here the random draws stay per sample (``draw_train``, in the DataLoader, from each sample's seed,
consuming its generator exactly as the per-sample steps do), and the arithmetic is done for the
whole batch after it reached the device (``apply_train``): one gather of the two source frames of
every output frame, one weighted sum, one batched 3 x 3 product.

The source frames, weights and roundings are those of PyTorch's CPU kernel for
``F.interpolate(mode="bilinear", align_corners=False)`` along time (the reference's resize, which
fuses its multiply-adds) and of the reference's float32 ``np.einsum`` rotation, so on this
project's CPUs the result is bit for bit the per-sample transform's; on another kernel (a GPU, a
CPU without FMA) it can differ in the last bit (``tests/test_batched_transform.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from mamp_bench.data.dataset import SkeletonDataset
from mamp_bench.data.transforms import CropResize, RandomRotation, rotation_matrix, train_transform, valid_frame_count
from mamp_bench.seeding import derive_seed


def draw_train(
    clip: np.ndarray, rng: np.random.Generator, crop: CropResize, rotation: RandomRotation | None
) -> tuple[int, int, np.ndarray]:
    """(start, length, rotation (3, 3) float32) that ``crop`` then ``rotation`` draw for ``clip``
    (C, T, V, M) from ``rng``: the same calls on the generator in the same order."""
    valid = valid_frame_count(clip)
    if valid == 0:
        raise ValueError("clip has no non-zero frame")
    lo, hi = crop.p_interval
    p = rng.random() * (hi - lo) + lo
    length = int(min(max(int(np.floor(valid * p)), crop.min_length), valid))
    start = int(rng.integers(0, valid - length + 1))
    if rotation is None:
        return start, length, np.eye(3, dtype=np.float32)
    matrix = rotation_matrix(rng.uniform(-rotation.theta, rotation.theta, size=3)).astype(np.float32)
    return start, length, matrix


def resize_indices(length: torch.Tensor, window: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Source frames and weights of a linear resize of ``length`` (N,) frames to ``window``, as
    PyTorch's CPU kernel of ``F.interpolate(mode="bilinear", align_corners=False)`` computes them:
    scale = length / window in float32, source = fma(scale, j + 0.5, -0.5) clamped at 0.

    Returns (first, second, weight), each (N, window): output frame j is
    ``fma(frame[first], 1 - weight, frame[second] * weight)``.
    """
    scale = length.to(torch.float32) / window  # (N,)
    centres = torch.arange(window, device=length.device, dtype=torch.float64) + 0.5  # (W,)
    # the product is exact in float64, so rounding once to float32 is the fused multiply-add
    source = (scale.double()[:, None] * centres - 0.5).to(torch.float32).clamp_min(0)  # (N, W)
    first = torch.minimum(source.floor().to(torch.long), length[:, None] - 1)
    weight = (source - first.to(torch.float32)).clamp(0, 1)
    second = first + (first < length[:, None] - 1).to(torch.long)
    return first, second, weight


def crop_resize_batch(clips: torch.Tensor, start: torch.Tensor, length: torch.Tensor, window: int) -> torch.Tensor:
    """Clips (N, C, T, V, M), crop starts and lengths (N,) -> (N, C, window, V, M): frames
    ``start .. start + length - 1`` of each clip, linearly resized to ``window`` frames."""
    N, C, T, V, M = clips.shape
    frames = clips.flatten(3)  # (N, C, T, V*M), a view
    first, second, weight = resize_indices(length, window)  # (N, W)

    def gather(offsets: torch.Tensor) -> torch.Tensor:  # (N, W) frame numbers -> (N, C, W, V*M)
        index = (start[:, None] + offsets)[:, None, :, None].expand(N, C, window, V * M)
        return torch.gather(frames, 2, index)

    weight = weight[:, None, :, None]  # (N, 1, W, 1)
    # fma(before, 1 - weight, after * weight), with the product exact in float64: the kernel's rounding
    resized = gather(first).double() * (1 - weight).double() + (gather(second) * weight).double()
    return resized.to(clips.dtype).reshape(N, C, window, V, M)


def rotate_batch(rotation: torch.Tensor, clips: torch.Tensor) -> torch.Tensor:
    """Rotations (N, 3, 3) applied to clips (N, 3, T, V, M): out_i = (r_i0 x_0 + r_i1 x_1) + r_i2 x_2,
    each product and sum rounded to float32 in that order, as the per-sample ``np.einsum`` does."""
    r = rotation.to(clips.dtype)[:, :, :, None, None, None]  # (N, 3, 3, 1, 1, 1)
    return (r[:, :, 0] * clips[:, None, 0] + r[:, :, 1] * clips[:, None, 1]) + r[:, :, 2] * clips[:, None, 2]


def apply_train(batch: dict[str, torch.Tensor], window: int) -> torch.Tensor:
    """A collated batch of ``DeferredTrainSet`` items (on any device) -> (N, C, window, V, M) training clips."""
    resized = crop_resize_batch(batch["clip"], batch["start"], batch["length"], window)
    return rotate_batch(batch["rotation"], resized)


class DeferredTrainSet(Dataset):
    """A ``SkeletonDataset`` whose items carry the raw clip and its training draws instead of the
    transformed clip: ``({"clip", "start", "length", "rotation"}, label, seed)``; ``apply_train``
    turns a collated batch into what ``train_transform(window, rotate)`` would have given."""

    def __init__(self, base: SkeletonDataset, window: int, rotate: bool):
        self.base, self.window = base, window
        steps = train_transform(window, rotate).steps  # the reference's steps and their parameters
        self.crop, self.rotation = steps[0], (steps[1] if rotate else None)

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, item) -> tuple[dict[str, Any], int, int]:
        i, seed = item if isinstance(item, tuple) else (item, derive_seed(self.base.seed, self.base.epoch,
                                                                           int(self.base.indices[item])))  # fmt: skip
        clip = self.base.raw_clip(i)  # (C, T, V, M)
        start, length, rotation = draw_train(clip, np.random.default_rng(seed), self.crop, self.rotation)
        inputs = {"clip": torch.from_numpy(np.ascontiguousarray(clip)), "start": start, "length": length,
                  "rotation": torch.from_numpy(rotation)}  # fmt: skip
        return inputs, int(self.base.labels[self.base.indices[i]]), int(seed)
