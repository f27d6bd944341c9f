"""``mamp-bench list``: what is registered (methods, protocols, datasets) and where it comes from."""

from __future__ import annotations

import argparse

from mamp_bench.registry import DATASETS, METHODS, PROTOCOLS

KINDS = {"methods": METHODS, "protocols": PROTOCOLS, "datasets": DATASETS}


def register(subparsers) -> None:
    parser = subparsers.add_parser("list", help="show the registered methods, protocols and datasets")
    parser.add_argument("kind", nargs="?", choices=sorted(KINDS), help="show only this kind")
    parser.set_defaults(func=run)


def describe(obj) -> str:
    text = getattr(obj, "description", "") or (obj.__doc__ or "")
    return text.strip().splitlines()[0] if text.strip() else ""


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="mamp-bench registry")
    for column in ("kind", "name", "source", "description"):
        table.add_column(column)
    kinds = [args.kind] if args.kind else list(KINDS)
    errors = []
    for kind in kinds:
        registry = KINDS[kind]
        for entry in registry.entries():
            table.add_row(kind[:-1], entry.name, entry.source, describe(entry.obj))
        errors += registry.load_errors
    console = Console()
    console.print(table)
    for error in errors:
        console.print(f"[yellow]warning:[/yellow] {error}")
    return 0
