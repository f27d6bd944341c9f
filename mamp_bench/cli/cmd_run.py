"""``mamp-bench run``: pretrain (or reuse a pretraining, or load a checkpoint) and run a protocol."""

from __future__ import annotations

import argparse
import os
from typing import Any

from mamp_bench.cli.cmd_pretrain import add_common, add_method
from mamp_bench.scales import SCALES


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "run",
        help="evaluate a method with a protocol (see `mamp-bench list protocols`)",
        description=(
            "Run a protocol on a method's encoder. Without --checkpoint the method is pretrained first on the "
            "same dataset (the transfer protocol: on --source), or an identical earlier pretraining is reused. "
            "Without --dataset the synthetic default is used (ntu60-xsub when it is prepared under the data "
            "root). --set key=value overrides protocol settings (epochs=5), pretraining settings "
            "(pretrain.epochs=20) or method settings (method.mask_ratio=0.8). Writes a result record into the "
            "run folder and the results store and prints it. An interrupted run continues from its last epoch "
            "when the same command is run again (--restart starts it over)."
        ),
    )
    add_common(parser)
    add_method(parser)
    parser.add_argument("--protocol", help="registered protocol (see `mamp-bench list protocols`; default: linear)")
    parser.add_argument("--dataset", help="dataset evaluated on (see `mamp-bench list datasets`)")
    parser.add_argument("--source", help="transfer: dataset the method is pretrained on (default ntu60-xsub)")
    parser.add_argument("--checkpoint", help="evaluate this suite or official checkpoint instead of pretraining")
    parser.add_argument(
        "--scale", default="smoke", choices=SCALES, help="smoke (default) or paper (the published recipe)"
    )
    parser.add_argument("--pretrain-seed", type=int, help="seed of the pretraining (default: --seed)")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a setting (repeatable)")
    parser.add_argument("--results-dir", help="results store (or MAMP_BENCH_RESULTS; default ./results)")
    parser.add_argument(
        "--restart",
        action="store_true",
        help="discard an unfinished run of this job (and its unfinished pretraining) instead of continuing it",
    )
    parser.add_argument("--force", action="store_true", help="run again even if this job already has a record")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mamp_bench.config import parse_set_args
    from mamp_bench.pipeline import run as run_protocol
    from mamp_bench.plan import Options, Request
    from mamp_bench.registry import METHODS, PROTOCOLS

    request = Request(
        method=args.method or METHODS.default(),
        protocol=args.protocol or PROTOCOLS.default(),
        dataset=args.dataset,
        source=args.source,
        checkpoint=args.checkpoint,
        scale=args.scale,
        seed=args.seed,
        pretrain_seed=args.pretrain_seed,
        overrides=parse_set_args(args.set),
    )
    options = Options(data_root=args.data_root, runs_dir=args.runs_dir, results_dir=args.results_dir,
                      device=args.device, restart=args.restart, force=args.force, quiet=args.quiet, wait=args.wait,
                      allow_unverified=args.allow_unverified)  # fmt: skip
    record = run_protocol(request, options)
    if not args.quiet and int(os.environ.get("RANK", "0")) == 0:
        print_record(record, args.results_dir)
    return 0


def print_record(record: dict[str, Any], results_dir: str | None = None) -> None:
    """The run's metrics (epochs counted from 1, as the log prints them), then where its record, its run
    folder and its pretraining are."""
    from rich.console import Console
    from rich.table import Table

    from mamp_bench.results.store import ResultsStore

    m = record["metrics"]
    # the heading is a line of its own, not the table's title (which wraps to the table's width)
    print(
        " | ".join([record["protocol"], record["method"], record["dataset"], f"seed {record['seed']}", record["scale"]])
    )
    table = Table()
    for column in ("metric", "value"):
        table.add_column(column)
    for key in ("top1_final", "top1_best", "best_epoch", "top5_final", "top5_at_best", "top1", "top5"):
        if key in m and m[key] is not None:
            value = m[key]
            text = f"{value:.2f}" if isinstance(value, float) else str(value)
            table.add_row(key, f"{text} of {m['epochs_run']}" if key == "best_epoch" and "epochs_run" in m else text)
    table.add_row("wall time", f"{record['wall_seconds']:.0f} s")
    Console().print(table)
    where = [("record", ResultsStore(results_dir).path_for(record)), ("run folder", record.get("run_dir")),
             ("pretraining", record.get("encoder", {}).get("pretrain_run"))]  # fmt: skip
    for name, path in where:
        if path:
            print(f"{name}: {path}")  # whole, never folded: a path to paste
