"""The prepared-data files: ``.npz`` archives with ``x_train, y_train, x_test, y_test``.

``x_*`` is float32 (N, 300, 150): person-major, then joint, then xyz. ``y_*`` is the one-hot
label matrix (N, num_classes), float64 as the reference writes it.

* ``NpzStreamWriter`` writes an uncompressed archive array by array and row by row, so a full
  NTU-120 split never has to sit in memory twice; it writes to a temporary file and renames
  it at the end, so an interrupted preparation leaves no half-written ``.npz``.
* ``open_npz_array`` memory-maps one member of an uncompressed archive (``np.load`` cannot
  memory-map inside an ``.npz``: with ``mmap_mode`` it still reads the whole member); a compressed
  member is decompressed once per process and kept (read-only).
"""

from __future__ import annotations

import contextlib
import functools
import os
import struct
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format

from mamp_bench.errors import DataFormatError
from mamp_bench.fileio import make_temporary, storage_error

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


def open_npz_array(path: str | os.PathLike[str], key: str, mmap: bool = True) -> np.ndarray:
    """One member of an ``.npz``, memory-mapped read-only when it is stored uncompressed."""
    path = Path(path)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataFormatError(f"{path}: not a readable .npz archive ({exc})") from None
    with archive:
        try:
            info = archive.getinfo(f"{key}.npy")
        except KeyError:
            found = ", ".join(n.removesuffix(".npy") for n in archive.namelist())
            raise DataFormatError(f"{path}: no array {key!r} (found: {found or 'nothing'})") from None
        if info.compress_type != zipfile.ZIP_STORED:
            stat = path.stat()
            return _decompressed(str(path), key, stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if not mmap:
            with archive.open(info) as member:
                return npy_format.read_array(member, allow_pickle=False)
        with open(path, "rb") as handle:
            handle.seek(info.header_offset)
            local = handle.read(30)
            if local[:4] != b"PK\x03\x04":
                raise DataFormatError(f"{path}: corrupt zip entry for {key!r}")
            name_len, extra_len = struct.unpack("<HH", local[26:30])
            data_start = info.header_offset + 30 + name_len + extra_len
            handle.seek(data_start)
            version = npy_format.read_magic(handle)
            read_header = npy_format.read_array_header_1_0 if version == (1, 0) else npy_format.read_array_header_2_0
            shape, fortran, dtype = read_header(handle)
            offset = handle.tell()
        if dtype.hasobject:
            raise DataFormatError(f"{path}: array {key!r} holds Python objects, refused")
        if int(np.prod(shape)) == 0:
            return np.zeros(shape, dtype=dtype)
        return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order="F" if fortran else "C")


@functools.lru_cache(maxsize=8)
def _decompressed(path: str, key: str, inode: int, mtime_ns: int, size: int) -> np.ndarray:
    """A compressed member (the synthetic stand-ins are stored so), decompressed once per process and
    file version (inode, mtime and size are part of the key); read-only, as a memory map would be."""
    with zipfile.ZipFile(path) as archive, archive.open(f"{key}.npy") as member:
        array = npy_format.read_array(member, allow_pickle=False)
    array.flags.writeable = False
    return array
