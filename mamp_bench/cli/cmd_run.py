"""``mamp-bench run``: pretrain (or reuse a pretraining, or load a checkpoint) and run a protocol."""

from __future__ import annotations

import argparse

from mamp_bench.cli.cmd_pretrain import add_common
from mamp_bench.config import parse_set_args
from mamp_bench.presets import SCALES


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "run",
        help="evaluate a method with a protocol (linear, finetune, semi, transfer, knn, scratch)",
        description=(
            "Run a protocol on a method's encoder. Without --checkpoint the method is pretrained first on the "
            "same dataset (the transfer protocol: on --source), or an identical earlier pretraining is reused. "
            "Without --dataset the synthetic default is used (ntu60-xsub when it is prepared under the data "
            "root). --set key=value overrides protocol settings (epochs=5), pretraining settings "
            "(pretrain.epochs=20) or method settings (method.mask_ratio=0.8). Writes a result record into the "
            "run folder and the results store and prints it."
        ),
    )
    add_common(parser)
    parser.add_argument("--method", default="mamp", help="registered method (see `mamp-bench list methods`)")
    parser.add_argument("--protocol", default="linear", help="registered protocol (see `mamp-bench list protocols`)")
    parser.add_argument("--dataset", help="dataset evaluated on (see `mamp-bench list datasets`)")
    parser.add_argument("--source", help="transfer: dataset the method is pretrained on (default ntu60-xsub)")
    parser.add_argument("--checkpoint", help="evaluate this suite or official checkpoint instead of pretraining")
    parser.add_argument(
        "--scale", default="smoke", choices=SCALES, help="smoke (default) or paper (the published recipe)"
    )
    parser.add_argument("--pretrain-seed", type=int, help="seed of the pretraining (default: --seed)")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a setting (repeatable)")
    parser.add_argument("--results-dir", help="results store (or MAMP_BENCH_RESULTS; default ./results)")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted protocol run")
    parser.add_argument("--force", action="store_true", help="run again even if this job already has a record")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mamp_bench.evaluation.runner import RunRequest
    from mamp_bench.evaluation.runner import run as run_protocol

    run_protocol(
        RunRequest(
            method=args.method,
            protocol=args.protocol,
            dataset=args.dataset,
            source=args.source,
            checkpoint=args.checkpoint,
            scale=args.scale,
            seed=args.seed,
            pretrain_seed=args.pretrain_seed,
            device=args.device,
            sets=parse_set_args(args.set),
            data_root=args.data_root,
            runs_dir=args.runs_dir,
            results_dir=args.results_dir,
            resume=args.resume,
            force=args.force,
            quiet=args.quiet,
        )
    )
    return 0
