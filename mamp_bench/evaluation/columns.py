"""The columns of paper-style tables: a real benchmark each, with the setting values that select it, and
the six benchmarks of the paper's main tables."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TableColumn:
    """One column of a paper-style table: a real benchmark, and the setting values that select it."""

    label: str  # "NTU-60 xsub 1%"
    dataset: str  # the real benchmark evaluated ("ntu60-xsub"); synthetic runs go to its stand-in's column
    setting: tuple[tuple[str, Any], ...] = ()  # e.g. (("fraction", 0.01),) or (("source", "ntu60-xsub"),)
    reported: str | None = None  # the protocol name of its published numbers in reported.csv
    reported_split: str | None = None  # their split there (default: the dataset's split)


#: the benchmarks of the paper's linear and fine-tuning tables, in its column order
BENCHMARKS = ("ntu60-xsub", "ntu60-xview", "ntu120-xsub", "ntu120-xset", "pku1-xsub", "pku2-xsub")
_LABELS = ("NTU-60 xsub", "NTU-60 xview", "NTU-120 xsub", "NTU-120 xset", "PKU-I xsub", "PKU-II xsub")


def benchmark_columns(reported: str | None) -> tuple[TableColumn, ...]:
    """The six columns of the linear / fine-tune / k-NN tables (``reported``: published rows' protocol)."""
    return tuple(
        TableColumn(label, dataset, reported=reported) for label, dataset in zip(_LABELS, BENCHMARKS, strict=True)
    )
