"""Paper-style leaderboard tables: measured rows (mean ± std over seeds, n) beside the published rows.

Every protocol declares its table (its columns, or the table its rows join) and every method its
place among the rows; this module only iterates the registries. A number never sits under a
heading that did not produce it. The rows come from records that verify (``results/evidence.py``),
each distinct measurement once; a table says how many records were left out, and why. Three kinds:

* **real**: measured rows on data proven to be the benchmark (``data/provenance.py``), at the paper
  scale and its recipe, beside the published rows, with their gap to the method's published figure
  on the same dataset, split and protocol;
* **custom**: measured rows on real but unproven data, at another scale, or with settings that differ
  from the recipe: a table of their own, each row naming why (its settings, its scale, its clip
  counts), never beside published numbers, never a gap;
* **synthetic**: measured rows on synthetic data (the stand-ins, or data prepared from ``mamp-bench
  synth`` output), in a table whose caption opens by saying they are not comparable to published ones.

Every table names its metric; under it, each measured row's paired difference to the suite's
reference method over the seeds both were run with. Every measured row names its backbone (the registered
encoder's label) beside the method; the GCN family's 3-stream ensembles are rows of their own
(``results/ensemble.py``), and the caption says which protocol recipes (MAMP's, the GCN family's) the rows used.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mamp_bench.data.specs import DATASETS, get_dataset
from mamp_bench.errors import UserError
from mamp_bench.evaluation.protocol import TableColumn
from mamp_bench.registry import ENCODERS, METHODS, PROTOCOLS
from mamp_bench.results.ensemble import WEIGHTS_TEXT, ensembles
from mamp_bench.results.reported import reported
from mamp_bench.results.verify import left_out_summary

DASH = "—"
#: ``--metric`` choice -> record metric, and how captions name it
METRICS = {"best": "top1_best", "final": "top1_final", "last5": "top1_last5"}
METRIC_NAMES = {"top1_best": "best epoch", "top1_final": "final epoch", "top1_last5": "mean of the last 5 epochs"}
METRIC_NOTES = {
    "top1_best": "the maximum over epochs of the test accuracy, as the paper's scripts report",
    "top1_final": "the test accuracy after the last epoch",
    "top1_last5": "the mean test accuracy of the last 5 epochs, robust to choosing the epoch on the test set",
}


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
    by_seed: dict[int, float] = field(default_factory=dict)  # measured: seed -> value
    records: dict[int, str] = field(default_factory=dict)  # measured: seed -> config hash of the record that gave it
    reported: float | None = None
    best: bool = False  # the best published number of its column

    @property
    def values(self) -> list[float]:
        return sorted(self.by_seed.values())

    @property
    def mean(self) -> float | None:
        return float(np.mean(self.values)) if self.by_seed else None

    @property
    def std(self) -> float:
        return float(np.std(self.values, ddof=1)) if len(self.by_seed) > 1 else 0.0


@dataclass
class Row:
    label: str
    kind: str  # "measured" or "reported"
    cells: list[Cell]
    method: str
    protocol: str | None = None
    overrides: dict[str, str] = field(default_factory=dict)
    notes: list[int] = field(default_factory=list)  # reported: numbers of its sources' footnotes
    gaps: list[float | None] = field(default_factory=list)


@dataclass
class Comparison:
    row: str
    column: str
    n: int
    mean_difference: float | None
    std_difference: float | None
    t: float | None
    p: float | None


#: the kinds of table, in the order they are shown
KINDS = ("real", "custom", "synthetic")
#: the scale whose recipe the published numbers used
PUBLISHED_SCALE = "paper"


@dataclass
class Table:
    name: str
    metric: str
    columns: tuple[TableColumn, ...]
    rows: list[Row]
    kind: str = "real"  # one of KINDS
    scales: tuple[str, ...] = ()
    fidelities: tuple[str, ...] = ()  # of the measured rows
    recipes: tuple[str, ...] = ()  # the recipe families of the measured rows
    sources: list[str] = field(default_factory=list)  # footnote n is sources[n - 1]
    reference: str = ""  # the method the comparisons are against
    comparisons: list[Comparison] = field(default_factory=list)
    left_out: list[tuple[Any, str]] = field(default_factory=list)  # (record file, why) of its protocols left out

    @property
    def synthetic(self) -> bool:
        return self.kind == "synthetic"

    @property
    def measured(self) -> bool:
        return any(row.kind == "measured" for row in self.rows)

    @property
    def column_labels(self) -> list[str]:
        return [f"{c.label} (synthetic)" if self.synthetic else c.label for c in self.columns]

    def left_out_note(self) -> str:
        """One sentence on the records of this table's protocols that were left out ('' when none were)."""
        text = left_out_summary(self.left_out)
        return text[:1].upper() + text[1:] + "." if text else ""

    def caption(self) -> str:
        what = f"`{self.name}` ({PROTOCOLS.get(self.name).description})"
        metric = f"metric: {METRIC_NAMES[self.metric]} ({METRIC_NOTES[self.metric]})"
        scale = f" at the {'/'.join(self.scales)} scale" if self.scales else ""
        fidelity = f", fidelity {'/'.join(self.fidelities)} (docs/fidelity.md)" if self.fidelities else ""
        if self.recipes:
            fidelity += f", recipe {'/'.join(self.recipes)}"
        measured = f"mean ± std over seeds (n seeds){scale}{fidelity}; {DASH}: not run"
        if self.synthetic:
            return (f"Synthetic stand-in data: these numbers are not comparable to published ones. {what}, "
                    f"top-1 accuracy (%), {metric}. Measured: {measured}.")  # fmt: skip
        if self.kind == "custom":
            return (f"Custom settings or unproven data: these numbers are not comparable to published ones. {what}, "
                    f"top-1 accuracy (%), {metric}. Each row names why it is here: its settings that differ from "
                    f"the recipe, its scale (published numbers use the {PUBLISHED_SCALE} recipe), or data not "
                    "proven to be the benchmark, with its training / test clips. "
                    f"Measured: {measured}.")  # fmt: skip
        text = f"{what} on the real benchmarks, top-1 accuracy (%), {metric}. " + (
            f"Measured rows: {measured}; Δ vs reported: the mean gap to the method's published figure on the "
            "same dataset, split and protocol." if self.measured else "The results store holds no run on real "
            "data yet: every row is a published figure."
        )  # fmt: skip
        if any(row.kind == "reported" for row in self.rows):
            text += (f" Published rows: ordered by year, then by their {self.columns[0].label} figure, lowest first "
                     "(rows without one last in their year); the best published number of each column in bold; "
                     "sources in the notes.")  # fmt: skip
        return text


