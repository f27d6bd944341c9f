"""``mamp-bench verify``: hold every record of a results store to its evidence."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "verify",
        help="hold every record to its evidence: files, numbers, hashes, data, copies (and signatures)",
        description=(
            "A record is a claim. This checks every record of a results store against what it carries: its "
            "predictions and per-epoch log are the files it names; every metric is a number in its range and equal "
            "to what the predictions give, epoch by epoch; its configuration and row hashes are those of the "
            "configuration it carries; its data is synthetic when the dataset or the data's provenance says so, "
            "and real only when the run proved it (official clip counts, the labels it hashed); records of one row "
            "with identical predictions under different seeds are one measurement, or a copy. With --data-root the "
            "predictions' labels are compared with the prepared data's. A checkpoint the record names is re-hashed "
            "where it is on this machine: another run's file at that path is a note, not a mismatch. Prints every "
            "mismatch (exit status 1 when there is one) and counts the notes (--verbose lists them)."
        ),
    )
    parser.add_argument("results_dir", nargs="?", help="results store (or MAMP_BENCH_RESULTS; default ./results)")
    parser.add_argument("--data-root", help="prepared real data to compare the records' labels with")
    parser.add_argument(
        "--key",
        action="store_true",
        help="require every record to carry a valid signature made with the key in MAMP_BENCH_SIGNING_KEY (a lab "
        "that signs its records: it proves who wrote them and that they were not changed since, not that their "
        "numbers are right)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mamp_bench.errors import UserError
    from mamp_bench.results.store import SIGNING_ENV, results_root, signing_key
    from mamp_bench.results.verify import verify_store

    key = signing_key() if args.key else None
    if args.key and key is None:
        raise UserError(f"--key checks signatures with the key in {SIGNING_ENV}, which is not set")
    result = verify_store(args.results_dir, args.data_root, key)
    for line in result.problems:
        print(f"MISMATCH {printable(line)}")
    if getattr(args, "verbose", False):
        for line in result.notes:
            print(f"note: {printable(line)}")
    else:
        for kind, count in _note_kinds(result.notes).items():
            print(f"note: {count} record(s): {kind} (--verbose lists them)")
    root = results_root(args.results_dir)
    counts = f"{len(result.problems)} mismatch(es), {len(result.notes)} note(s)"
    print(f"{result.records} record file(s) under {root}: {counts}")
    return 1 if result.problems else 0


def _note_kinds(notes: list[str]) -> dict[str, int]:
    """Notes counted by kind: the text after the record's path, with paths and names taken out."""
    import re

    kinds: dict[str, int] = {}
    for note in notes:
        text = note.split(": ", 1)[-1]
        text = re.sub(r"\S*/\S*", "<path>", text)
        text = re.sub(r"\(seed \d+\)|\S+\.json", "", text).strip()
        kinds[text] = kinds.get(text, 0) + 1
    return kinds


def printable(text: str) -> str:
    """One line: control characters (a newline in a forged record's name) written as escapes."""
    import re

    return re.sub(r"[\x00-\x1f\x7f]", lambda m: m.group().encode("unicode_escape").decode(), text)
