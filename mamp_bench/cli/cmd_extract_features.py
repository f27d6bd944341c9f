"""``mamp-bench extract-features``: encoder features of every clip of a prepared split."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "extract-features",
        help="write (N, D) encoder features of a prepared .npz split to a .npy file",
        description=(
            "Run a checkpoint's encoder (suite or official) over one split of a prepared .npz with the test-time "
            "transform (centre crop, no augmentation) and save the features: the final-LayerNorm output averaged "
            "over persons, time and joints, as the linear probe sees it before its BatchNorm."
        ),
    )
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--data", required=True, help="prepared .npz (e.g. NTU60_XSub.npz)")
    parser.add_argument("--split", choices=("train", "test"), default="test")
    parser.add_argument(
        "--out", required=True, help=".npy file to write; the labels go beside it (feats.npy -> feats.labels.npy)"
    )
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--workers", type=int, default=0)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import numpy as np

    from mamp_bench.data.dataset import SkeletonDataset
    from mamp_bench.data.transforms import test_transform
    from mamp_bench.engine.distributed import resolve_device
    from mamp_bench.engine.features import encode_dataset
    from mamp_bench.errors import UserError
    from mamp_bench.fileio import atomic_write, ensure_writable, refuse_overwriting_inputs
    from mamp_bench.models.loading import load_encoder

    if args.batch_size < 1:
        raise UserError("--batch-size must be at least 1")
    out = Path(args.out)
    labels_path = out.with_suffix(".labels.npy")  # feats.npy -> feats.labels.npy, as the help says
    refuse_overwriting_inputs({"--out": out, "the labels file": labels_path},
                              {"--data": args.data, "--checkpoint": args.checkpoint})  # fmt: skip
    ensure_writable(out.parent, "output folder")  # before the encoding, not after
    device = resolve_device(args.device)
    encoder = load_encoder(args.checkpoint).to(device)
    dataset = SkeletonDataset(args.data, args.split, test_transform(encoder.window))
    features, labels = encode_dataset(encoder, dataset, args.batch_size, device, args.workers)
    with atomic_write(out) as handle:
        np.save(handle, features.numpy())
    with atomic_write(labels_path) as handle:
        np.save(handle, labels.numpy())
    print(f"{out}: features {tuple(features.shape)} from {len(dataset)} {args.split} clips; labels {labels_path}")
    return 0
