"""Checking the claims of a results store: every record held to what it carries and, where given, to the
data (``results/evidence.py``); records that are unreadable, edited, misplaced or duplicated; copies."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mamp_bench.results.evidence import Evidence, check_measurements, check_record
from mamp_bench.results.store import ResultsStore


@dataclass
class Verification:
    records: int = 0  # record files checked
    problems: list[str] = field(default_factory=list)  # mismatches: a record whose own content does not verify
    notes: list[str] = field(default_factory=list)  # what could not be checked here, and why


@dataclass
class CheckedStore:
    """The valid records of a store with their evidence, and the files that are not records."""

    checked: list[tuple[dict[str, Any], Path, Evidence]]
    skipped: list[tuple[Path, str]]
    repeats: dict[Path, str]  # records that repeat an earlier seed's measurement (counted once)

    def passed(self) -> list[tuple[dict[str, Any], Evidence]]:
        """The records that verify, each distinct measurement once."""
        return [(r, e) for r, p, e in self.checked if e.ok and p not in self.repeats]

    def left_out(self) -> list[tuple[Path, str]]:
        """(file, first reason) of every record file left out of the tables for a problem."""
        return list(self.skipped) + [(p, e.problems[0]) for _, p, e in self.checked if not e.ok]


def check_store(root: str | Path | None = None, data_root: str | None = None, key: bytes | None = None,
                checkpoints: bool = False) -> CheckedStore:  # fmt: skip
    """Every record of a store checked (``check_record``) and compared with the others (``check_measurements``)."""
    store = ResultsStore(root)
    scan = store.scan()
    checked = []
    for record in scan.records:
        path = store.path_for(record)
        checked.append((record, path, check_record(record, path, data_root, key, checkpoints)))
    return CheckedStore(checked, scan.skipped, check_measurements(checked))


def verify_store(
    root: str | Path | None = None, data_root: str | None = None, key: bytes | None = None
) -> Verification:
    found = check_store(root, data_root, key, checkpoints=True)
    result = Verification(records=len(found.checked) + len(found.skipped))
    result.problems += [f"{path}: {reason}" for path, reason in found.skipped]
    for _, path, evidence in found.checked:
        result.problems += [f"{path}: {problem}" for problem in evidence.problems]
        result.notes += [f"{path}: {note}" for note in evidence.notes]
        if evidence.ok and evidence.data == "unverified":
            result.notes.append(f"{path}: real data unverified: {evidence.data_reason}")
    result.notes += [f"{path}: {note}" for path, note in found.repeats.items()]
    return result


def left_out_summary(left_out: list[tuple[Path, str]]) -> str:
    """One sentence on record files left out of the tables, counted by kind of reason ('' when none were)."""
    if not left_out:
        return ""
    kinds: dict[str, int] = {}
    for _, reason in left_out:
        kind = re.sub(r"\S+\.json|\S*/\S*|(?<![\w.])[-+]?\d[\d.e+-]*", "#", reason.split(": ", 1)[0].split(" (")[0])
        kinds[kind] = kinds.get(kind, 0) + 1
    listed = "; ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
    return f"left out {len(left_out)} record file(s) that do not verify ({listed}); `mamp-bench verify` lists them"
