"""``mamp-bench pretrain``: pretrain a method on a dataset (CPU, one GPU, or torchrun for many)."""

from __future__ import annotations

import argparse

from mamp_bench.config import apply_overrides, parse_set_args
from mamp_bench.presets import METHOD, PRETRAIN, SCALES, check_scale


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "pretrain",
        help="pretrain a method (the paper's recipe, or a small smoke preset)",
        description=(
            "Pretrain a registered method. --scale paper is the published recipe (400 epochs, batch 128); "
            "--scale smoke a small model for a few minutes on a CPU. Any setting can be overridden with "
            "--set key=value (pretraining keys such as epochs=100, or method keys such as method.mask_ratio=0.8, "
            "method.encoder.depth=4). For several GPUs: torchrun --nproc_per_node=4 -m mamp_bench pretrain ..."
        ),
    )
    add_common(parser)
    parser.add_argument("--method", default="mamp", help="registered method (see `mamp-bench list methods`)")
    parser.add_argument(
        "--dataset", default=None, help="dataset name (default: ntu60-xsub if prepared, else synthetic-ntu60)"
    )
    parser.add_argument("--scale", default="smoke", choices=SCALES, help="recipe scale (default: smoke)")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a setting (repeatable)")
    parser.add_argument("--output-dir", help="run folder (default: runs/pretrain/<method>-<dataset>-<hash>)")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run from its last checkpoint")
    parser.add_argument("--restart", action="store_true", help="start an existing run over")
    parser.set_defaults(func=run)


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-root", help="folder of the prepared real datasets (or MAMP_BENCH_DATA)")
    parser.add_argument("--runs-dir", help="where runs are written (or MAMP_BENCH_RUNS; default ./runs)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true")


def build_config(method: str, dataset: str, scale: str, seed: int, sets: dict[str, str]):
    from mamp_bench.engine.pretrain import PretrainConfig

    config = PretrainConfig(method=method, dataset=dataset, seed=seed)
    config = apply_overrides(config, PRETRAIN[check_scale(scale)])
    method_overrides = dict(_applicable_method_overrides(method, METHOD[scale]))
    own = {}
    for key, value in sets.items():
        if key.startswith("method."):
            method_overrides[key[len("method.") :]] = value
        else:
            own[key] = value
    config = apply_overrides(config, own)
    config.method_overrides = method_overrides
    return config


def _applicable_method_overrides(method: str, overrides: dict):
    """Scale overrides that exist in this method's configuration (methods differ in fields)."""
    from mamp_bench.config import flat_keys
    from mamp_bench.registry import METHODS

    keys = set(flat_keys(METHODS.get(method).Config))
    return {k: v for k, v in overrides.items() if k in keys}


def run(args: argparse.Namespace) -> int:
    from mamp_bench.data.specs import default_dataset
    from mamp_bench.engine.pretrain import pretrain

    dataset = args.dataset or default_dataset(args.data_root)
    config = build_config(args.method, dataset, args.scale, args.seed, parse_set_args(args.set))
    pretrain(
        config,
        data_root=args.data_root,
        runs_root=args.runs_dir,
        output_dir=args.output_dir,
        resume=args.resume,
        restart=args.restart,
        device=args.device,
        quiet=args.quiet,
    )
    return 0
