"""Readers for PKU-MMD raw files (Phase I and II share the formats).

* skeleton: one text file per untrimmed video, one line per frame of 150 numbers
  (body 1's 25 joints x xyz, then body 2's; zeros where a body is absent);
* label: one file per video, rows ``action_id,start_frame,end_frame,confidence`` with 1-based
  action ids (1..51) and 1-based frame numbers;
* split: 4 lines, ``Training videos:`` / a comma-separated list / a header / the test list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mamp_bench.errors import DataFormatError

PKU_NUM_CLASSES = 51
FRAME_VALUES = 150
PHASE1_NAME = re.compile(r"^\d{4}-[LMR]$")
PHASE2_NAME = re.compile(r"^A\d{2}N\d{2}-[LMR]$")


def read_pku_skeleton(path: str | Path) -> np.ndarray:
    """(T, 150) float32 raw camera coordinates of one video."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataFormatError(f"cannot read {path.name}: {exc.strerror or exc}") from exc
    return parse_pku_skeleton(data)


def parse_pku_skeleton(data: bytes) -> np.ndarray:
    """(T, 150) float32 from the bytes of a skeleton file; DataFormatError with the reason."""
    lines = [line for line in data.splitlines() if line.strip()]
    if not lines:
        raise DataFormatError("empty skeleton file")
    widths = np.fromiter(map(len, map(bytes.split, lines)), dtype=np.int64, count=len(lines))
    if (widths != FRAME_VALUES).any():
        bad = int(np.flatnonzero(widths != FRAME_VALUES)[0])
        raise DataFormatError(f"line {bad + 1} has {widths[bad]} values, expected {FRAME_VALUES}")
    try:
        values = np.array(data.split(), dtype=np.float64)
    except ValueError:
        raise DataFormatError("non-numeric value in skeleton file") from None
    if not np.isfinite(values).all():
        frame = int(np.flatnonzero(~np.isfinite(values))[0]) // FRAME_VALUES
        raise DataFormatError(f"NaN or infinite value in frame {frame + 1}")
    return values.reshape(-1, FRAME_VALUES).astype(np.float32)


@dataclass(frozen=True)
class LabelRow:
    action: int  # 1-based class id
    start: int  # 1-based frame number as written
    end: int
    confidence: int | None


def read_pku_labels(path: str | Path) -> list[LabelRow]:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataFormatError(f"cannot read label file {path.name}: {exc.strerror or exc}") from exc
    return parse_pku_labels(data, path.name)


def parse_pku_labels(data: bytes, name: str = "?") -> list[LabelRow]:
    """Rows of a label file from its bytes; DataFormatError naming the line at fault."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise DataFormatError(f"label file {name} is not text") from None
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        fields = [f.strip() for f in line.split(",") if f.strip()]
        if not fields:
            continue
        try:
            values = [int(float(f)) for f in fields]
        except (ValueError, OverflowError):  # not a number, NaN, or infinite
            raise DataFormatError(f"label file {name} line {number} is not numeric: {line.strip()[:60]!r}") from None
        if len(values) < 3:
            raise DataFormatError(f"label file {name} line {number} has {len(values)} fields, expected 4")
        rows.append(LabelRow(values[0], values[1], values[2], values[3] if len(values) > 3 else None))
    return rows


def read_pku_split(path: str | Path) -> tuple[list[str], list[str]]:
    """(train videos, test videos) from a 4-line split file; a trailing comma is allowed."""
    path = Path(path)
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    if len(lines) < 2 or ":" not in lines[0]:
        raise DataFormatError(
            f"split file {path.name} is not in the 4-line format (header, train list, header, test list)"
        )
    lines += [""] * (4 - len(lines))

    def names(line: str) -> list[str]:
        return [name.strip() for name in line.split(",") if name.strip()]

    return names(lines[1]), names(lines[3])
