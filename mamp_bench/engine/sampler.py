"""A sampler whose batches do not depend on the number of processes.

Each epoch draws one permutation from (seed, epoch), keeps whole global batches (drop_last), and
gives process r the items r, r + W, r + 2W, ... so that step s of all W processes together covers
exactly the global batch s of a single process. Every item carries its own seed (from seed,
epoch and index), used for its augmentation and its masking noise.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
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


class ReferenceSampler(Sampler):
    """The batches the paper's scripts draw, for their world size, on any number of processes.

    The reference launches ``W`` processes; process ``r`` holds its own dataset (its items are
    ``rank_items[r]``, positions in this run's dataset) and a ``DistributedSampler(shuffle=True,
    seed=0)``: each epoch one ``torch.randperm`` seeded with the epoch, padded by repeating its start
    to a multiple of ``W``, and process ``r`` takes every ``W``-th entry from ``r``, in batches of
    ``global_batch / W`` (drop_last). Step ``s`` here is the concatenation of the ``W`` processes'
    batches ``s``, and process ``p`` of this run's ``P`` takes its ``p``-th contiguous part, so with
    ``P == W`` each process is one reference process. Items carry seeds as in ``ShardedSampler``.
    """

    def __init__(self, rank_items: list[np.ndarray], global_batch: int, rank: int = 0, world_size: int = 1,
                 seed: int = 0):  # fmt: skip
        reference = len(rank_items)
        if global_batch % reference or global_batch % world_size:
            raise ValueError(f"batch size {global_batch} must divide into {reference} reference processes "
                             f"and {world_size} processes")  # fmt: skip
        self.rank_items = [np.asarray(items, dtype=np.int64) for items in rank_items]
        self.global_batch, self.rank, self.world_size, self.seed = global_batch, rank, world_size, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _rank_order(self, items: np.ndarray, rank: int) -> np.ndarray:
        """What ``DistributedSampler(shuffle=True, seed=0, drop_last=False)`` gives process ``rank``."""
        reference = len(self.rank_items)
        order = torch.randperm(len(items), generator=torch.Generator().manual_seed(self.epoch)).numpy()
        total = -(-len(order) // reference) * reference
        order = np.resize(order, total)  # pads by repeating from the start, as the sampler does
        return items[order[rank:total:reference]]

    @property
    def steps(self) -> int:
        per_process = self.global_batch // len(self.rank_items)
        return min(-(-len(items) // len(self.rank_items)) // per_process for items in self.rank_items)

    def __len__(self) -> int:
        return self.steps * self.global_batch // self.world_size

    def __iter__(self) -> Iterator[tuple[int, int]]:
        per_process, local = self.global_batch // len(self.rank_items), self.global_batch // self.world_size
        orders = [self._rank_order(items, r) for r, items in enumerate(self.rank_items)]
        for step in range(self.steps):
            batch = np.concatenate([order[step * per_process : (step + 1) * per_process] for order in orders])
            for index in batch[self.rank * local : (self.rank + 1) * local]:
                yield int(index), derive_seed(self.seed, self.epoch, int(index))
