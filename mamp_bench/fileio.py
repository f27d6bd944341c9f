"""Atomic file writing, safe reading and checksums: an interrupted write never leaves a half-written
file, and a reader never opens what is not a regular file (a FIFO would hang it, a device would
never end) nor reads more than its format's size bound."""

from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import json
import math
import numbers
import os
import re
import socket
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from mamp_bench import faults
from mamp_bench.errors import DataFormatError, NonFiniteValue, StorageError, UserError


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO[Any]]:
    """Write to a temporary file beside ``path``, fsync it, then rename it over ``path``.

    On any exception the temporary file is removed and ``path`` is left as it was; an OSError
    (disk full, permission denied, read-only file system) becomes a ``StorageError`` naming ``path``.
    """
    path = Path(path)
    try:
        faults.point(f"{path.name}@open", io=True)
        fd, tmp = make_temporary(path)
    except OSError as exc:
        raise storage_error(path, exc) from None
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            faults.point(f"{path.name}@fsync", io=True)
            os.fsync(handle.fileno())
        faults.point(f"{path.name}@rename", io=True)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise storage_error(path, exc) from None
        raise
    _fsync_dir(path.parent)
    faults.point(f"{path.name}@renamed")


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
    """Atomically write ``obj`` as JSON; a NaN or infinite number anywhere in it is refused
    (``NonFiniteValue`` naming its key) and nothing is written."""
    text = json_text(obj, path)
    with atomic_write(path, "w") as handle:
        handle.write(text + "\n")


def json_text(obj: Any, where: str | os.PathLike[str], indent: int | None = 2) -> str:
    """``obj`` as JSON text; ``NonFiniteValue`` (naming the key) if it holds a NaN or an infinity."""
    try:
        return json.dumps(obj, indent=indent, sort_keys=False, default=_json_default, allow_nan=False)
    except ValueError:
        key = non_finite_key(obj) or "?"
        raise NonFiniteValue(f"refusing to write {where}: {key} is NaN or infinite; nothing was written") from None


def non_finite_key(obj: Any, prefix: str = "") -> str | None:
    """The dotted key of the first NaN or infinite float in nested dicts and lists, or None."""
    if isinstance(obj, numbers.Real):
        return None if math.isfinite(obj) else prefix or "the value"
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, (list, tuple)) else ()
    for key, value in items:
        found = non_finite_key(value, f"{prefix}.{key}" if prefix else str(key))
        if found:
            return found
    return None


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


#: Default size bound of a file hashed whole: the largest file the suite writes or reads is a prepared NTU-120
#: ``.npz`` (21 GB, ``data.npzio.MAX_NPZ_BYTES``); 32 GiB. Callers that know their format pass its own bound.
MAX_HASHED_BYTES = 32 << 30


def sha256_file(path: str | os.PathLike[str], limit: int = MAX_HASHED_BYTES, what: str = "file") -> str:
    """The sha256 of a regular file of at most ``limit`` bytes (``DataFormatError`` otherwise: a FIFO would
    hang the hash, a device or a huge sparse file would never end)."""
    digest = hashlib.sha256()
    try:
        with open_regular(path, limit, what) as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    except OSError as exc:
        raise DataFormatError(f"{what} {path} cannot be read: {exc.strerror or exc}") from None
    return digest.hexdigest()


_KINDS = (
    (stat.S_ISDIR, "is a directory"),
    (stat.S_ISFIFO, "is a FIFO (named pipe)"),
    (stat.S_ISCHR, "is a character device"),
    (stat.S_ISBLK, "is a block device"),
    (stat.S_ISSOCK, "is a socket"),
)


def check_regular(path: str | os.PathLike[str], limit: int, what: str) -> os.stat_result:
    """The ``stat`` of ``path`` if it is a regular file (a link to one counts) of at most ``limit`` bytes;
    otherwise ``DataFormatError`` saying what it is. Nothing is opened."""
    path = Path(path)
    try:
        info = os.stat(path)
    except OSError as exc:
        raise DataFormatError(f"{what} {path} {_stat_problem(path, exc)}") from None
    _check_kind_and_size(info, path, limit, what)
    return info


