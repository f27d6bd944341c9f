"""Where prepared data came from, and what it proves it is.

* **The synthetic mark.** ``mamp-bench synth`` (and the synthetic defaults) write ``mamp-bench-synthetic.json``
  at the root of every raw tree they generate. ``prepare`` looks for it in ``--raw`` and the folders above,
  and writes what it found into the manifest and into every ``.npz`` it writes (a ``provenance`` member,
  which the reference feeder ignores; it names no path, so the same data is the same file on every machine).
* **The fingerprint.** ``fingerprint`` identifies a prepared file by its content: the names, sizes and CRC-32s
  of its data arrays (not the ``provenance`` member, not the file's path or compression), read from the zip
  directory. The same data has the same fingerprint on every machine, in every HOME, after every regeneration.
* **The status.** ``data_status`` says what a prepared file is: ``synthetic`` (a stand-in, or prepared from a
  marked raw tree), ``real`` (only when proven: a manifest from ``prepare`` beside it whose sha256 is the
  file's, and the benchmark's official clip counts, or for PKU-MMD the complete set of raw videos), or
  ``unverified`` (anything else: a re-saved array, a partial preparation, a toy tree), with the reason.
  Only ``real`` results stand beside published numbers.
* **The labels.** ``labels_sha256`` of the evaluated split ties a record's per-clip predictions to the data.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.lib import format as npy_format

from mamp_bench.data.npzio import open_npz_array, open_split
from mamp_bench.errors import DataFormatError, UserError
from mamp_bench.fileio import read_json, sha256_file, write_json
from mamp_bench.version import __version__

if TYPE_CHECKING:
    from mamp_bench.data.specs import DatasetSpec

MARKER = "mamp-bench-synthetic.json"
NPZ_MEMBER = "provenance"
#: Size bounds: a synthetic mark and a ``provenance`` member hold a few keys (under 1 KB); 64 KiB.
MAX_PROVENANCE_BYTES = 64 << 10


def manifest_file(prefix: str) -> str:
    """The manifest ``prepare`` writes beside the files of a family (``NTU60`` -> ``NTU60_manifest.json``)."""
    return f"{prefix}_manifest.json"


def mark_synthetic(root: Path, generator: str, **details: Any) -> None:
    """Mark a generated raw tree as synthetic."""

    write_json(root / MARKER, {"synthetic": True, "generator": generator, "suite_version": __version__, **details})


def raw_provenance(raw: Path) -> dict[str, Any]:
    """The synthetic mark of a raw tree (in ``raw`` or a folder above it), or ``{"synthetic": False}``. The
    mark's place is given relative to ``raw`` (``../mamp-bench-synthetic.json``): no machine's path."""

    for up, folder in enumerate([raw, *raw.resolve().parents]):
        marker = folder / MARKER
        if os.path.lexists(marker):
            try:
                found = read_json(marker, "synthetic mark", MAX_PROVENANCE_BYTES)
            except DataFormatError:
                found = {}
            details = {k: v for k, v in found.items() if k != "marker"} if isinstance(found, dict) else {}
            return {**details, "synthetic": True, "marker": "/".join([".."] * up + [MARKER])}
    return {"synthetic": False}


def provenance_array(provenance: dict[str, Any]) -> np.ndarray:
    """The ``provenance`` member of a prepared ``.npz``: the JSON text in a (1,) unicode array."""
    return np.array([json.dumps(provenance, sort_keys=True)])


def fingerprint(path: Path) -> str | None:
    """The identity of a prepared ``.npz``'s content: the sha256 of its data members' names, sizes and
    CRC-32s (of the uncompressed bytes), read from the zip directory (no array is read); the ``provenance``
    member, the file's path and its compression do not count. None when the file cannot be read. A run
    records it, so a checkpoint or a record is never reused on data that changed since. Read once per file
    version and process."""
    version = _version(path)
    return None if version is None else _fingerprint(*version)


def _version(path: Path) -> tuple[str, int, int, int] | None:
    """(path, inode, mtime, size): what the caches of this module are keyed by (a rewrite changes it)."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return str(path), info.st_ino, info.st_mtime_ns, info.st_size


@functools.lru_cache(maxsize=32)
def _fingerprint(path: str, inode: int, mtime_ns: int, size: int) -> str | None:
    try:
        with zipfile.ZipFile(path) as archive:
            members = sorted((i.filename, i.file_size, i.CRC) for i in archive.infolist()
                             if i.filename != f"{NPZ_MEMBER}.npy")  # fmt: skip
    except (OSError, ValueError, zipfile.BadZipFile):
        return None
    return hashlib.sha256(json.dumps(members).encode()).hexdigest()


def file_provenance(path: Path) -> dict[str, Any]:
    """What a prepared ``.npz`` says of its origin (``{}`` when it says nothing)."""
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo(f"{NPZ_MEMBER}.npy")
            if info.file_size > MAX_PROVENANCE_BYTES:
                return {}
            with archive.open(info) as member:
                text = str(npy_format.read_array(member, allow_pickle=False)[0])
        found = json.loads(text)
    except (OSError, ValueError, KeyError, IndexError, zipfile.BadZipFile):
        return {}
    return found if isinstance(found, dict) else {}


