"""A torch ``Dataset`` over a prepared ``.npz`` (memory-mapped), with the reference feeder's output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from mamp_bench.data.kinect import NUM_JOINTS, NUM_PERSONS, check_coordinates
from mamp_bench.data.npzio import open_split
from mamp_bench.data.transforms import Compose, test_transform
from mamp_bench.seeding import derive_seed


class SkeletonDataset(Dataset):
    """Clips of one split of a prepared ``.npz``.

    ``dataset[i]`` or ``dataset[(i, seed)]`` -> ``(x, label, seed)``: ``x`` float32 tensor
    (3, T, 25, 2), ``label`` int, ``seed`` the int that seeded this sample's augmentation. With an
    int index the seed is derived from (dataset seed, epoch, index); a sampler can pass its own.
    """

    def __init__(
        self,
        path: str | Path,
        split: str = "train",
        transform: Compose | None = None,
        seed: int = 0,
        indices: np.ndarray | None = None,
    ):
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        self.path = Path(path)
        self.split = split
        self.data, self.labels, self.num_classes = open_split(self.path, split)
        self.indices = np.arange(len(self.data)) if indices is None else np.asarray(indices, dtype=np.int64)
        self.transform = transform if transform is not None else test_transform()
        self.seed = seed
        self.epoch = 0
        self._checked: set[int] = set()  # clips already checked for NaN / inf

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.indices)

    def raw_clip(self, i: int) -> np.ndarray:
        """(3, T, 25, 2) float32 array of clip ``i`` (of this view), before any transform."""
        index = int(self.indices[i])
        frames = np.asarray(self.data[index], dtype=np.float32)
        if index not in self._checked:  # once per clip and process: the file is read-only
            self._check_clip(frames, index)
            self._checked.add(index)
        return frames.reshape(frames.shape[0], NUM_PERSONS, NUM_JOINTS, 3).transpose(3, 0, 2, 1)

    def _check_clip(self, frames: np.ndarray, index: int) -> None:
        """DataFormatError unless every coordinate is finite and within the physical bound (metres)."""
        check_coordinates(frames, lambda _: f"{self.path.name} x_{self.split}[{index}]")

    def __getitem__(self, item) -> tuple[torch.Tensor, int, int]:
        if isinstance(item, tuple):
            i, seed = item
        else:
            i = item
            seed = derive_seed(self.seed, self.epoch, int(self.indices[i]))
        clip = self.transform(self.raw_clip(i), np.random.default_rng(seed))
        x = torch.from_numpy(np.ascontiguousarray(clip, dtype=np.float32))
        return x, int(self.labels[self.indices[i]]), int(seed)

    def label_array(self) -> np.ndarray:
        return self.labels[self.indices]