def _stat_problem(path: Path, exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "is a symbolic link loop"
    if exc.errno == errno.ENOENT and os.path.islink(path):
        return f"is a broken symbolic link (to {os.readlink(path)})"
    if exc.errno == errno.ENOENT:
        return "does not exist"
    return f"cannot be read: {exc.strerror or exc}"


def _check_kind_and_size(info: os.stat_result, path: Path, limit: int, what: str) -> None:
    for test, kind in _KINDS:
        if test(info.st_mode):
            raise DataFormatError(f"{what} {path} {kind}, not a regular file; not read")
    if not stat.S_ISREG(info.st_mode):
        raise DataFormatError(f"{what} {path} is not a regular file; not read")
    if info.st_size > limit:
        raise DataFormatError(
            f"{what} {path} is {info.st_size:,} bytes, more than the {limit:,} bytes its format allows; not read"
        )


def open_regular(path: str | os.PathLike[str], limit: int, what: str) -> IO[bytes]:
    """``path`` opened for reading in binary mode, once it is known to be a regular file of at most
    ``limit`` bytes (checked before opening, and again on the opened file, so a name swapped in between
    for a FIFO or a device is refused too); ``DataFormatError`` with the reason otherwise."""
    path = Path(path)
    check_regular(path, limit, what)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise DataFormatError(f"{what} {path} {_stat_problem(path, exc)}") from None
    try:
        _check_kind_and_size(os.fstat(fd), path, limit, what)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def read_regular(path: str | os.PathLike[str], limit: int, what: str) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (``DataFormatError`` otherwise: a
    directory, a FIFO, a device, a socket, a symbolic link loop, a missing or too large file)."""
    try:
        with open_regular(path, limit, what) as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise DataFormatError(f"{what} {path} cannot be read: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise DataFormatError(f"{what} {path} grew beyond the {limit:,} bytes its format allows while being read")
    return data


#: Size bound of the JSON files the suite reads (records, summaries, configurations, manifests): a record
#: holds a configuration and per-class lists of at most 120 numbers, a few KB; 16 MiB is thousands of times that.
MAX_JSON_BYTES = 16 << 20


#: Nesting bound of the JSON files the suite reads: a record nests 5 levels (record, encoder, pretrain_config,
#: method_config, encoder); 64 is far beyond any file the suite writes, and far below Python's recursion limit,
#: so code that walks a parsed file (``non_finite_key``, pandas) never recurses too deep.
MAX_JSON_DEPTH = 64


def read_json(path: str | os.PathLike[str], what: str, limit: int = MAX_JSON_BYTES) -> Any:
    """A JSON file read through ``read_regular``; ``DataFormatError`` with the reason if it cannot be: not
    JSON, nested deeper than ``MAX_JSON_DEPTH``, or holding ``NaN`` / ``Infinity`` (which the suite never
    writes: ``write_json`` refuses them, so a file holding one was not written by it)."""
    return parse_json(read_regular(path, limit, what), f"{what} {path}")


def parse_json(data: bytes | str, where: str) -> Any:
    """JSON text parsed with the bounds of ``read_json``; ``DataFormatError`` naming ``where`` otherwise."""
    try:
        value = json.loads(data, parse_constant=_refuse_constant)
    except RecursionError:
        raise DataFormatError(f"{where} is nested deeper than {MAX_JSON_DEPTH} levels; not read") from None
    except ValueError as exc:
        raise DataFormatError(f"{where} is not valid JSON ({str(exc).splitlines()[0]})") from None
    if json_depth(value) > MAX_JSON_DEPTH:
        raise DataFormatError(f"{where} is nested deeper than {MAX_JSON_DEPTH} levels; not read")
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"it holds {name}, which is not a number the suite writes")


def json_depth(value: Any) -> int:
    """How deeply lists and dicts nest in a parsed JSON value (a scalar: 0), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            deepest = max(deepest, depth)
            continue
        deepest = max(deepest, depth + 1)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def ensure_writable(folder: str | os.PathLike[str], what: str, hint: str = "") -> None:
    """``StorageError`` (one line) unless files can be created in ``folder``, or, when it does not
    exist yet, in its nearest existing ancestor (where it would be created). Checked by creating
    and removing a probe file, which also catches read-only file systems and ACLs."""
    folder = Path(folder).expanduser()
    existing = folder
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    advice = f" ({hint})" if hint else ""
    if not existing.is_dir():
        raise StorageError(f"cannot write to the {what} {folder}: {existing} is not a folder{advice}")
    try:
        fd, probe = tempfile.mkstemp(prefix=".mamp-bench-probe.", suffix=".tmp", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise StorageError(f"cannot write to the {what} {folder}: {reason}{advice}") from None


# Files the suite creates beside a user's files (locks, markers): opened without following a symbolic link,
# and only when they are regular files of their own (one link), so that a lock named by a link, or a hard
# link to a user's file, is refused instead of truncating its target.

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)


def open_own_file(path: str | os.PathLike[str], what: str, create: bool = True) -> IO[str]:
    """``path`` opened for reading and writing (created when missing and ``create``), never through a
    symbolic link, and only if it is a regular file with no other hard link; ``StorageError`` (one line)
    otherwise. The file is not truncated: the caller writes what it holds."""
    path = Path(path)
    flags = os.O_RDWR | _NOFOLLOW | (os.O_CREAT if create else 0)
    try:
        fd = os.open(path, flags, 0o666)
    except OSError as exc:
        if exc.errno == errno.ELOOP or os.path.islink(path):
            raise StorageError(f"{what} {path} is a symbolic link; the suite opens only files it created itself "
                               "(remove the link)") from None  # fmt: skip
        raise storage_error(path, exc) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
            kind = "has other hard links" if stat.S_ISREG(info.st_mode) else "is not a regular file"
            raise StorageError(f"{what} {path} {kind}; the suite opens only files it created itself (remove it)")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "r+")


