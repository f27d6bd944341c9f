"""Run folders: a configuration, a JSON-lines log, checkpoints and a summary, keyed by a hash.

A folder's state (finished and verified, resumable, or empty; of which configuration and data) is read
once, by ``inspect``, when a run is planned; the run then acts on that state.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import json
import os
import platform
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mamp_bench import faults
from mamp_bench.checkpoints import MAX_CHECKPOINT_BYTES
from mamp_bench.engine.metric_logs import EVENTS_GLOB
from mamp_bench.errors import DataFormatError, UserError
from mamp_bench.fileio import (
    FOLDER_MARKER,
    MAX_JSON_BYTES,
    adopt_folder,
    atomic_write,
    check_regular,
    json_text,
    open_own_file,
    read_json,
    read_regular,
    remove_own_files,
    sha256_file,
    storage_error,
    write_json,
)

#: What a run writes before its first epoch is saved: its configuration, its lock, its (empty) metric logs, a
#: semi-supervised run's subset
UNSTARTED_FILES = ("config.json", ".lock", EVENTS_GLOB, "subset.json")
#: Size bound of a run's log: one line of about 300 bytes an epoch (the paper's 400 epochs: 120 KB); 64 MiB.
MAX_LOG_BYTES = 64 << 20


@dataclass(frozen=True)
class FolderState:
    """What a run folder holds, read once when a run is planned."""

    finished: bool  # its summary says so and every file the summary names exists and verifies
    resumable: bool  # not finished, but holds a checkpoint-last.pth to continue from
    checkpoint: Path | None = None  # finished: the evaluated checkpoint (the final one unless an epoch was asked)
    checkpoint_sha256: str | None = None  # its sha256, checked against the log line of its epoch
    problem: str | None = None  # why a summary that says finished was not trusted (the run repairs it)


class RunFolder:
    """One run's folder: ``config.json``, ``log.jsonl``, checkpoints, ``summary.json``."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)

    # -- the state, read once -------------------------------------------------------------------------

    def inspect(self, digest: str, data: str | None, epoch: int = -1, allow_unverified: bool = False) -> FolderState:
        """The folder's state for a run of configuration ``digest`` on data of fingerprint ``data``; a
        one-line error when it holds a run of another configuration or of other data, or a finished run that
        kept no checkpoint of ``epoch`` (-1: its final one), the checkpoint evaluated, hashed here, once."""
        summary = self.summary()
        resumable = (self.path / "checkpoint-last.pth").exists()
        claims = bool(summary and summary.get("finished"))
        if claims or resumable:
            self.check_identity(digest, data)
        if not claims:
            return FolderState(False, resumable)
        evaluated = self.kept_checkpoint(epoch) if epoch >= 0 else None
        try:
            checkpoint, sha256 = self._verify_summary(summary, evaluated, allow_unverified)
        except (UserError, TypeError, ValueError) as exc:
            return FolderState(False, resumable, problem=str(exc))
        return FolderState(True, resumable, checkpoint, sha256)

    @property
    def finished(self) -> bool:
        """The summary says finished and everything it names exists and verifies (for listings; a run
        reads its folder's state once, with ``inspect``)."""
        summary = self.summary()
        if not (summary and summary.get("finished")):
            return False
        try:
            self._verify_summary(summary)
        except (UserError, TypeError, ValueError):
            return False
        return True

    def _verify_summary(self, summary: dict[str, Any], evaluated: Path | None = None,
                        allow_unverified: bool = False) -> tuple[Path | None, str | None]:  # fmt: skip
        """(checkpoint, sha256) of the evaluated checkpoint (the final one unless given) once every file the
        summary names exists and verifies; an error saying which does not otherwise."""
        if summary.get("record"):
            check_regular(summary["record"], MAX_JSON_BYTES, "result record")
        if not summary.get("final_checkpoint"):
            return None, None
        final = self.path / summary["final_checkpoint"]
        sha256 = self.verify(final, allow_unverified)
        if evaluated is None or evaluated == final:
            return final, sha256
        return evaluated, self.verify(evaluated, allow_unverified)

    def check_identity(self, digest: str, data: str | None) -> None:
        """Refuse to continue or reuse a folder whose run has another configuration than ``digest``, or
        that was trained on other data than the prepared file of fingerprint ``data`` holds now."""
        recorded = self.recorded("config_hash")
        if recorded is not None and recorded != digest:
            raise UserError(f"{self.path} holds a run of another configuration (hash {recorded}, this one {digest}): "
                            "pass --restart to discard it, or choose another folder")  # fmt: skip
        if not self.same_data(data):
            raise UserError(f"{self.path} was trained on other data than the prepared file holds now (fingerprint "
                            f"{self.recorded('data_fingerprint')[:12]}, now {data[:12]}): pass --restart to train "
                            "it again on the current data")  # fmt: skip

    def same_data(self, data: str | None) -> bool:
        """Whether the run was trained on the data of fingerprint ``data`` (or either is unknown)."""
        recorded = self.recorded("data_fingerprint")
        return not (recorded and data) or recorded == data

    def final_checkpoint(self, allow_unverified: bool = False) -> tuple[Path, str]:
        """(path, sha256) of the checkpoint the summary names as final (``checkpoint-last.pth`` without one),
        checked against the sha256 the log recorded for its epoch."""
        path = self.path / (self.summary() or {}).get("final_checkpoint", "checkpoint-last.pth")
        return path, self.verify(path, allow_unverified)

    def kept_checkpoint(self, epoch: int) -> Path:
        """``checkpoint-<epoch>.pth``, or a one-line error naming the epochs the run kept."""
        path = self.path / f"checkpoint-{epoch}.pth"
        if not path.is_file():
            kept = sorted(int(p.stem.split("-")[1]) for p in self.path.glob("checkpoint-[0-9]*.pth"))
            raise UserError(f"{self.path} kept no checkpoint of epoch {epoch} (it kept {kept}); pretrain again with "
                            f"--set pretrain.keep_epochs={epoch} --restart, or evaluate a kept epoch")  # fmt: skip
        return path

    # -- files ----------------------------------------------------------------------------------------

    def summary(self) -> dict[str, Any] | None:
        try:
            summary = read_json(self.path / "summary.json", "run summary")
        except DataFormatError:
            return None
        return summary if isinstance(summary, dict) else None

    def write_summary(self, summary: dict[str, Any]) -> None:
        write_json(self.path / "summary.json", summary)

    def write_config(self, config: dict[str, Any]) -> None:
        write_json(self.path / "config.json", config)

    def recorded(self, key: str) -> Any:
        """A value of this run's ``config.json`` (None when there is none, or it is not a JSON object)."""
        try:
            config = read_json(self.path / "config.json", "run configuration")
        except DataFormatError:
            return None
        return config.get(key) if isinstance(config, dict) else None

    def log(self, record: dict[str, Any]) -> None:
        """Append one JSON line (flushed and fsynced: a crash loses at most the line being written)."""
        record = {"time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), **record}
        path = self.path / "log.jsonl"
        line = json_text(record, path, indent=None) + "\n"
        if os.path.lexists(path):
            check_regular(path, MAX_LOG_BYTES, "run log")
        try:
            faults.point("log.jsonl@append", io=True)
            self.path.mkdir(parents=True, exist_ok=True)
            with open(path, "a") as handle:
                handle.write(line)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise storage_error(path, exc) from None
        faults.point("log.jsonl@appended")

    def log_records(self) -> list[dict[str, Any]]:
        path = self.path / "log.jsonl"
        if not os.path.lexists(path):
            return []
        records = []
        for line in read_regular(path, MAX_LOG_BYTES, "run log").decode("utf-8", errors="replace").splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                continue  # a torn last line after a crash
        return [r for r in records if isinstance(r, dict)]

    def logged_digest(self, epoch: int) -> str | None:
        """The checkpoint sha256 the (last) log line of ``epoch`` records, or None."""
        digests = [r["checkpoint_sha256"] for r in self.log_records() if r.get("epoch") == epoch]
        return digests[-1] if digests and digests[-1] else None

    def truncate_log(self, last_epoch: int) -> None:
        """Drop log lines of epochs after ``last_epoch`` (work that a resume will redo)."""
        kept = [r for r in self.log_records() if r.get("epoch", -1) <= last_epoch]
        with atomic_write(self.path / "log.jsonl", "w") as handle:
            handle.write("".join(json.dumps(r) + "\n" for r in kept))

    def verify(self, checkpoint: Path, allow_unverified: bool = False) -> str:
        """The sha256 of ``checkpoint``, which must be the one this run's log recorded for the
        checkpoint's own epoch (``checkpoint-N.pth``: epoch N; ``checkpoint-last.pth``: any epoch
        the log recorded, whose state it then is). A checkpoint with no recorded sha256 (no log) is
        refused unless ``allow_unverified``."""
        if not os.path.lexists(checkpoint):
            raise UserError(f"checkpoint {checkpoint} does not exist")
        check_regular(checkpoint, MAX_CHECKPOINT_BYTES, "checkpoint")
        digest = sha256_file(checkpoint)
        recorded = {r["epoch"]: r["checkpoint_sha256"] for r in self.log_records() if r.get("checkpoint_sha256")}
        if not recorded:
            if allow_unverified:
                return digest
            raise UserError(f"checkpoint {checkpoint} has no recorded sha256 ({self.path / 'log.jsonl'} is missing "
                            "or has none); pass --allow-unverified to use it anyway")  # fmt: skip
        match = re.fullmatch(r"checkpoint-(\d+)\.pth", checkpoint.name)
        epochs = [int(match[1])] if match else list(recorded)
        if not any(recorded.get(epoch) == digest for epoch in epochs):
            own = f"epoch {epochs[0]}" if match else "any epoch"
            raise UserError(f"checkpoint {checkpoint} is corrupt: its sha256 is not the one {self.path / 'log.jsonl'} "
                            f"recorded for {own} (use an earlier checkpoint-N.pth, or --restart)")  # fmt: skip
        return digest

    def discard(self, names: tuple[str, ...], patterns: tuple[str, ...] = ()) -> None:
        """Remove the named files and those matching ``patterns`` (a run starting over)."""
        for name in names:
            (self.path / name).unlink(missing_ok=True)
        for pattern in patterns:
            for path in self.path.glob(pattern):
                path.unlink()

    # -- one process at a time ------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, digest: str, wait: bool = False) -> Iterator[None]:
        """Hold this run folder for one process: a second one gets a one-line error naming the holder's
        pid (or waits with ``wait``). The lock dies with its process, so a kill -9 never leaves it. The
        folder must be the suite's (``adopt``); its lock file is never opened through a link. A failure
        while it is held, before the run saved anything, removes what it wrote (``discard_if_unstarted``),
        so no folder holding only a configuration is left behind."""
        created = self.adopt(digest)
        with open_own_file(self.path / ".lock", "the run folder's lock") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "?"
                raise UserError(f"{self.path} is in use by process {holder} (the same job is running); "
                                "wait for it to finish or pass --wait") from None  # fmt: skip
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()} on {platform.node()}")
            handle.flush()
            try:
                yield
            except BaseException:
                self.discard_if_unstarted(created)
                raise
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def adopt(self, digest: str) -> bool:
        """Make the folder the run's: new, empty, marked as the suite's, or a run folder of this configuration
        written before folders were marked; a folder holding anything else (a user's files) is refused with one
        line. Whether it was created now."""
        marked = os.path.lexists(self.path / FOLDER_MARKER)
        if not marked and self.path.is_dir() and self.recorded("config_hash") == digest:
            with open_own_file(self.path / FOLDER_MARKER, "the marker of the run folder") as handle:
                handle.write("This folder was created by mamp-bench; it removes only the files it wrote here.\n")
        return adopt_folder(self.path, "run folder", "choose another with --output-dir or --runs-dir")

    def discard_if_unstarted(self, created: bool) -> None:
        """After a failure before the run saved anything (no log line, checkpoint, record or summary), remove
        what it wrote (its configuration and lock; the folder too when nothing else is left in it). Only files
        the suite writes are ever removed."""
        saved = ("log.jsonl", "record.json", "summary.json")
        if any((self.path / name).exists() for name in saved) or any(self.path.glob("*.pth")):
            return
        written = [p.name for pattern in UNSTARTED_FILES for p in self.path.glob(pattern)]
        remove_own_files(self.path, written)
        if created:
            with contextlib.suppress(OSError):
                self.path.parent.rmdir()  # only if empty
