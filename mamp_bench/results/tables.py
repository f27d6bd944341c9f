"""Paper-style leaderboard tables: measured rows (mean +/- std over seeds, n) beside the
published ("reported") rows, with the gap of a measured row to its reported counterpart.

Every protocol declares its table (its columns, or the table its rows join) and every method its
place among the rows; this module only iterates the registries. The layouts follow the MAMP paper:
linear / fine-tune / k-NN with NTU-60 xsub, xview, NTU-120 xsub, xset, PKU-I and PKU-II columns;
semi with NTU-60 xsub and xview at 1 % and 10 %; transfer with PKU-II from each source. Measured
rows on synthetic stand-ins appear in the column of the real benchmark they stand in for, marked
``synthetic``, and get no gap (their numbers are not comparable with published ones).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mamp_bench.data.specs import DATASETS, get_dataset
from mamp_bench.errors import UserError
from mamp_bench.evaluation.protocol import TableColumn
from mamp_bench.registry import METHODS, PROTOCOLS
from mamp_bench.results.reported import reported, short_source

DASH = "—"


def table_names() -> list[str]:
    """The tables: one per protocol that lays out its own columns (others add rows to one of these)."""
    return [name for name, cls in PROTOCOLS.items() if cls.table is None and cls.columns]


def layout(table: str) -> tuple[tuple[str, ...], tuple[TableColumn, ...]]:
    """(the protocols whose rows a table shows, its first the table's own; its columns)."""
    if table not in table_names():
        raise UserError(f"no table {table!r}; choose from {', '.join(table_names())}")
    members = [name for name, cls in PROTOCOLS.items() if name != table and cls.table == table]
    return (table, *members), PROTOCOLS.get(table).columns


def method_rank(method: str) -> tuple[int, str]:
    """A method's place among the measured rows (its declared ``table_rank``, then its name)."""
    return (METHODS.get(method).table_rank if method in METHODS else 1000, method)


@dataclass
class Cell:
    values: list[float] = field(default_factory=list)
    reported: float | None = None

    @property
    def mean(self) -> float | None:
        return float(np.mean(self.values)) if self.values else None

    @property
    def std(self) -> float:
        return float(np.std(self.values, ddof=1)) if len(self.values) > 1 else 0.0


@dataclass
class Row:
    label: str
    kind: str  # "measured" or "reported"
    cells: list[Cell]
    method: str
    note: str = ""  # reported: sources; measured: scale / synthetic
    gaps: list[float | None] = field(default_factory=list)


@dataclass
class Table:
    protocol: str
    metric: str
    columns: tuple[TableColumn, ...]
    rows: list[Row]


def _benchmark(name: Any) -> Any:
    """The real benchmark a dataset name stands for (synthetic stand-ins map to theirs)."""
    if isinstance(name, str) and name in DATASETS:
        spec = get_dataset(name)
        return spec.counterpart if spec.synthetic else name
    return name


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        try:
            return bool(np.isclose(float(a), float(b)))
        except (TypeError, ValueError):
            return False
    return _benchmark(a) == _benchmark(b)


def _column_mask(frame: pd.DataFrame, column: TableColumn) -> pd.Series:
    """Records of a column: its benchmark (or the benchmark's stand-in) and its setting values."""

    def selects(record: pd.Series) -> bool:
        setting = record["setting"] or {}
        return _benchmark(record["dataset"]) == column.dataset and all(
            key in setting and _same(setting[key], value) for key, value in column.setting
        )

    return frame.apply(selects, axis=1) if len(frame) else pd.Series([], dtype=bool)


def _variant_labels(frame: pd.DataFrame) -> dict[str, str]:
    """For a method with several settings, label each by the settings that differ."""
    labels: dict[str, str] = {}
    for _, group in frame.groupby(["method", "protocol", "synthetic", "scale"]):
        rows = group.drop_duplicates("row")
        if len(rows) < 2:
            continue
        dicts = list(rows["overrides"])
        keys = sorted({k for d in dicts for k in d if len({repr(x.get(k)) for x in dicts}) > 1})
        for row, d in zip(rows["row"], dicts, strict=True):
            shown = [k for k in keys if not k.startswith(("pretrain.max", "workers"))]
            labels[row] = ", ".join(f"{k.split('.', 1)[-1]}={d[k]}" for k in shown[:3] if k in d)
    return labels


def build_table(
    protocol: str,
    frame: pd.DataFrame,
    scale: str | None = None,
    metric: str = "top1_best",
    include_reported: bool = True,
    methods: Iterable[str] | None = None,
) -> Table:
    protocols, columns = layout(protocol)
    data = frame[frame["protocol"].isin(protocols)]
    if scale:
        data = data[data["scale"] == scale]
    if methods is not None:
        data = data[data["method"].isin(list(methods))]
    variants = _variant_labels(data) if len(data) else {}
    rows: list[Row] = []
    keys = ["method", "protocol", "synthetic", "scale", "row"]
    groups = sorted(
        data.groupby(keys, sort=False),
        key=lambda item: (protocols.index(item[0][1]), method_rank(item[0][0]), item[0][4]),
    ) if len(data) else []  # fmt: skip
    for (method, proto, synthetic, row_scale, row_key), group in groups:
        label = method if proto == protocol else f"{method} ({proto})"
        if variants.get(row_key):
            label += f" ({variants[row_key]})"
        cells = [Cell(sorted(group.loc[_column_mask(group, c), metric].dropna().astype(float))) for c in columns]
        note = f"measured, {row_scale}" + (", synthetic" if synthetic else "")
        row = Row(label, "measured", cells, method, note)
        counterpart = getattr(METHODS.get(method), "reported_as", None) if method in METHODS else None
        if counterpart and not synthetic and proto == protocol:
            rep = _reported_cells(counterpart, columns)
            row.gaps = [
                None if c.mean is None or r.reported is None else c.mean - r.reported
                for c, r in zip(cells, rep, strict=True)
            ]
        rows.append(row)
    if include_reported:
        rows += _reported_rows(columns)
    return Table(protocol, metric, columns, rows)


def _reported_cells(method: str, columns: tuple[TableColumn, ...]) -> list[Cell]:
    rep = reported()
    rep = rep[rep["method"] == method]
    cells = []
    for column in columns:
        spec = get_dataset(column.dataset)
        split = column.reported_split or spec.split
        match = rep[(rep["protocol"] == column.reported) & (rep["dataset"] == spec.family)
                    & (rep["split"] == split)]  # fmt: skip
        cells.append(Cell(reported=float(match["value"].iloc[0]) if len(match) else None))
    return cells


def _reported_rows(columns: tuple[TableColumn, ...]) -> list[Row]:
    rep = reported()
    protocols = {c.reported for c in columns if c.reported}
    rep = rep[rep["protocol"].isin(protocols)]
    rows = []
    for method, group in rep.groupby("method"):
        cells = _reported_cells(method, columns)
        if all(c.reported is None for c in cells):
            continue
        sources = sorted({short_source(s) for s in group["source"]})
        rows.append(Row(method, "reported", cells, method, "reported: " + ", ".join(sources)))
    rows.sort(key=lambda r: np.nanmean([c.reported if c.reported is not None else np.nan for c in r.cells]))
    return rows


def format_cell(cell: Cell, latex: bool = False) -> str:
    if cell.reported is not None:
        return f"{cell.reported:.1f}"
    if not cell.values:
        return DASH if not latex else "--"
    pm = r"$\pm$" if latex else "±"
    if len(cell.values) == 1:
        return f"{cell.mean:.1f} (1)"
    return f"{cell.mean:.1f} {pm} {cell.std:.1f} ({len(cell.values)})"


def format_gap(row: Row) -> str:
    gaps = [g for g in row.gaps if g is not None]
    if row.kind == "reported":
        return ""
    if not gaps:
        return DASH if row.gaps else "n/a"
    return f"{np.mean(gaps):+.1f} ({len(gaps)})"


def to_rows(table: Table, latex: bool = False) -> tuple[list[str], list[list[str]]]:
    headers = ["method", *(c.label for c in table.columns), "Δ vs reported", "kind"]
    body = []
    for row in table.rows:
        body.append([row.label, *(format_cell(c, latex) for c in row.cells), format_gap(row), row.note])
    return headers, body


def render(table: Table, fmt: str = "markdown") -> str:
    from tabulate import tabulate

    metric = "best epoch" if table.metric == "top1_best" else "final epoch"
    caption = (
        f"{table.protocol}: top-1 accuracy (%), {metric}. Measured: mean ± std over seeds (n); "
        f"{DASH}: not run. Reported: published figures with their sources."
    )
    if fmt == "markdown":
        headers, body = to_rows(table)
        return f"{caption}\n\n" + tabulate(body, headers, tablefmt="github", disable_numparse=True) + "\n"
    if fmt == "latex":
        headers, body = to_rows(table, latex=True)
        return tabulate(body, headers, tablefmt="latex_raw", disable_numparse=True) + "\n"
    if fmt == "csv":
        return to_frame(table).to_csv(index=False)
    raise UserError(f"unknown format {fmt!r}")


def to_frame(table: Table) -> pd.DataFrame:
    """Long form: one line per (row, column) with mean, std, n, reported value and gap."""
    records = []
    for row in table.rows:
        for i, (column, cell) in enumerate(zip(table.columns, row.cells, strict=True)):
            records.append(
                {
                    "row": row.label,
                    "kind": row.kind,
                    "note": row.note,
                    "column": column.label,
                    "mean": cell.mean if row.kind == "measured" else cell.reported,
                    "std": cell.std if row.kind == "measured" and cell.values else None,
                    "n": len(cell.values) if row.kind == "measured" else None,
                    "gap_vs_reported": row.gaps[i] if row.gaps else None,
                }
            )
    return pd.DataFrame(records)


def print_rich(table: Table) -> None:
    from rich.console import Console
    from rich.table import Table as RichTable

    headers, body = to_rows(table)
    metric = "best epoch" if table.metric == "top1_best" else "final epoch"
    rich_table = RichTable(title=f"{table.protocol} top-1 (%), {metric}")
    for header in headers:
        rich_table.add_column(header)
    for row, cells in zip(table.rows, body, strict=True):
        rich_table.add_row(*cells, style="dim" if row.kind == "reported" else None)
    Console().print(rich_table)


@dataclass
class Comparison:
    column: str
    n: int
    mean_difference: float | None
    std_difference: float | None
    t: float | None
    p: float | None


def compare(
    frame: pd.DataFrame, protocol: str, a: str, b: str, scale: str | None = None, metric: str = "top1_best"
) -> list[Comparison]:
    """Paired t-test of method ``a`` against ``b`` over the seeds both were run with, per column."""
    from scipy import stats

    protocols, columns = layout(protocol)
    data = frame[frame["protocol"].isin(protocols[:1])]
    if scale:
        data = data[data["scale"] == scale]
    out = []
    for column in columns:
        sub = data[_column_mask(data, column)]
        left = sub[sub["method"] == a].groupby("seed")[metric].mean()
        right = sub[sub["method"] == b].groupby("seed")[metric].mean()
        seeds = sorted(set(left.index) & set(right.index))
        if not seeds:
            continue
        diff = np.array([left[s] - right[s] for s in seeds], dtype=float)
        if len(seeds) >= 2 and np.std(diff) > 0:
            result = stats.ttest_rel([left[s] for s in seeds], [right[s] for s in seeds])
            t, p = float(result.statistic), float(result.pvalue)
        else:
            t = p = None
        out.append(
            Comparison(
                column.label, len(seeds), float(diff.mean()), float(diff.std(ddof=1)) if len(diff) > 1 else None, t, p
            )
        )
    return out


def render_comparison(rows: list[Comparison], a: str, b: str) -> str:
    from tabulate import tabulate

    def fmt(value, spec):
        return DASH if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)

    body = [
        [r.column, r.n, fmt(r.mean_difference, "+.2f"), fmt(r.std_difference, ".2f"), fmt(r.t, ".2f"), fmt(r.p, ".3g")]
        for r in rows
    ]
    headers = ["column", "paired seeds", f"mean {a} - {b}", "std", "t", "p (paired t-test)"]
    return tabulate(body, headers, tablefmt="github", disable_numparse=True) + "\n"
