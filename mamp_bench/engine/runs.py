"""Run folders: a configuration, a JSON-lines log, checkpoints and a summary, keyed by a hash."""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import json
import os
import platform
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from mamp_bench import __version__, faults
from mamp_bench.checkpoints import MAX_CHECKPOINT_BYTES
from mamp_bench.engine.cluster import slurm_job
from mamp_bench.errors import DataFormatError, UserError
from mamp_bench.fileio import (
    MAX_JSON_BYTES,
    atomic_write,
    check_regular,
    json_text,
    read_json,
    read_regular,
    sha256_file,
    storage_error,
    write_json,
)


def environment(runtime=None) -> dict[str, Any]:
    """What produced a run: versions, commit, device and process count."""
    commit, dirty = git_state()
    env = {
        "suite_version": __version__,
        "git_commit": commit,
        "git_dirty": dirty,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "hostname": platform.node(),
        **slurm_job(),
    }
    if runtime is not None:
        env["device"] = str(runtime.device)
        env["device_name"] = (
            torch.cuda.get_device_name(runtime.device)
            if runtime.device.type == "cuda"
            else platform.processor() or "cpu"
        )
        env["processes"] = runtime.world_size
        env["threads"] = torch.get_num_threads()
    return env


#: what "the code" is when a record says whether the tree was dirty
CODE_PATHS = ("mamp_bench", "baselines", "protocols", "pyproject.toml", "setup.py")


def git_state() -> tuple[str | None, bool | None]:
    """(commit, whether the suite's code differs from it), or (None, None) outside a git checkout."""
    here = Path(__file__).resolve().parents[2]
    if not (here / ".git").exists():
        return None, None
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        status = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--", *CODE_PATHS],
                                capture_output=True, text=True, timeout=5)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None, None
    if out.returncode != 0:
        return None, None
    return out.stdout.strip(), bool(status.stdout.strip())


#: Size bound of a run's log: one line of about 300 bytes an epoch (the paper's 400 epochs: 120 KB); 64 MiB.
MAX_LOG_BYTES = 64 << 20


class RunDir:
    """One run's folder: ``config.json``, ``log.jsonl``, checkpoints, ``summary.json``."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)

    @property
    def finished(self) -> bool:
        """The summary says finished and everything it names exists and verifies."""
        summary = self.summary()
        return bool(summary and summary.get("finished")) and self.unverified(summary) is None

    def unverified(self, summary: dict[str, Any]) -> str | None:
        """Why a summary claims more than exists (its final checkpoint missing, or not the one the log line
        of its epoch records; its record missing), or None when every file it names is there and verifies."""
        try:
            if summary.get("final_checkpoint"):
                self.verify(self.path / summary["final_checkpoint"])
            if summary.get("record"):
                check_regular(summary["record"], MAX_JSON_BYTES, "result record")
        except (UserError, TypeError, ValueError) as exc:
            return str(exc)
        return None

    def summary(self) -> dict[str, Any] | None:
        try:
            summary = read_json(self.path / "summary.json", "run summary")
        except DataFormatError:
            return None
        return summary if isinstance(summary, dict) else None

    def write_config(self, config: dict[str, Any]) -> None:
        write_json(self.path / "config.json", config)

    def recorded(self, key: str) -> Any:
        """A value of this run's ``config.json`` (None when there is none)."""
        try:
            return json.loads((self.path / "config.json").read_text()).get(key)
        except (OSError, ValueError, AttributeError):
            return None

    def same_data(self, data: str | None) -> bool:
        """Whether the run was trained on the data of fingerprint ``data`` (or either is unknown)."""
        recorded = self.recorded("data_fingerprint")
        return not (recorded and data) or recorded == data

    def check_config_hash(self, digest: str, data: str | None = None) -> None:
        """Refuse to continue or reuse a folder whose run has another configuration than ``digest``, or
        that was trained on other data than the prepared file of fingerprint ``data`` holds now."""
        if not (self.finished or (self.path / "checkpoint-last.pth").exists()):
            return
        recorded = self.recorded("config_hash")
        if recorded is not None and recorded != digest:
            raise UserError(f"{self.path} holds a run of another configuration (hash {recorded}, this one {digest}): "
                            "pass --restart to discard it, or choose another folder")  # fmt: skip
        if not self.same_data(data):
            raise UserError(f"{self.path} was trained on other data than the prepared file holds now (fingerprint "
                            f"{self.recorded('data_fingerprint')[:12]}, now {data[:12]}): pass --restart to train "
                            "it again on the current data")  # fmt: skip

    def write_summary(self, summary: dict[str, Any]) -> None:
        write_json(self.path / "summary.json", summary)

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

    @contextlib.contextmanager
    def lock(self, wait: bool = False) -> Iterator[None]:
        """Hold this run folder for one process: a second one gets a one-line error naming the holder's
        pid (or waits with ``wait``). The lock dies with its process, so a kill -9 never leaves it. A
        failure while it is held, before the run saved anything, removes what it wrote
        (``discard_if_unstarted``), so no folder holding only a configuration is left behind."""
        created = not self.path.exists()
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.path / ".lock", "a+") as handle:
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

    def truncate_log(self, last_epoch: int) -> None:
        """Drop log lines of epochs after ``last_epoch`` (work that a resume will redo)."""
        kept = [r for r in self.log_records() if r.get("epoch", -1) <= last_epoch]
        path = self.path / "log.jsonl"
        with atomic_write(path, "w") as handle:
            handle.write("".join(json.dumps(r) + "\n" for r in kept))

    def discard_if_unstarted(self, created: bool) -> None:
        """After a failure before the run saved anything (no log line, checkpoint, record or summary), remove
        what it wrote: the whole folder when this invocation ``created`` it (and its parent when left empty),
        else its ``config.json``."""
        saved = ("log.jsonl", "record.json", "summary.json")
        if any((self.path / name).exists() for name in saved) or any(self.path.glob("*.pth")):
            return
        if created:
            shutil.rmtree(self.path, ignore_errors=True)
            with contextlib.suppress(OSError):
                self.path.parent.rmdir()  # only if empty
        else:
            (self.path / "config.json").unlink(missing_ok=True)


class Throughput:
    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.samples = 0

    def add(self, n: int) -> None:
        self.samples += n

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.start

    @property
    def rate(self) -> float:
        return self.samples / max(self.seconds, 1e-9)