def _benchmark(name: Any) -> Any:
    """The real benchmark a dataset name stands for (synthetic stand-ins and the GCN chain's files map to theirs)."""
    if isinstance(name, str) and name in DATASETS:
        return get_dataset(name).benchmark
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
    """For a method with several rows, label each by the overrides that differ."""
    labels: dict[str, str] = {}
    for _, group in frame.groupby(["method", "protocol", "scale"]):
        rows = group.drop_duplicates("row")
        if len(rows) < 2:
            continue
        dicts = list(rows["overrides"])
        keys = sorted({k for d in dicts for k in d if len({repr(x.get(k)) for x in dicts}) > 1})
        for row, d in zip(rows["row"], dicts, strict=True):
            shown = [k for k in keys if not k.startswith(("pretrain.max", "workers"))]
            labels[row] = ", ".join(f"{k.split('.', 1)[-1]}={d[k]}" for k in shown[:3] if k in d)
    return labels


def table_kind(frame: pd.DataFrame) -> pd.Series:
    """Which table each measured record goes to (``KINDS``): synthetic data; real only for data proven to
    be the benchmark, at the published scale, with no setting that differs from the recipe; else custom."""
    if not len(frame):
        return pd.Series([], dtype=object)
    published = (frame["data"] == "real") & (frame["scale"] == PUBLISHED_SCALE) & frame["custom"].apply(lambda c: not c)
    kinds = ["synthetic" if synthetic else "real" if ok else "custom"
             for synthetic, ok in zip(frame["synthetic"].astype(bool), published, strict=True)]  # fmt: skip
    return pd.Series(kinds, index=frame.index)


