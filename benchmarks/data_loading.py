"""Data loading throughput: clips/s through ``SkeletonDataset`` and a ``DataLoader`` with the
pretraining transform (valid-frame crop with a random ratio, resize to 120 frames, rotation).

Reads the synthetic NTU-60 default (built once into the cache) from its memory-mapped ``.npz``.
Compare the rate with the pretraining step's clips/s: with ``workers=0`` (the engine's default
on a CPU) loading runs in the training process, so its share of a step is step rate / load rate.
Usage: ``python -m benchmarks.data_loading [--batch 32] [--batches 30] [--workers 0 1 2]``.
"""

from __future__ import annotations

import argparse
import itertools
import os

from benchmarks.common import machine, repeat


def loader_rate(workers: int, batch: int, batches: int, repeats: int) -> tuple[float, float, float]:
    """clips/s (median, low, high) of reading ``batches`` batches, after one warm-up pass."""
    import torch

    from mamp_bench.data.dataset import SkeletonDataset
    from mamp_bench.data.specs import get_dataset
    from mamp_bench.data.transforms import train_transform

    dataset = SkeletonDataset(get_dataset("synthetic-ntu60").path(None), "train", train_transform(120), seed=0)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch, shuffle=True, num_workers=workers, persistent_workers=workers > 0, drop_last=True
    )
    batches = min(batches, len(loader))

    def read() -> None:
        for _ in itertools.islice(loader, batches):
            pass

    median, low, high = repeat(read, repeats, warmup=1)
    clips = batches * batch
    return clips / median, clips / high, clips / low


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--workers", type=int, nargs="+", default=sorted({0, 1, os.cpu_count() or 1}))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"machine: {machine()}")
    print(f"data loading: synthetic-ntu60 train split, training transform, batch {args.batch}")
    print(f"{'workers':>8} {'clips/s median [min-max]':>28}")
    rows = []
    for workers in args.workers:
        median, low, high = loader_rate(workers, args.batch, args.batches, args.repeats)
        rows.append({"workers": workers, "clips_per_s": median, "low": low, "high": high})
        print(f"{workers:>8} {f'{median:.0f} [{low:.0f}-{high:.0f}]':>28}")
    return rows


if __name__ == "__main__":
    main()
