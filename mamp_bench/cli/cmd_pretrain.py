"""``mamp-bench pretrain``: pretrain a method on a dataset (CPU, one GPU, or torchrun for many)."""

from __future__ import annotations

import argparse

from mamp_bench.scales import SCALES


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "pretrain",
        help="pretrain a method (the paper's recipe, or a small smoke preset)",
        description=(
            "Pretrain a registered method. --scale paper is the published recipe (400 epochs, batch 128); "
            "--scale smoke a small model for a few minutes on a CPU. Any setting can be overridden with "
            "--set key=value (pretraining keys such as epochs=100, or method keys such as method.mask_ratio=0.8, "
            "method.encoder.depth=4). An interrupted run continues from its last epoch when the same command is run "
            "again (--restart starts it over). For several GPUs: torchrun --nproc_per_node=4 -m mamp_bench pretrain ..."
        ),
    )
    add_common(parser)
    add_method(parser)
    parser.add_argument(
        "--dataset", default=None, help="dataset name (default: ntu60-xsub if prepared, else synthetic-ntu60)"
    )
    parser.add_argument("--scale", default="smoke", choices=SCALES, help="recipe scale (default: smoke)")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a setting (repeatable)")
    parser.add_argument("--output-dir", help="run folder (default: runs/pretrain/<method>-<dataset>-<hash>)")
    parser.add_argument(
        "--restart", action="store_true", help="start the run over (by default an interrupted run continues)"
    )
    parser.set_defaults(func=run)


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-root", help="folder of the prepared real datasets (or MAMP_BENCH_DATA)")
    parser.add_argument("--runs-dir", help="where runs are written (or MAMP_BENCH_RUNS; default ./runs)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--wait", action="store_true", help="wait for another process running the same job")
    parser.add_argument(
        "--allow-unverified", action="store_true", help="use a checkpoint whose sha256 its run never recorded"
    )


def add_method(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--method", default=None, help="registered method (see `mamp-bench list methods`; default: the suite's own)"
    )


def run(args: argparse.Namespace) -> int:
    from mamp_bench.config import parse_set_args
    from mamp_bench.pipeline import pretrain
    from mamp_bench.plan import Options, Request
    from mamp_bench.registry import METHODS

    request = Request(args.method or METHODS.default(), dataset=args.dataset, scale=args.scale, seed=args.seed,
                      overrides=parse_set_args(args.set))  # fmt: skip
    options = Options(data_root=args.data_root, runs_dir=args.runs_dir, device=args.device, restart=args.restart,
                      quiet=args.quiet, output_dir=args.output_dir, wait=args.wait,
                      allow_unverified=args.allow_unverified)  # fmt: skip
    pretrain(request, options)
    return 0
