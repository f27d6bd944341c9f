"""Atomic file writing and checksums: an interrupted write never leaves a half-written file."""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import re
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from mamp_bench.errors import StorageError


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO[Any]]:
    """Write to a temporary file beside ``path``, fsync it, then rename it over ``path``.

    On any exception the temporary file is removed and ``path`` is left as it was; an OSError
    (disk full, permission denied, read-only file system) becomes a ``StorageError`` naming ``path``.
    """
    path = Path(path)
    try:
        fd, tmp = make_temporary(path)
    except OSError as exc:
        raise storage_error(path, exc) from None
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise storage_error(path, exc) from None
        raise
    _fsync_dir(path.parent)


def make_temporary(path: Path) -> tuple[int, str]:
    """(fd, name) of a new temporary file beside ``path``, named ``.<name>.<host>-<pid>.<random>.tmp``;
    temporaries of ``path`` left by dead processes of this host (a kill -9) are removed first
    (on a shared file system another host's temporaries are left alone)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{glob.escape(path.name)}.{_HOST}-*.tmp"):
        pid = stale.name[len(path.name) + len(_HOST) + 3 :].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            with contextlib.suppress(OSError):
                stale.unlink()
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.{_HOST}-{os.getpid()}.", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; the published file gets the usual permissions
    return fd, name


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()
_HOST = re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname().split(".")[0]) or "host"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def storage_error(path: Path, exc: OSError) -> StorageError:
    reason = exc.strerror or str(exc) or type(exc).__name__
    return StorageError(f"cannot write {path}: {reason}; nothing was half-written, the previous file is intact")


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Atomically write ``data`` to ``path``."""
    with atomic_write(path) as handle:
        handle.write(data)


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    with atomic_write(path, "w") as handle:
        json.dump(obj, handle, indent=2, sort_keys=False, default=_json_default)
        handle.write("\n")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()
