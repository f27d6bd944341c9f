"""``mamp-bench zoo``: the checkpoints the suite knows (official, exported, finished pretrainings)."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "zoo",
        help="list the known checkpoints: official MAMP, your exports, finished pretrainings; with their numbers",
        description=(
            "List the checkpoints the suite knows: the authors' released MAMP checkpoints with the published "
            "figures they should reproduce, the checkpoints exported with `mamp-bench export-checkpoint` (each "
            "named with the first 8 hex digits of its sha256 and described by a metafile beside it), and the "
            "finished pretrainings of the runs folder. Each comes with the top-1 (best epoch) of every record "
            "of the results store that evaluated it."
        ),
    )
    add_locations(parser)
    parser.add_argument("--json", action="store_true", help="print the entries as JSON")
    parser.set_defaults(func=run)


def add_locations(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--zoo-dir", help="the exports' folder (or MAMP_BENCH_ZOO; default <runs folder>/zoo)")
    parser.add_argument("--runs-dir", help="runs folder (or MAMP_BENCH_RUNS; default ./runs)")
    parser.add_argument("--results-dir", help="results store (or MAMP_BENCH_RESULTS; default ./results)")


def run(args: argparse.Namespace) -> int:
    import json

    from mamp_bench.results.zoo import entry_dicts, render_zoo, zoo_dir, zoo_entries
    from mamp_bench.settings import runs_dir

    entries = zoo_entries(zoo_dir(args.zoo_dir, args.runs_dir), runs_dir(args.runs_dir), args.results_dir)
    print(
        json.dumps(entry_dicts(entries), indent=2) if args.json else render_zoo(entries), end="\n" if args.json else ""
    )
    return 0
