"""``mamp-bench table``: paper-style leaderboards from the results store beside published numbers."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mamp_bench.results.render import FORMATS
from mamp_bench.results.tables import METRICS
from mamp_bench.scales import SCALES


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "table",
        help="print a paper-style results table (measured rows beside the published ones)",
        description=(
            "Aggregate the results store into the paper's table layout: measured rows as mean ± std over seeds "
            "(number of seeds); on real data beside the published rows (sources in notes) with the gap to the "
            "method's published figure; synthetic results in a table of their own; paired differences to the "
            "reference method under each table. --compare A B runs a paired t-test over the seeds both methods "
            "were run with."
        ),
    )
    parser.add_argument("--protocol", required=True, help="the table: a protocol with its own layout (linear, ...)")
    parser.add_argument(
        "--format",
        choices=FORMATS,
        help="markdown (GitHub, with footnotes), latex (booktabs), csv (long form: one line per cell and per paired "
        "difference) or rich (the terminal, folded to its width); every format carries the paired differences. "
        "Default: rich on a terminal, markdown when the output is a file (--out) or a pipe",
    )
    parser.add_argument("--scale", choices=SCALES, help="only measured rows of this scale")
    add_metric(parser)
    parser.add_argument("--results-dir", help="results store (or MAMP_BENCH_RESULTS; default ./results)")
    parser.add_argument("--no-reported", action="store_true", help="leave out the published rows")
    parser.add_argument("--compare", nargs=2, metavar=("A", "B"), help="paired significance test of method A against B")
    parser.add_argument("--out", help="write to this file instead of the terminal")
    parser.set_defaults(func=run)


def add_metric(parser) -> None:
    """``--metric``: which accuracy of a record the tables show (``METRICS``)."""
    parser.add_argument(
        "--metric",
        default="best",
        choices=sorted(METRICS),
        help="best over epochs (as the paper's scripts report; the default, comparable to published numbers), "
        "final epoch, or last5: the mean of the last 5 epochs (robust to choosing the epoch on the test set)",
    )


def run(args: argparse.Namespace) -> int:
    from mamp_bench.console import echo
    from mamp_bench.errors import UserError
    from mamp_bench.fileio import atomic_write
    from mamp_bench.results.frame import load_checked
    from mamp_bench.results.render import print_rich, render, render_comparison
    from mamp_bench.results.tables import build_tables, compare
    from mamp_bench.results.verify import left_out_summary

    results = load_checked(args.results_dir)
    if results.left_out:
        echo(f"mamp-bench: {left_out_summary(results.left_out)}")
    frame = results.frame
    metric = METRICS[args.metric]
    if args.compare:
        a, b = args.compare
        for method in (a, b):
            if method not in set(frame["method"]):
                raise UserError(f"no record of method {method!r} in the results store")
        text = render_comparison(compare(frame, args.protocol, a, b, args.scale, metric), a, b)
    else:
        tables = build_tables(args.protocol, frame, args.scale, metric, include_reported=not args.no_reported,
                              left_out=results.left_out)  # fmt: skip
        fmt = args.format or ("rich" if sys.stdout.isatty() and not args.out else "markdown")
        if fmt == "rich" and not args.out:
            print_rich(tables)
            return 0
        text = render(tables, fmt)
    if args.out:
        with atomic_write(Path(args.out), "w") as handle:
            handle.write(text)
    else:
        print(text, end="")
    return 0