def labels_sha256(labels: np.ndarray) -> str:
    """The sha256 of class indices (N,) as little-endian int64: what ties a record's predictions to the
    labels of the split it evaluated."""
    return hashlib.sha256(np.ascontiguousarray(labels, dtype="<i8").tobytes()).hexdigest()


def split_labels_sha256(path: Path, split: str = "test") -> str:
    """``labels_sha256`` of the labels of one split of a prepared file (read from its one-hot ``y_<split>``)."""
    return labels_sha256(open_split(Path(path), split)[1])


@dataclass(frozen=True)
class DataStatus:
    """What a prepared file is: ``kind`` "real", "synthetic" or "unverified", and why."""

    kind: str
    reason: str  # what proved it real, or why it is synthetic or unverified
    fingerprint: str | None
    train_clips: int
    test_clips: int
    labels_sha256: str  # of the test split

    def to_record(self) -> dict[str, Any]:
        """The ``status`` entry of a record's ``data.evaluated`` (and ``data.pretrained_on``)."""
        return asdict(self)


def data_status(path: Path, spec: DatasetSpec) -> DataStatus:
    """The status of the prepared file ``path`` that ``spec`` resolved to (see the module's docstring).
    Proving ``real`` hashes the file once per file version and process."""
    version = _version(Path(path))
    if version is None:
        raise UserError(f"prepared data file {path} does not exist")
    return _status(*version, spec)


@functools.lru_cache(maxsize=8)
def _status(path_text: str, inode: int, mtime_ns: int, size: int, spec: DatasetSpec) -> DataStatus:

    path = Path(path_text)
    train, test = (len(open_npz_array(path, f"x_{split}")) for split in ("train", "test"))
    kind, reason = _kind(path, spec, train, test)
    return DataStatus(kind, reason, fingerprint(path), train, test, split_labels_sha256(path))


def _kind(path: Path, spec: DatasetSpec, train: int, test: int) -> tuple[str, str]:

    if spec.synthetic:
        return "synthetic", f"{spec.name} is a synthetic stand-in"
    if file_provenance(path).get("synthetic"):
        return "synthetic", "prepared from a raw tree that `mamp-bench synth` generated"
    manifest_path = path.parent / spec.manifest_name
    try:
        manifest = read_json(manifest_path, "preparation manifest")
    except DataFormatError as exc:
        return "unverified", f"no manifest of `mamp-bench prepare` beside it ({str(exc).splitlines()[0]})"
    entries = manifest.get("splits", {}) if isinstance(manifest, dict) else {}
    entry = next((e for e in entries.values() if isinstance(e, dict) and e.get("file") == path.name), None)
    if entry is None:
        return "unverified", f"{manifest_path.name} does not describe {path.name}"
    if manifest.get("synthetic"):
        return "synthetic", f"{manifest_path.name} says it was prepared from synthetic raw files"
    if entry.get("sha256") != sha256_file(path, what="prepared data file"):
        return "unverified", f"{path.name} is not the file {manifest_path.name} describes (sha256 differs)"
    counts = f"{train:,} train / {test:,} test clips"
    if spec.official_clips is not None:
        if (train, test) != spec.official_clips:
            official = "{:,} / {:,}".format(*spec.official_clips)
            return "unverified", f"{counts}; {spec.description} has {official} (a partial or a toy preparation)"
        return "real", f"prepared by `mamp-bench prepare` ({manifest_path.name}), the official {counts}"
    found, videos_skipped = manifest.get("files_found"), _whole_files_skipped(manifest)
    if found != spec.official_files or videos_skipped:
        return "unverified", (f"prepared from {found} raw files ({videos_skipped} skipped whole); a complete "
                              f"{spec.description} has {spec.official_files:,}")  # fmt: skip
    return "real", f"prepared by `mamp-bench prepare` ({manifest_path.name}) from all {found:,} raw videos: {counts}"


def _whole_files_skipped(manifest: dict[str, Any]) -> int:
    """Raw files a preparation skipped whole (a PKU label row skipped is ``<video> row <n>``, not counted)."""
    skipped = manifest.get("skipped") or []
    return sum(1 for s in skipped if isinstance(s, dict) and " row " not in str(s.get("item", "")))


def check_prepared_folder(path: Path, spec: DatasetSpec) -> None:
    """``UserError`` naming the file when a prepared folder mixes generations: a file its manifest lists is
    there but is not the one the manifest describes (an interrupted re-preparation, a file copied in from
    elsewhere). Cheap: fingerprints only. A folder without a manifest, or a manifest without fingerprints
    (an older preparation), is not checked here (``data_status`` then calls the data unverified)."""

    manifest_path = Path(path).parent / spec.manifest_name
    if not os.path.lexists(manifest_path):
        return
    manifest = read_json(manifest_path, "preparation manifest")
    for entry in (manifest.get("splits") or {}).values() if isinstance(manifest, dict) else ():
        if not isinstance(entry, dict) or not entry.get("fingerprint") or not isinstance(entry.get("file"), str):
            continue
        listed = manifest_path.parent / Path(entry["file"]).name
        if os.path.lexists(listed) and fingerprint(listed) != entry["fingerprint"]:
            raise UserError(
                f"{listed} is not the file {manifest_path.name} describes (another preparation, or an interrupted "
                f"one): prepare {manifest_path.parent} again, or remove the files of the other generation"
            )