#: The mark of a folder the suite created (a run folder): a folder is adopted only when it is empty or holds it.
FOLDER_MARKER = ".mamp-bench-folder"


def adopt_folder(folder: str | os.PathLike[str], what: str, hint: str = "choose an empty folder or a new name") -> bool:
    """Make ``folder`` the suite's: create it with its marker, or mark it when it exists and is empty, or accept
    it when it holds the marker; ``UserError`` naming what it holds otherwise (a user's files are never taken
    over, overwritten or removed). Returns whether the folder was created now."""
    folder = Path(folder)
    created = not os.path.lexists(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        entries = sorted(os.listdir(folder))
    except FileExistsError:
        raise UserError(f"the {what} {folder} is a file, not a folder; {hint}") from None
    except OSError as exc:
        raise storage_error(folder, exc) from None
    if FOLDER_MARKER in entries:
        open_own_file(folder / FOLDER_MARKER, f"the marker of the {what}", create=False).close()
        return created
    if entries:
        shown = ", ".join(entries[:4]) + (f" and {len(entries) - 4} more" if len(entries) > 4 else "")
        raise UserError(f"the {what} {folder} holds files the suite did not write ({shown}); {hint}")
    with open_own_file(folder / FOLDER_MARKER, f"the marker of the {what}") as handle:
        handle.write("This folder was created by mamp-bench; it removes only the files it wrote here.\n")
    return created


def remove_own_files(folder: str | os.PathLike[str], names: list[str]) -> None:
    """Remove what the suite wrote in a folder it created (``adopt_folder``): the files ``names`` (a symbolic
    link is removed, never its target; a folder is left alone), then its marker and the folder itself when
    nothing else is left. Nothing else is ever removed."""
    folder = Path(folder)
    if not os.path.lexists(folder / FOLDER_MARKER):
        return
    for name in names:
        path = folder / name
        with contextlib.suppress(OSError):
            if not stat.S_ISDIR(os.lstat(path).st_mode):
                os.unlink(path)
    with contextlib.suppress(OSError):
        if os.listdir(folder) == [FOLDER_MARKER]:
            os.unlink(folder / FOLDER_MARKER)
            os.rmdir(folder)


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether two paths name one file: the same resolved path (links followed, even for a file not written
    yet), or the same existing file by another name (a hard link)."""
    if Path(a).resolve() == Path(b).resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def refuse_overwriting_inputs(
    outputs: dict[str, str | os.PathLike[str]], inputs: dict[str, str | os.PathLike[str] | None]
) -> None:
    """``UserError`` (one line, before any work) when an output of a command resolves to one of its inputs:
    ``{"--out": path}`` against ``{"--data": path}``; the input would be replaced by what is computed from it."""
    for out_name, out in outputs.items():
        for in_name, source in inputs.items():
            if source is not None and same_file(out, source):
                raise UserError(f"{out_name} {out} is the same file as {in_name} {source}: writing it would replace "
                                "the command's own input; choose another output")  # fmt: skip
