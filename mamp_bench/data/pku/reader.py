"""Readers for PKU-MMD raw files (Phase I and II share the formats).

* skeleton: one text file per untrimmed video, one line per frame of 150 numbers
  (body 1's 25 joints x xyz, then body 2's; zeros where a body is absent);
* label: one file per video, rows ``action_id,start_frame,end_frame,confidence`` with 1-based
  action ids (1..51) and 1-based frame numbers;
* split: 4 lines, ``Training videos:`` / a comma-separated list / a header / the test list.

Only regular files within the size bounds below are read (anything else is refused with the reason),
and coordinates beyond the physical bound (``kinect.MAX_COORDINATE_M``) are refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mamp_bench.data.kinect import check_coordinates
from mamp_bench.errors import DataFormatError
from mamp_bench.fileio import read_regular

PKU_NUM_CLASSES = 51
FRAME_VALUES = 150

#: Size bounds, from the formats. Skeleton: one line a frame of 150 values printed %f-style ("-0.304560", at
#: most 11 bytes with the separator below 100 m; we allow 16); Phase I videos last 3-4 minutes at 30 fps
#: (about 7,000 frames; the real Phase II file here has 1,040 frames in 1.45 MB) and we allow 20 minutes
#: (36,000 frames): 86 MB.
MAX_VIDEO_FRAMES = 36_000
MAX_SKELETON_BYTES = MAX_VIDEO_FRAMES * FRAME_VALUES * 16
#: Label file: one row an action instance (about 20 a video: 21.5k over Phase I's 1,076 videos), 17 bytes
#: for "51,12345,12399,2"; we allow a row every 10 frames of the longest video at 64 bytes a row: 230 KB.
MAX_LABEL_BYTES = MAX_VIDEO_FRAMES // 10 * 64
#: Split file: two lists of at most every video of a phase (1,076 names of 6-8 characters and ", ", 11 KB);
#: 1 MiB is about 90 times that.
MAX_SPLIT_BYTES = 1 << 20
PHASE1_NAME = re.compile(r"^\d{4}-[LMR]$")
PHASE2_NAME = re.compile(r"^A\d{2}N\d{2}-[LMR]$")


def read_pku_skeleton(path: str | Path) -> np.ndarray:
    """(T, 150) float32 raw camera coordinates of one video."""
    return parse_pku_skeleton(read_regular(path, MAX_SKELETON_BYTES, "PKU-MMD skeleton file"))


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
    check_coordinates(values, lambda index: f"frame {index // FRAME_VALUES + 1}")
    return values.reshape(-1, FRAME_VALUES).astype(np.float32)


@dataclass(frozen=True)
class LabelRow:
    action: int  # 1-based class id
    start: int  # 1-based frame number as written
    end: int
    confidence: int | None


def read_pku_labels(path: str | Path) -> list[LabelRow]:
    path = Path(path)
    return parse_pku_labels(read_regular(path, MAX_LABEL_BYTES, "PKU-MMD label file"), path.name)


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
    lines = read_regular(path, MAX_SPLIT_BYTES, "PKU-MMD split file").decode("utf-8", errors="replace").splitlines()
    if len(lines) < 2 or ":" not in lines[0]:
        raise DataFormatError(
            f"split file {path.name} is not in the 4-line format (header, train list, header, test list)"
        )
    lines += [""] * (4 - len(lines))

    def names(line: str) -> list[str]:
        return [name.strip() for name in line.split(",") if name.strip()]

    return names(lines[1]), names(lines[3])
