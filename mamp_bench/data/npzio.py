"""The prepared-data files: ``.npz`` archives with ``x_train, y_train, x_test, y_test``.

``x_*`` is float32 (N, 300, 150): person-major, then joint, then xyz. ``y_*`` is the one-hot
label matrix (N, num_classes), float64 as the reference writes it.

* ``NpzStreamWriter`` writes an uncompressed archive array by array and row by row, so a full
  NTU-120 split never has to sit in memory twice; it writes to a temporary file and renames
  it at the end, so an interrupted preparation leaves no half-written ``.npz``.
* ``open_npz_array`` memory-maps one member of an uncompressed archive (``np.load`` cannot
  memory-map inside an ``.npz``: with ``mmap_mode`` it still reads the whole member); a compressed
  member is decompressed once per process and kept (read-only).
* ``open_split`` opens one split, checked (shapes, dtype, one-hot labels); ``check_splits`` both, against
  the number of classes of the dataset the file stands for.
"""

from __future__ import annotations

import contextlib
import functools
import os
import struct
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format

from mamp_bench.data.kinect import NUM_JOINTS, NUM_PERSONS
from mamp_bench.errors import DataFormatError, UserError
from mamp_bench.fileio import check_regular, make_temporary, open_regular, storage_error

SPLIT_KEYS = ("x_train", "y_train", "x_test", "y_test")


class _ArrayStream:
    def __init__(self, handle, dtype: np.dtype, row_shape: tuple[int, ...], rows: int):
        self._handle = handle
        self._dtype = dtype
        self._row_shape = row_shape
        self._remaining = rows

    def write(self, rows: np.ndarray) -> None:
        rows = np.ascontiguousarray(rows, dtype=self._dtype)
        if rows.shape[1:] != self._row_shape:
            raise ValueError(f"row shape {rows.shape[1:]} != {self._row_shape}")
        if len(rows) > self._remaining:
            raise ValueError("more rows written than declared")
        self._remaining -= len(rows)
        self._handle.write(rows.tobytes())


