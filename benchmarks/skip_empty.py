"""What ``skip_empty_persons`` changes in pretraining: the share of person sequences computed, the
loss value, and the step time, on clips of the synthetic NTU-60 default (NTU-60's mix of one- and
two-person clips) with the training transform.

Both variants share the weights (a pretraining checkpoint, or the initialisation), the clips and
the masking noise; only the absent persons are treated differently. Usage:
``python -m benchmarks.skip_empty [--checkpoint runs/pretrain/.../checkpoint-34.pth] [--batches 10]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

from benchmarks.common import machine


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkpoint", help="suite pretraining checkpoint (default: the paper model at init)")
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args(argv)
    import torch

    import mamp_bench
    from mamp_bench.data.dataset import SkeletonDataset
    from mamp_bench.data.specs import get_dataset
    from mamp_bench.data.transforms import train_transform

    torch.manual_seed(0)
    reference = mamp_bench.build_method("mamp", checkpoint=args.checkpoint, skip_empty_persons=False)
    skipping = mamp_bench.build_method("mamp", checkpoint=args.checkpoint, skip_empty_persons=True)
    skipping.load_state_dict(reference.state_dict())
    window = reference.config.encoder.frames
    dataset = SkeletonDataset(get_dataset("synthetic-ntu60").path(None), "train", train_transform(window), seed=0)
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch, shuffle=True,
                                         generator=torch.Generator().manual_seed(0))  # fmt: skip
    rows = {"present": [], "loss_reference": [], "loss_skip": [], "time_reference": [], "time_skip": []}
    for i, (x, _, seeds) in enumerate(loader):
        if i == args.batches:
            break
        persons = x.permute(0, 4, 1, 2, 3).flatten(2)  # (N, M, C*T*V)
        rows["present"].append(float(persons.ne(0).any(dim=2).float().mean()))
        for name, method in (("reference", reference), ("skip", skipping)):
            method.zero_grad()
            start = time.perf_counter()
            out = method(x, seeds)
            out.loss.backward()
            rows[f"time_{name}"].append(time.perf_counter() - start)
            rows[f"loss_{name}"].append(out.loss.item())
    summary = {key: statistics.median(values) for key, values in rows.items()}
    ratios = [s / r for s, r in zip(rows["loss_skip"], rows["loss_reference"], strict=True)]
    print(f"machine: {machine()}")
    print(f"weights: {args.checkpoint or 'paper NTU-60 model at initialisation'}; window {window}; "
          f"{args.batches} batches of {args.batch}")  # fmt: skip
    print(f"person sequences present: {summary['present']:.1%} (median over batches)")
    print(f"loss, reference (absent persons counted): {summary['loss_reference']:.4f}")
    print(f"loss, skip_empty_persons:                 {summary['loss_skip']:.4f}")
    print(f"ratio skip / reference: median {statistics.median(ratios):.3f} [{min(ratios):.3f}-{max(ratios):.3f}]")
    speed = summary["time_reference"] / summary["time_skip"]
    print(f"forward+backward: {summary['time_reference']:.3f} s -> {summary['time_skip']:.3f} s ({speed:.2f}x)")
    return summary


if __name__ == "__main__":
    main()
