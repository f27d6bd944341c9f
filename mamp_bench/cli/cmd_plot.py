"""``mamp-bench plot``: PNG figures of pretraining losses and semi-supervised accuracy."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "plot", help="write PNG figures (pretraining loss curves, accuracy vs labelled fraction)"
    )
    parser.add_argument("--runs-dir", help="runs folder (or MAMP_BENCH_RUNS; default ./runs)")
    parser.add_argument("--results-dir", help="results store (or MAMP_BENCH_RESULTS; default ./results)")
    parser.add_argument("--out", default="results/figures", help="folder for the PNG files (default results/figures)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mamp_bench.errors import UserError
    from mamp_bench.results.frame import load_results
    from mamp_bench.results.plots import plot_label_fraction, plot_pretraining_losses
    from mamp_bench.settings import runs_dir

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    written = [
        plot_pretraining_losses(runs_dir(args.runs_dir), out),
        plot_label_fraction(load_results(args.results_dir), out),
    ]
    written = [p for p in written if p is not None]
    if not written:
        raise UserError("nothing to plot: no pretraining logs and no semi-supervised records found")
    for path in written:
        print(path)
    return 0