def build_tables(
    name: str,
    frame: pd.DataFrame,
    scale: str | None = None,
    metric: str = "top1_best",
    include_reported: bool = True,
    methods: Iterable[str] | None = None,
    left_out: Iterable[tuple[Any, str]] = (),
) -> list[Table]:
    """The table of real-data results (measured rows and the published ones), and, when there are such
    records, the custom table and the synthetic one apart from it. ``left_out``: (record file, why) of the
    records that did not verify; each table names those of its protocols."""
    protocols, _ = layout(name)
    data = frame[frame["protocol"].isin(protocols)]
    if scale:
        data = data[data["scale"] == scale]
    if methods is not None:
        data = data[data["method"].isin(list(methods))]
    kinds = table_kind(data)
    mine = [(path, why) for path, why in left_out if _record_protocol(path) in (*protocols, None)]
    tables = []
    for kind in KINDS:
        part = data[kinds == kind] if len(data) else data
        if len(part) or (kind == "real" and include_reported):
            tables.append(_table(name, part, metric, kind, include_reported and kind == "real"))
    if tables:
        tables[0].left_out = mine
    return tables


def _record_protocol(path: Any) -> str | None:
    """The protocol folder of a record file (``.../records/<protocol>/...``), or None when it is not in one."""
    parts = Path(str(path)).parts
    return parts[parts.index("records") + 1] if "records" in parts[:-1] else None


def build_table(name: str, frame: pd.DataFrame, scale: str | None = None, metric: str = "top1_best",
                include_reported: bool = True, kind: str = "real") -> Table:  # fmt: skip
    """One of ``build_tables``: the real-data table, the custom one or the synthetic one."""
    for table in build_tables(name, frame, scale, metric, include_reported):
        if table.kind == kind:
            return table
    return _table(name, frame.iloc[0:0], metric, kind, include_reported=False)


def _table(name: str, data: pd.DataFrame, metric: str, kind: str, include_reported: bool) -> Table:
    protocols, columns = layout(name)
    scales, fidelities, recipes = (tuple(sorted(set(data[key].dropna()))) for key in ("scale", "fidelity", "recipe"))
    table = Table(name, metric, columns, [], kind, scales, fidelities, recipes)
    table.rows = _measured_rows(name, data, metric, columns, protocols, table.scales, kind)
    if metric == "top1_best":  # the ensemble sums its streams' best evaluations, as the reference
        table.rows += _ensemble_rows(name, data, columns, protocols, table.scales, kind)
    if kind != "real":  # only the columns that were run: the others would be all dashes
        run = [i for i in range(len(columns)) if any(row.cells[i].by_seed for row in table.rows)]
        table.columns = tuple(columns[i] for i in run)
        for row in table.rows:
            row.cells = [row.cells[i] for i in run]
    if include_reported:
        table.rows += _reported_rows(columns, table.sources)
    table.reference = METHODS.default()
    table.comparisons = compare_rows(table)
    return table


