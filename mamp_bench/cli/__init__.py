"""The ``mamp-bench`` command line.

Each subcommand lives in its own module with a ``register(subparsers)`` function that adds its
parser and sets ``func``; adding a command is adding a module to ``COMMANDS``. A mistake the
user can make raises ``UserError``, printed as one line with exit status 2 (``--verbose`` shows
the traceback).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from typing import NoReturn

from mamp_bench import __version__
from mamp_bench.errors import UserError

COMMANDS = (
    "list",
    "prepare",
    "synth",
    "pretrain",
    "run",
    "table",
    "plot",
    "reproduce",
    "extract-features",
    "convert-checkpoint",
)


class _OneLineParser(argparse.ArgumentParser):
    """argparse, with a mistake on the command line reported as one line (status 2) like every other."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"mamp-bench: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="mamp-bench",
        description="Benchmark suite for self-supervised 3D skeleton action recognition (MAMP and baselines).",
    )
    parser.add_argument("--version", action="version", version=f"mamp-bench {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show tracebacks and debug output")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"mamp_bench.cli.cmd_{name.replace('-', '_')}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        result = args.func(args)
    except UserError as exc:
        if args.verbose:
            traceback.print_exc()
        print(f"mamp-bench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mamp-bench: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)
