"""The ``mamp-bench`` command line.

Each subcommand lives in its own module with a ``register(subparsers)`` function that adds its
parser and sets ``func``; adding a command is adding a module to ``COMMANDS``. A mistake the
user can make raises ``UserError``, printed as one line with exit status 2 (``--verbose`` shows
the traceback).
"""

from __future__ import annotations

import argparse
import importlib
import os
import shlex
import sys
import traceback
from typing import NoReturn

from mamp_bench.engine.threads import configure_openmp
from mamp_bench.errors import UserError
from mamp_bench.version import __version__

COMMANDS = (
    "list",
    "prepare",
    "synth",
    "pretrain",
    "run",
    "table",
    "plot",
    "site",
    "reproduce",
    "verify",
    "extract-features",
    "convert-checkpoint",
    "export-checkpoint",
    "zoo",
)

VERBOSE_HELP = "show tracebacks and debug output"


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
    parser.add_argument("-v", "--verbose", action="store_true", help=VERBOSE_HELP)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"mamp_bench.cli.cmd_{name.replace('-', '_')}").register(subparsers)
    for command in subparsers.choices.values():  # also accepted after the command (SUPPRESS keeps a value given before)
        command.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=VERBOSE_HELP)
    return parser


def continue_command(argv: list[str]) -> str:
    """The command that continues an interrupted one: the same, without ``--restart`` (which would
    discard the progress the interrupted one saved); under torchrun, with its launcher options."""
    args = shlex.join(arg for arg in argv if arg != "--restart")
    if os.environ.get("TORCHELASTIC_RUN_ID"):
        return f"torchrun <the same torchrun options> -m mamp_bench {args}"
    return f"mamp-bench {args}"


def main(argv: list[str] | None = None) -> int:
    configure_openmp()  # before anything imports torch: idle OpenMP threads sleep (engine/threads.py)
    argv = sys.argv[1:] if argv is None else list(argv)
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
        print(f"mamp-bench: interrupted; continue with: {continue_command(argv)}", file=sys.stderr)
        return 130
    return int(result or 0)