class NpzStreamWriter:
    """Write an uncompressed ``.npz`` member by member; atomic on ``close``."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        try:
            fd, self._tmp = make_temporary(self.path)
        except OSError as exc:
            raise storage_error(self.path, exc) from None
        os.close(fd)
        self._zip = zipfile.ZipFile(self._tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True)

    @contextlib.contextmanager
    def array(self, key: str, dtype, shape: tuple[int, ...]) -> Iterator[_ArrayStream]:
        dtype = np.dtype(dtype)
        header = {"descr": npy_format.dtype_to_descr(dtype), "fortran_order": False, "shape": tuple(shape)}
        with self._zip.open(f"{key}.npy", "w", force_zip64=True) as member:
            npy_format.write_array_header_1_0(member, header)
            stream = _ArrayStream(member, dtype, tuple(shape[1:]), shape[0])
            yield stream
            if stream._remaining:
                raise ValueError(f"{key}: {stream._remaining} declared rows were not written")

    def write_array(self, key: str, array: np.ndarray) -> None:
        with self.array(key, array.dtype, array.shape) as stream:
            if len(array):
                stream.write(array)

    def close(self) -> None:
        try:
            self._zip.close()
            with open(self._tmp, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(self._tmp, self.path)
        except OSError as exc:
            self.abort()
            raise storage_error(self.path, exc) from None

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self._zip.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._tmp)

    def __enter__(self) -> NpzStreamWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
            return
        self.abort()
        if isinstance(exc, OSError):  # disk full or similar while writing a member
            raise storage_error(self.path, exc) from None


#: Size bound of a prepared ``.npz``: every clip of the largest benchmark (NTU-120, 114,480 files) as float32
#: (300, 150), its one-hot float64 label row over 120 classes, and 1 MiB of zip and array headers: 21 GB.
#: The arrays are memory-mapped, not read, so the bound only refuses what cannot be a prepared file.
MAX_NPZ_BYTES = 114_480 * (300 * 150 * 4 + 120 * 8) + (1 << 20)


def open_npz_array(path: str | os.PathLike[str], key: str, mmap: bool = True) -> np.ndarray:
    """One member of an ``.npz``, memory-mapped read-only when it is stored uncompressed. Only a regular
    file within the size bound is opened, and a member whose header declares more data than it holds
    (a shape of 10**9 clips in a small file) is refused before anything is allocated."""
    path = Path(path)
    check_regular(path, MAX_NPZ_BYTES, "prepared data file")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise DataFormatError(f"{path}: not a readable .npz archive ({exc})") from None
    with archive:
        try:
            info = archive.getinfo(f"{key}.npy")
        except KeyError:
            found = ", ".join(n.removesuffix(".npy") for n in archive.namelist())
            raise DataFormatError(f"{path}: no array {key!r} (found: {found or 'nothing'})") from None
        with archive.open(info) as member:
            shape, fortran, dtype, header_bytes = _array_header(member, path, key)
        _check_declared(path, key, shape, dtype, info.file_size - header_bytes)
        if info.compress_type != zipfile.ZIP_STORED:
            stat = path.stat()
            return _decompressed(str(path), key, stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if not mmap:
            with archive.open(info) as member:
                return npy_format.read_array(member, allow_pickle=False)
    offset = _stored_data_offset(path, info, key) + header_bytes
    if int(np.prod(shape)) == 0:
        return np.zeros(shape, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order="F" if fortran else "C")


def read_small_npz(path: str | os.PathLike[str], limit: int, what: str) -> dict[str, np.ndarray]:
    """Every array of a small ``.npz`` (a run's predictions), read into memory only after checking, from the
    zip directory and each member's ``.npy`` header, that the file is a regular file of at most ``limit``
    bytes, that its members' uncompressed sizes add up to at most ``limit`` (a small file whose member would
    expand to gigabytes is refused before anything is decompressed), that each header declares no more than
    its member holds, and that no array holds Python objects; ``DataFormatError`` with the reason otherwise."""
    path = Path(path)
    with open_regular(path, limit, what) as handle:
        try:
            archive = zipfile.ZipFile(handle)
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise DataFormatError(f"{what} {path} is not a readable .npz archive ({exc})") from None
        with archive:
            members = archive.infolist()
            expanded = sum(info.file_size for info in members)
            if expanded > limit:
                raise DataFormatError(f"{what} {path} expands to {expanded:,} bytes, more than the {limit:,} bytes "
                                      "its format allows; not read")  # fmt: skip
            arrays = {}
            for info in members:
                key = info.filename.removesuffix(".npy")
                try:
                    with archive.open(info) as member:
                        shape, _, dtype, header_bytes = _array_header(member, path, key)
                        _check_declared(path, key, shape, dtype, info.file_size - header_bytes)
                    with archive.open(info) as member:
                        arrays[key] = npy_format.read_array(member, allow_pickle=False)
                except (zipfile.BadZipFile, zlib.error, OSError, ValueError, EOFError) as exc:
                    raise DataFormatError(f"{what} {path}: array {key!r} cannot be read ({exc})") from None
    return arrays


@functools.lru_cache(maxsize=8)
def _decompressed(path: str, key: str, inode: int, mtime_ns: int, size: int) -> np.ndarray:
    """A compressed member (the synthetic stand-ins are stored so), decompressed once per process and
    file version (inode, mtime and size are part of the key); read-only, as a memory map would be."""
    try:
        with zipfile.ZipFile(path) as archive, archive.open(f"{key}.npy") as member:
            array = npy_format.read_array(member, allow_pickle=False)
    except (zipfile.BadZipFile, zlib.error, OSError, ValueError, EOFError) as exc:
        raise DataFormatError(f"{path}: array {key!r} cannot be decompressed ({exc})") from None
    array.flags.writeable = False
    return array


def _array_header(member, path: Path, key: str) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """(shape, fortran order, dtype, header length in bytes) of an ``.npy`` stream."""
    try:
        version = npy_format.read_magic(member)
        read_header = npy_format.read_array_header_1_0 if version == (1, 0) else npy_format.read_array_header_2_0
        shape, fortran, dtype = read_header(member)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataFormatError(f"{path}: array {key!r} has no valid .npy header ({exc})") from None
    if dtype.hasobject:
        raise DataFormatError(f"{path}: array {key!r} holds Python objects, refused")
    return shape, fortran, dtype, member.tell()


def _check_declared(path: Path, key: str, shape: tuple[int, ...], dtype: np.dtype, available: int) -> None:
    if any(int(n) < 0 for n in shape):
        raise DataFormatError(f"{path}: array {key!r} declares a negative dimension {tuple(shape)}")
    declared = dtype.itemsize
    for n in shape:
        declared *= int(n)
    if declared > available:
        raise DataFormatError(
            f"{path}: array {key!r} declares shape {tuple(shape)} ({declared:,} bytes) but holds {max(available, 0):,}"
        )


def _stored_data_offset(path: Path, info: zipfile.ZipInfo, key: str) -> int:
    """Where an uncompressed member's bytes start in the archive file."""
    with open(path, "rb") as handle:
        handle.seek(info.header_offset)
        local = handle.read(30)
    if len(local) < 30 or local[:4] != b"PK\x03\x04":
        raise DataFormatError(f"{path}: corrupt zip entry for {key!r}")
    name_len, extra_len = struct.unpack("<HH", local[26:30])
    return info.header_offset + 30 + name_len + extra_len


