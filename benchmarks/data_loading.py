"""Data loading throughput: clips/s through ``SkeletonDataset`` and a ``DataLoader`` with the
pretraining transform (valid-frame crop with a random ratio, resize to 120 frames, rotation).

Reads the synthetic NTU-60 default (built once into the cache) from its memory-mapped ``.npz``.
Compare the rate with the pretraining step's clips/s: with ``workers=0`` (the engine's default
on a CPU) loading runs in the training process, so its share of a step is step rate / load rate.
``--batched`` also measures the batched transform (``batched_transform=true``): the loader yields
raw clips and their draws, and the crop, resize and rotation run on the whole batch on ``--device``
(timed to the end of the transform).
Usage: ``python -m benchmarks.data_loading [--batch 32] [--batches 30] [--workers 0 1 2] [--batched]``.
"""

from __future__ import annotations

import argparse
import itertools
import os

from benchmarks.common import machine, repeat


def loader_rate(
    workers: int,
    batch: int,
    batches: int,
    repeats: int,
    batched: bool = False,
    device: str = "cpu",
    path: str | None = None,
) -> tuple[float, float, float]:
    """clips/s (median, low, high) of reading ``batches`` batches, after one warm-up pass; ``batched``:
    raw clips and draws from the loader, the transform on the whole batch on ``device``. ``path``: a
    prepared ``.npz`` (default: the synthetic NTU-60 set, built on first use)."""
    import torch

    from mamp_bench.data.batched_transform import DeferredTrainSet, apply_train
    from mamp_bench.data.dataset import SkeletonDataset
    from mamp_bench.data.specs import get_dataset
    from mamp_bench.data.transforms import train_transform
    from mamp_bench.engine.loop import to_device

    path = path or get_dataset("synthetic-ntu60").path(None)
    dataset = SkeletonDataset(path, "train", train_transform(120), seed=0)
    if batched:
        dataset = DeferredTrainSet(dataset, 120, rotate=True)
    dev = torch.device(device)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch, shuffle=True, num_workers=workers,
                                         persistent_workers=workers > 0, drop_last=True,
                                         pin_memory=dev.type == "cuda")  # fmt: skip

    def read() -> None:  # ``batches`` batches, over as many passes of the (small) split as that takes
        epochs = itertools.chain.from_iterable(loader for _ in itertools.count())
        for x, _, _ in itertools.islice(epochs, batches):
            x = to_device(x, dev)
            if batched:
                x = apply_train(x, 120)
        if dev.type == "cuda":
            torch.cuda.synchronize()

    median, low, high = repeat(read, repeats, warmup=1)
    clips = batches * batch
    return clips / median, clips / high, clips / low


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--workers", type=int, nargs="+", default=sorted({0, 1, os.cpu_count() or 1}))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batched", action="store_true", help="also the batched transform on --device")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    print(f"machine: {machine()}")
    print(f"data loading: synthetic-ntu60 train split, training transform, batch {args.batch}")
    print(f"{'workers':>8} {'transform':>22} {'clips/s median [min-max]':>28}")
    rows = []
    for workers in args.workers:
        for batched in (False, True) if args.batched else (False,):
            median, low, high = loader_rate(workers, args.batch, args.batches, args.repeats, batched, args.device)
            kind = f"batched on {args.device}" if batched else "per sample (loader)"
            rows.append({"workers": workers, "batched": batched, "clips_per_s": median, "low": low, "high": high})
            print(f"{workers:>8} {kind:>22} {f'{median:.0f} [{low:.0f}-{high:.0f}]':>28}")
    return rows


if __name__ == "__main__":
    main()
