"""What the site shows, gathered once from the results store and the tables.

Built on the suite's own functions, so that changes elsewhere flow through: the records that verify
(``results/verify.check_store``: each distinct measurement once, with its evidence and its loaded
predictions), their frame (``results/frame.results_frame``) and every table ``results/tables.build_tables``
lays out from the registries (real, custom and synthetic apart; published rows with their sources; paired
differences). The record fields the site reads itself are listed in ``RECORD_FIELDS``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from mamp_bench.config import config_hash
from mamp_bench.registry import PROTOCOLS
from mamp_bench.results.evidence import Evidence
from mamp_bench.results.frame import results_frame
from mamp_bench.results.store import ResultsStore
from mamp_bench.results.tables import Cell, Row, Table, build_tables, table_names
from mamp_bench.results.verify import check_store

#: every record field the site reads itself (the tables and the evidence checks read theirs); dotted: nested
RECORD_FIELDS = (
    "method",
    "protocol",
    "dataset",
    "seed",
    "scale",
    "config_hash",
    "row_hash",
    "fidelity",
    "setting",
    "overrides",
    "synthetic",
    "source_dataset",
    "protocol_config",
    "encoder.kind",
    "encoder.checkpoint",
    "encoder.checkpoint_sha256",
    "encoder.pretrain_seed",
    "data.evaluated.fingerprint",
    "data.pretrained_on.fingerprint",
    "metrics.top1_best",
    "metrics.top1_final",
    "metrics.top1_last5",
    "metrics.top5_final",
    "metrics.best_epoch",
    "metrics.epochs_run",
    "metrics.per_class_final",
    "metrics.test_clips",
    "environment.git_commit",
    "environment.git_dirty",
    "environment.suite_version",
    "environment.torch",
    "environment.device_name",
    "environment.processes",
    "wall_seconds",
    "created",
    "predictions.file",
    "log.file",
)
#: the site's own description of itself (every file it wrote), and the name it gives as its writer
MANIFEST = "site.json"
GENERATOR = "mamp-bench site"


@dataclass
class Measured:
    """A record that verifies, with its evidence and where it sits in the store."""

    record: dict[str, Any]
    source: Path  # the record file in the results store
    evidence: Evidence

    @property
    def name(self) -> str:
        """``<config hash>-s<seed>``: the record's file name, and how the site names it."""
        return self.source.stem

    @property
    def rel(self) -> str:
        """The record file's path in the site: the store's own layout under ``records/``."""
        r = self.record
        return f"records/{r['protocol']}/{r['dataset']}/{r['method']}/{self.source.name}"

    def beside(self, key: str) -> str | None:
        """The site path of a file the record names (``predictions``, ``log``), or None."""
        entry = self.record.get(key)
        if isinstance(entry, dict) and isinstance(entry.get("file"), str):
            return self.rel.rsplit("/", 1)[0] + "/" + entry["file"]
        return None


@dataclass
class RowPage:
    """One measured cell of a table (a row in one column): its seeds' records, on a page of its own."""

    table: Table
    row: Row
    column: int  # index into ``table.columns``
    records: list[Measured]
    path: str  # from the site's root

    @property
    def cell(self) -> Cell:
        return self.row.cells[self.column]


@dataclass
class Site:
    """Everything the pages show, gathered once."""

    metric: str
    frame: pd.DataFrame
    tables: dict[str, list[Table]]
    records: list[Measured]
    left_out: list[tuple[Path, str]]
    repeats: dict[Path, str]
    store_root: Path
    figures: list[str] = field(default_factory=list)  # file names under figures/
    rows: dict[int, RowPage] = field(default_factory=dict)  # id(cell) -> its page

    def page_of(self, cell: Cell) -> RowPage | None:
        return self.rows.get(id(cell))

    def pages_by_label(self, table: Table) -> dict[tuple[str, str], RowPage]:
        """(row label, column label) -> page, for the comparisons under a table (which name rows by label)."""
        labels = table.column_labels
        return {(p.row.label, labels[p.column]): p for p in self.rows.values() if p.table is table}


def tables_in_order() -> list[str]:
    """The tables, the default protocol's first (its page is the index), then by name."""
    return sorted(table_names(), key=lambda n: (n != PROTOCOLS.default(), n))


def table_page(name: str) -> str:
    """The page of a table: the default protocol's table is the index."""
    return "index.html" if name == PROTOCOLS.default() else f"{name}.html"


def gather(results_dir: str | os.PathLike[str] | None, metric: str) -> Site:
    """The records that verify, their frame and every table, and a page for each measured cell."""
    checked = check_store(results_dir)
    passed = {id(record) for record, _ in checked.passed()}  # what verifies, each measurement once
    measured = [Measured(record, path, evidence) for record, path, evidence in checked.checked if id(record) in passed]
    frame = results_frame([m.record for m in measured], [m.evidence for m in measured])
    left_out = checked.left_out()
    tables = {name: build_tables(name, frame, metric=metric, left_out=left_out) for name in table_names()}
    site = Site(metric, frame, tables, measured, left_out, dict(checked.repeats), ResultsStore(results_dir).root)
    by_key = {(m.record["config_hash"], int(m.record["seed"])): m for m in measured}
    for group in tables.values():
        for table in group:
            for row in table.rows:
                for i, cell in enumerate(row.cells):
                    if row.kind == "measured" and cell.records:
                        records = [by_key[(digest, seed)] for seed, digest in sorted(cell.records.items())]
                        path = _unused(row_page_path(records[0].record), {p.path for p in site.rows.values()})
                        site.rows[id(cell)] = RowPage(table, row, i, records, path)
    return site


def _unused(path: str, taken: set[str]) -> str:
    """``path``, or ``<path>-2.html`` and so on when another page has it (two cells of one row and setting)."""
    stem, n = path.removesuffix(".html"), 1
    while path in taken:
        n += 1
        path = f"{stem}-{n}.html"
    return path


def row_page_path(record: dict[str, Any]) -> str:
    """Where a measured cell's page goes: under its first record's protocol, dataset and method, named by its
    row hash (method, protocol, scale, settings) and, when the protocol has settings, their hash."""
    setting = record.get("setting") or {}
    name = str(record.get("row_hash") or record["config_hash"])
    if setting:
        name += "-" + config_hash(setting, 8)
    return f"rows/{record['protocol']}/{record['dataset']}/{record['method']}/{name}.html"
