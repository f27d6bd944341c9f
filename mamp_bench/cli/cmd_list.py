"""``mamp-bench list``: what is registered (methods, encoders, protocols, datasets) and where it comes from."""

from __future__ import annotations

import argparse

from mamp_bench.registry import DATASETS, ENCODERS, METHODS, PROTOCOLS

KINDS = {"methods": METHODS, "encoders": ENCODERS, "protocols": PROTOCOLS, "datasets": DATASETS}


def register(subparsers) -> None:
    parser = subparsers.add_parser("list", help="show the registered methods, encoders, protocols and datasets")
    parser.add_argument("kind", nargs="?", choices=sorted(KINDS), help="show only this kind")
    parser.set_defaults(func=run)


def describe(obj) -> str:
    text = getattr(obj, "description", "") or (obj.__doc__ or "")
    return text.strip().splitlines()[0] if text.strip() else ""


def encoder_of(kind: str, obj) -> str:
    """A method's encoder (its registered name); an encoder's recipe family and data chain."""
    if kind == "methods":
        return obj.encoder_name
    if kind == "encoders":
        return f"{obj.label}: {obj.recipe} recipes, {obj.chain} chain"
    return ""


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="mamp-bench registry")
    for column in ("kind", "name", "encoder", "source", "description"):
        table.add_column(column)
    kinds = [args.kind] if args.kind else list(KINDS)
    errors = []
    for kind in kinds:
        registry = KINDS[kind]
        for entry in registry.entries():
            table.add_row(kind[:-1], entry.name, encoder_of(kind, entry.obj), entry.source, describe(entry.obj))
        errors += registry.load_errors
    console = Console()
    console.print(table)
    for error in errors:
        console.print(f"[yellow]warning:[/yellow] {error}")
    return 0
