"""``mamp-bench verify``: check every record of a results store against its saved predictions."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "verify",
        help="re-hash records, predictions and checkpoints and recompute every accuracy from the predictions",
        description=(
            "A record is a claim. This re-hashes every record of a results store, recomputes its accuracies "
            "(final, best, last-5, top-5, per class) from its saved per-clip predictions, re-hashes the "
            "checkpoint it names where that file is on this machine, and reports records that are unreadable, "
            "edited, misplaced or duplicated. Prints every mismatch; exit status 1 when there is one."
        ),
    )
    parser.add_argument("results_dir", nargs="?", help="results store (or MAMP_BENCH_RESULTS; default ./results)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mamp_bench.results.store import results_root
    from mamp_bench.results.verify import verify_store

    result = verify_store(args.results_dir)
    for line in result.problems:
        print(f"MISMATCH {line}")
    for line in result.notes:
        print(f"note: {line}")
    root = results_root(args.results_dir)
    counts = f"{len(result.problems)} mismatch(es), {len(result.notes)} note(s)"
    print(f"{result.records} record file(s) under {root}: {counts}")
    return 1 if result.problems else 0
