"""``mamp-bench plot``: the PNG figures of the runs and records there are (see ``results/plots.py``)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "plot",
        help="write PNG figures: losses, accuracy vs labelled fraction and vs epoch, t-SNE of features",
        description=(
            "Draw every figure there is something to draw for: pretraining losses (one panel per objective), "
            "accuracy against the labelled fraction, test accuracy against epoch (one panel per protocol), and a "
            "t-SNE embedding of the encoder features of the test split, coloured by class (one panel per "
            "finished pretraining). Legends name the method and the setting."
        ),
    )
    parser.add_argument("--runs-dir", help="runs folder (or MAMP_BENCH_RUNS; default ./runs)")
    parser.add_argument("--results-dir", help="results store (or MAMP_BENCH_RESULTS; default ./results)")
    parser.add_argument("--out", help="folder for the PNG files (default: <runs folder>/figures)")
    parser.add_argument("--data-root", help="prepared real datasets, for the embedding of runs on them")
    parser.add_argument("--no-embedding", action="store_true", help="skip the t-SNE figure (it encodes test clips)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mamp_bench.console import echo
    from mamp_bench.errors import UserError
    from mamp_bench.results.figures import write_figures
    from mamp_bench.results.store import results_root
    from mamp_bench.settings import runs_dir

    runs = runs_dir(args.runs_dir)
    out = Path(args.out) if args.out else runs / "figures"
    figures = write_figures(runs, args.results_dir, out, args.data_root, embedding=not args.no_embedding)
    for note in figures.notes:
        echo(f"mamp-bench: {note}")
    if not figures.written:
        raise UserError(f"nothing to plot: no pretraining logs under {runs / 'pretrain'} and no records in "
                        f"{results_root(args.results_dir)}")  # fmt: skip
    for path in figures.written:
        print(path)
    return 0