def _measured_rows(name, data, metric, columns, protocols, scales, kind) -> list[Row]:
    variants = _variant_labels(data) if len(data) else {}
    keys = ["method", "protocol", "scale", "row"]  # fidelity is in the row when it is not the recipe's
    order = lambda item: (protocols.index(item[0][1]), method_rank(item[0][0]), item[0][3])  # noqa: E731
    groups = sorted(data.groupby(keys, sort=False), key=order) if len(data) else []
    rows = []
    for (method, proto, row_scale, row_key), group in groups:
        parts = [backbone(group["encoder"]), proto if proto != name else ""]
        parts.append(_why_custom(group) if kind == "custom" else variants.get(row_key, ""))
        label = f"{method} ({'; '.join(part for part in parts if part)})"
        if kind != "custom":
            label += f" [{row_scale}]" if len(scales) > 1 else ""
        fidelities = set(group["fidelity"])
        label += f" [fidelity {'/'.join(sorted(fidelities))}]" if len(set(data["fidelity"])) > 1 else ""
        cells = []
        for column in columns:
            chosen = group.loc[_column_mask(group, column)].dropna(subset=[metric])
            pairs = list(zip(chosen["seed"], chosen[metric], chosen["config_hash"], strict=True))
            cells.append(Cell({int(seed): float(value) for seed, value, _ in pairs},
                              {int(seed): str(digest) for seed, _, digest in pairs}))  # fmt: skip
        row = Row(label, "measured", cells, method, proto, dict(group["overrides"].iloc[0]))
        if kind == "real" and proto == name:
            row.gaps = _gaps(method, "", cells, columns)
        rows.append(row)
    return rows


def _gaps(method: str, suffix: str, cells: list[Cell], columns: tuple[TableColumn, ...]) -> list[float | None]:
    """Each cell's gap to the method's published figure (its ``reported_as`` rows, + ``suffix``: "-3s" for its
    3-stream ensemble) on the same column; [] when it has none."""
    counterpart = METHODS.get(method).reported_as if method in METHODS else None
    if not counterpart:
        return []
    rep = _reported_cells(counterpart + suffix, columns)
    return [None if c.mean is None or r.reported is None else c.mean - r.reported
            for c, r in zip(cells, rep, strict=True)]  # fmt: skip


def backbone(encoders: Iterable[str]) -> str:
    """How a table names the backbone of a row's records (the registered encoders' labels)."""
    names = sorted({str(e) for e in encoders})
    return "/".join(ENCODERS.get(n).label if n in ENCODERS else n for n in names)


def _ensemble_rows(name, data, columns, protocols, scales, kind) -> list[Row]:
    """The 3-stream ensembles of the table's records (``results/ensemble.py``): one row per method, protocol,
    scale and other settings, a cell per benchmark and seed."""
    rows = []
    for (method, proto, row_scale, _), values in ensembles(data):
        if proto not in protocols:
            continue
        members = data[(data["method"] == method) & (data["protocol"] == proto)]
        parts = [backbone(members["encoder"]), proto if proto != name else "", WEIGHTS_TEXT]
        label = f"3s-{method} ({'; '.join(part for part in parts if part)})"
        label += f" [{row_scale}]" if len(scales) > 1 else ""
        cells = [Cell({seed: v for (dataset, seed), v in values.items()
                       if not column.setting and _benchmark(dataset) == column.dataset})
                 for column in columns]  # fmt: skip
        row = Row(label, "measured", cells, method, proto)
        if kind == "real" and proto == name:
            row.gaps = _gaps(method, "-3s", cells, columns)
        rows.append(row)
    return rows


def _why_custom(group: pd.DataFrame) -> str:
    """Why a row is not beside published numbers: its settings, its scale, its unproven data with its clips."""
    first = group.iloc[0]
    parts = [", ".join(f"{k}={v}" for k, v in first["custom"].items())] if first["custom"] else []
    if first["scale"] != PUBLISHED_SCALE:
        parts.append(f"{first['scale']} scale")
    if (group["data"] != "real").any():
        parts.append("data not proven to be the benchmark")
    clips = sorted(
        {
            f"{_count(t)} train / {_count(c)} test clips"
            for t, c in zip(group["train_clips"], group["test_clips"], strict=True)
        }
    )
    return "; ".join(parts + clips[:2])  # fmt: skip


def _count(value: Any) -> str:
    return "?" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{int(value):,}"


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


