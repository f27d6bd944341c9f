"""``mamp-bench site``: the leaderboards as a static site, every measured number one click from its records."""

from __future__ import annotations

import argparse

from mamp_bench.cli.cmd_table import add_metric
from mamp_bench.results.tables import METRICS


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "site",
        help="write a static leaderboard site: sortable tables, a page per measured row with its evidence",
        description=(
            "Write the results store and the published rows as static HTML pages that open from the file system "
            "or any static host: a leaderboard per table (real benchmarks beside the published rows; custom and "
            "synthetic runs in sections of their own), a ranked page per column, a page per measured row (the "
            "command that reproduces it, its configuration, seeds, commit, data fingerprint, checkpoint sha256, "
            "per-epoch curves, confusion matrix, per-class accuracy, verification, and its record, predictions "
            "and log, copied into the site), the comparison of two methods and the figures of `mamp-bench plot`. "
            "Only records that verify are shown. Sorting and filtering need JavaScript; the pages read without it."
        ),
    )
    parser.add_argument("--results-dir", help="results store (or MAMP_BENCH_RESULTS; default ./results)")
    parser.add_argument("--out", help="folder to write the site into (default: <results store>/site)")
    parser.add_argument("--figures", help="folder of the PNG figures to embed (default: <results store>/figures)")
    add_metric(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mamp_bench.results.site.build import build_site
    from mamp_bench.results.store import results_root

    out = Path(args.out) if args.out else results_root(args.results_dir) / "site"
    summary = build_site(args.results_dir, out, args.figures, METRICS[args.metric])
    print(
        f"wrote {summary.pages} pages to {summary.out} ({summary.records} records that verify, "
        f"{summary.left_out} left out; {summary.bytes / 1e6:.1f} MB); open {summary.out / 'index.html'}"
    )
    return 0
