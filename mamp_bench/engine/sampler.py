"""A sampler whose batches do not depend on the number of processes.

Each epoch draws one permutation from (seed, epoch), keeps whole global batches (drop_last), and
gives process r the items r, r + W, r + 2W, ... so that step s of all W processes together covers
exactly the global batch s of a single process. Every item carries its own seed (from seed,
epoch and index), used for its augmentation and its masking noise.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler

from mamp_bench.seeding import derive_seed


class ShardedSampler(Sampler):
    def __init__(
        self,
        size: int,
        global_batch: int,
        rank: int = 0,
        world_size: int = 1,
        seed: int = 0,
        shuffle: bool = True,
        drop_last: bool = True,
    ):
        if global_batch % world_size:
            raise ValueError(f"batch size {global_batch} is not divisible by {world_size} processes")
        self.size, self.global_batch = size, global_batch
        self.rank, self.world_size = rank, world_size
        self.seed, self.shuffle, self.drop_last = seed, shuffle, drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    @property
    def steps(self) -> int:
        full, rest = divmod(self.size, self.global_batch)
        return full if self.drop_last or rest == 0 else full + 1

    def __len__(self) -> int:
        used = self.steps * self.global_batch if self.drop_last else self.size
        return len(range(self.rank, used, self.world_size))

    def __iter__(self) -> Iterator[tuple[int, int]]:
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(self.size)
        else:
            order = np.arange(self.size)
        if self.drop_last:
            order = order[: self.steps * self.global_batch]
        for index in order[self.rank :: self.world_size]:
            yield int(index), derive_seed(self.seed, self.epoch, int(index))
