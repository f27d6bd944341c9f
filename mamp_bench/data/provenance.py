"""Where prepared data came from: synthetic raw trees are marked, and the mark travels.

``mamp-bench synth`` (and the synthetic defaults) write ``mamp-bench-synthetic.json`` at the root
of every raw tree they generate. ``prepare`` looks for it in ``--raw`` and the folders above, and
writes what it found into the manifest and into every ``.npz`` it writes (a ``provenance`` member,
which the reference feeder ignores). A run reads it back from the file it trains or evaluates on,
so data prepared from synthetic raw files is recorded as synthetic whatever folder or dataset name
it was prepared under.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib import format as npy_format

MARKER = "mamp-bench-synthetic.json"
NPZ_MEMBER = "provenance"


def mark_synthetic(root: Path, generator: str, **details: Any) -> None:
    """Mark a generated raw tree as synthetic."""
    from mamp_bench.fileio import write_json
    from mamp_bench.version import __version__

    write_json(root / MARKER, {"synthetic": True, "generator": generator, "suite_version": __version__, **details})


def raw_provenance(raw: Path) -> dict[str, Any]:
    """The synthetic mark of a raw tree (in ``raw`` or a folder above it), or ``{"synthetic": False}``."""
    for folder in [raw, *raw.resolve().parents]:
        marker = folder / MARKER
        if marker.is_file():
            try:
                found = json.loads(marker.read_text())
            except (OSError, ValueError):
                found = {}
            return {**(found if isinstance(found, dict) else {}), "synthetic": True, "marker": str(marker)}
    return {"synthetic": False}


def provenance_array(provenance: dict[str, Any]) -> np.ndarray:
    """The ``provenance`` member of a prepared ``.npz``: the JSON text in a (1,) unicode array."""
    return np.array([json.dumps(provenance, sort_keys=True)])


def fingerprint(path: Path) -> str | None:
    """A cheap identity of a prepared ``.npz``'s content: the sha256 of its members' names, sizes and
    CRC-32s, read from the zip directory (no array is read); None when the file cannot be read. A run
    records it, so a checkpoint or a record is never reused on data that changed since. Read once per
    file version and process (a run asks for it at every step that could reuse something)."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return _fingerprint(str(path), stat.st_ino, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=32)
def _fingerprint(path: str, inode: int, mtime_ns: int, size: int) -> str | None:
    try:
        with zipfile.ZipFile(path) as archive:
            members = sorted((i.filename, i.file_size, i.CRC) for i in archive.infolist())
    except (OSError, ValueError, zipfile.BadZipFile):
        return None
    return hashlib.sha256(json.dumps(members).encode()).hexdigest()


def file_provenance(path: Path) -> dict[str, Any]:
    """What a prepared ``.npz`` says of its origin (``{}`` when it says nothing)."""
    try:
        with zipfile.ZipFile(path) as archive:
            if f"{NPZ_MEMBER}.npy" not in archive.namelist():
                return {}
            with archive.open(f"{NPZ_MEMBER}.npy") as member:
                text = str(npy_format.read_array(member, allow_pickle=False)[0])
        found = json.loads(text)
    except (OSError, ValueError, zipfile.BadZipFile):
        return {}
    return found if isinstance(found, dict) else {}