def _reported_rows(columns: tuple[TableColumn, ...], sources: list[str]) -> list[Row]:
    """Published rows of the table's columns, ordered by year, then by their figure in the table's first column
    (rows without one last in their year), the best of each column marked; their sources become numbered notes
    (appended to ``sources``)."""
    rep = reported()
    rep = rep[rep["protocol"].isin({c.reported for c in columns if c.reported})]
    rows = []
    for method, group in rep.groupby("method"):
        cells = _reported_cells(method, columns)
        if all(c.reported is None for c in cells):
            continue
        venue = group["venue"].iloc[0]
        rows.append((int(group["year"].iloc[0]), Row(f"{method} ({venue})", "reported", cells, method),
                     sorted(set(group["source"]))))  # fmt: skip
    rows.sort(key=lambda item: (item[0], *_first_column(item[1]), item[1].label))
    for column in range(len(columns)):
        values = [row.cells[column].reported for _, row, _ in rows if row.cells[column].reported is not None]
        for _, row, _ in rows:
            row.cells[column].best = bool(values) and row.cells[column].reported == max(values)
    for _, row, row_sources in rows:
        for source in row_sources:
            if source not in sources:
                sources.append(source)
            row.notes.append(sources.index(source) + 1)
    return [row for _, row, _ in rows]


def _first_column(row: Row) -> tuple[bool, float]:
    """A published row's sort key within its year: its figure in the table's first column (none: after)."""
    value = row.cells[0].reported
    return (value is None, value or 0.0)


def compare_rows(table: Table) -> list[Comparison]:
    """Each measured row against the reference method's default row, paired over shared seeds."""
    measured = [r for r in table.rows if r.kind == "measured"]
    base = next((r for r in measured if r.method == table.reference and r.protocol == table.name and not r.overrides),
                None)  # fmt: skip
    if base is None:
        return []
    out = []
    for row in measured:
        if row is base:
            continue
        for label, mine, theirs in zip(table.column_labels, row.cells, base.cells, strict=True):
            seeds = sorted(set(mine.by_seed) & set(theirs.by_seed))
            if seeds:
                a, b = [mine.by_seed[s] for s in seeds], [theirs.by_seed[s] for s in seeds]
                out.append(paired(row.label, label, a, b))
    return out


def paired(row: str, column: str, a: list[float], b: list[float]) -> Comparison:
    """Mean and std of ``a - b`` and the paired t-test (None where it is undefined)."""
    from scipy import stats

    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    t = p = None
    if len(diff) >= 2 and np.std(diff) > 0:
        result = stats.ttest_rel(a, b)
        t, p = float(result.statistic), float(result.pvalue)
    std = float(diff.std(ddof=1)) if len(diff) > 1 else None
    return Comparison(row, column, len(diff), float(diff.mean()), std, t, p)


def compare(frame: pd.DataFrame, name: str, a: str, b: str, scale: str | None = None,
            metric: str = "top1_best") -> list[Comparison]:  # fmt: skip
    """Paired t-test of method ``a`` against ``b`` (their default rows) over shared seeds, per column."""
    protocols, columns = layout(name)
    data = frame[(frame["protocol"] == protocols[0]) & frame["overrides"].apply(lambda o: not o)]
    if scale:
        data = data[data["scale"] == scale]
    out = []
    kinds = table_kind(data)
    for kind in KINDS:
        part = data[kinds == kind] if len(data) else data
        if part.empty:  # no record of this kind: nothing to pair (and no pandas work for nothing)
            continue
        for column in columns:
            sub = part[_column_mask(part, column)]
            left = sub[sub["method"] == a].groupby("seed")[metric].mean()
            right = sub[sub["method"] == b].groupby("seed")[metric].mean()
            seeds = sorted(set(left.index) & set(right.index))
            if seeds:
                label = column.label if kind == "real" else f"{column.label} ({kind})"
                out.append(paired(f"{a} - {b}", label, [left[s] for s in seeds], [right[s] for s in seeds]))
    return out


def fmt_number(value: float | None, spec: str) -> str:
    return DASH if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)
