"""What the user sees while work runs: one-line messages on stderr and one progress-bar builder."""

from __future__ import annotations

import sys


def echo(message: str, enabled: bool = True) -> None:
    """A status line on stderr (stdout stays for results)."""
    if enabled:
        print(message, file=sys.stderr, flush=True)


def progress_bar(enabled: bool, status: bool = True):
    """A rich progress bar on stderr, shown only on a terminal; ``status`` adds a free-text column
    (``task.fields['status']``: loss, learning rate, throughput)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(stderr=True)
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
    if status:
        columns.append(TextColumn("{task.fields[status]}"))
    return Progress(
        *columns,
        TimeRemainingColumn(),
        console=console,
        disable=not (enabled and console.is_terminal),
        transient=False,
    )
