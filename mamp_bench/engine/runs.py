"""Run folders: a configuration, a JSON-lines log, checkpoints and a summary, keyed by a hash."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

import torch

from mamp_bench import __version__
from mamp_bench.errors import UserError
from mamp_bench.fileio import atomic_write, sha256_file, storage_error, write_json


def environment(runtime=None) -> dict[str, Any]:
    """What produced a run: versions, commit, device and process count."""
    env = {
        "suite_version": __version__,
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "hostname": platform.node(),
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


def git_commit() -> str | None:
    here = Path(__file__).resolve().parents[2]
    if not (here / ".git").exists():
        return None
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


class RunDir:
    """One run's folder: ``config.json``, ``log.jsonl``, checkpoints, ``summary.json``."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)

    @property
    def finished(self) -> bool:
        summary = self.summary()
        return bool(summary and summary.get("finished"))

    def summary(self) -> dict[str, Any] | None:
        try:
            return json.loads((self.path / "summary.json").read_text())
        except (OSError, ValueError):
            return None

    def write_config(self, config: dict[str, Any]) -> None:
        write_json(self.path / "config.json", config)

    def write_summary(self, summary: dict[str, Any]) -> None:
        write_json(self.path / "summary.json", summary)

    def log(self, record: dict[str, Any]) -> None:
        """Append one JSON line (flushed and fsynced: a crash loses at most the line being written)."""
        record = {"time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), **record}
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            with open(self.path / "log.jsonl", "a") as handle:
                handle.write(json.dumps(record) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise storage_error(self.path / "log.jsonl", exc) from None

    def log_records(self) -> list[dict[str, Any]]:
        path = self.path / "log.jsonl"
        if not path.is_file():
            return []
        records = []
        for line in path.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                continue  # a torn last line after a crash
        return records

    def verify(self, checkpoint: Path) -> str:
        """The sha256 of ``checkpoint``, which must be one this run's log recorded when writing it
        (``UserError`` if not; runs logged before checksums existed are not checked)."""
        if not checkpoint.is_file():
            raise UserError(f"checkpoint {checkpoint} does not exist")
        recorded = {r["checkpoint_sha256"] for r in self.log_records() if r.get("checkpoint_sha256")}
        digest = sha256_file(checkpoint)
        if recorded and digest not in recorded:
            raise UserError(
                f"checkpoint {checkpoint} is corrupt: its sha256 is not among those recorded in "
                f"{self.path / 'log.jsonl'} (use an earlier checkpoint-N.pth, or --restart)"
            )
        return digest

    def truncate_log(self, last_epoch: int) -> None:
        """Drop log lines of epochs after ``last_epoch`` (work that a resume will redo)."""
        kept = [r for r in self.log_records() if r.get("epoch", -1) <= last_epoch]
        path = self.path / "log.jsonl"
        with atomic_write(path, "w") as handle:
            handle.write("".join(json.dumps(r) + "\n" for r in kept))


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