def labels_from_one_hot(y: np.ndarray, where: str) -> np.ndarray:
    """(N, classes) one-hot -> (N,) int64 class indices; each row must have exactly one 1."""
    y = np.asarray(y)
    if y.ndim != 2:
        raise DataFormatError(f"{where}: labels have shape {y.shape}, expected (N, num_classes)")
    if not np.isfinite(y).all():
        raise DataFormatError(f"{where}: labels contain NaN or infinite values")
    valid = (y == 0) | (y == 1)
    if not valid.all():
        row, col = (int(i[0]) for i in np.nonzero(~valid))
        raise DataFormatError(f"{where}: label row {row} holds {y[row, col]:g}; a one-hot row holds only 0 and 1")
    positive = y == 1
    counts = positive.sum(1)
    if (counts != 1).any():
        row = int(np.flatnonzero(counts != 1)[0])
        raise DataFormatError(f"{where}: label row {row} has {counts[row]} positive entries, expected 1")
    return np.argmax(positive, axis=1).astype(np.int64)


def open_split(path: Path, split: str) -> tuple[np.ndarray, np.ndarray, int]:
    """(clips (N, T, 150) memory-mapped, labels (N,), number of classes) of one split of a prepared ``.npz``,
    checked: a file that is not usable (no clips, no frames, bad labels) is a one-line ``DataFormatError``."""
    check_regular(path, MAX_NPZ_BYTES, "prepared data file")
    data = open_npz_array(path, f"x_{split}")
    one_hot = open_npz_array(path, f"y_{split}", mmap=False)
    labels = labels_from_one_hot(one_hot, f"{path.name} y_{split}")
    if data.ndim != 3 or data.shape[2] != NUM_PERSONS * NUM_JOINTS * 3:
        raise DataFormatError(f"{path.name} x_{split}: shape {data.shape}, expected (N, T, 150)")
    if data.dtype != np.float32:
        raise DataFormatError(f"{path.name} x_{split}: dtype {data.dtype}, expected float32")
    if len(data) == 0 or data.shape[1] == 0:
        raise DataFormatError(f"{path.name} x_{split}: shape {data.shape} holds no clips or no frames")
    if len(labels) != len(data):
        raise DataFormatError(f"{path.name}: {len(data)} clips but {len(labels)} labels in {split}")
    return data, labels, int(one_hot.shape[1])


def check_splits(path: Path, classes: int, name: str) -> dict[str, int]:
    """Both splits of a prepared file opened (array headers and labels, not the clips): a file that is not
    usable, or holds another number of classes than dataset ``name`` has, fails now, with its reason. The
    number of clips of each split."""
    sizes = {}
    for split in ("train", "test"):
        _, labels, found = open_split(path, split)
        if found != classes:
            raise UserError(f"{path.name} has {found} classes but {name} has {classes}; is the right file under that "
                            "name?")  # fmt: skip
        sizes[split] = len(labels)
    return sizes
