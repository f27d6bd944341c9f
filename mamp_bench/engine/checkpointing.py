"""Checkpoints around the training loop: one JSON log line per epoch (with the sha256 of the checkpoint
written next, so a resume can verify it), ``checkpoint-last.pth`` every epoch plus the numbered copies
the task keeps, and the resume from the last checkpoint. Only the main process writes."""

from __future__ import annotations

import hashlib
from typing import Any

import torch

from mamp_bench.checkpoints import checkpoint_bytes, load_checkpoint, load_into, save_checkpoint
from mamp_bench.console import echo
from mamp_bench.engine.run_folder import RunFolder
from mamp_bench.fileio import sha256_file

LAST = "checkpoint-last.pth"


class Checkpoints:
    """The loop's checkpoint service for one run folder; ``task`` is the loop's ``TrainingTask``."""

    def __init__(self, task: Any, run: RunFolder, is_main: bool):
        self.task, self.run, self.is_main = task, run, is_main

    def resume(self, show: bool, allow_unverified: bool = False) -> int:
        """Load ``checkpoint-last.pth`` (verified against the log) into the task if there is one; the next epoch."""
        last = self.run.path / LAST
        if not last.exists():
            return 0
        digest = self.run.verify(last, allow_unverified)
        state = load_checkpoint(last)
        load_into(self.task.model, state["model"], f"checkpoint {last}")
        self.task.optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        self.task.restore(state)
        start = int(state["epoch"]) + 1
        if self.is_main:
            self.run.truncate_log(start - 1)
            self._restore_kept_copy(start - 1, digest, show)
        echo(f"resuming {self.run.path} after epoch {start - 1} (--restart starts it over)", show)
        return start

    def _restore_kept_copy(self, epoch: int, digest: str, show: bool) -> None:
        """Write ``checkpoint-<epoch>.pth`` from ``checkpoint-last.pth`` when the epoch keeps one and it is missing
        or is not what the epoch's log line records: the state a disk that filled up, or a kill, between the
        two files leaves. Only a ``checkpoint-last.pth`` that the same log line records is copied."""
        if not self.task.keeps(epoch) or self.run.logged_digest(epoch) != digest:
            return
        kept = self.run.path / f"checkpoint-{epoch}.pth"
        if kept.is_file() and sha256_file(kept) == digest:
            return
        save_checkpoint(kept, (self.run.path / LAST).read_bytes())
        echo(f"restored {kept.name} from checkpoint-last.pth of the same epoch (sha256 {digest[:12]} verified)", show)

    def start(self, first_epoch: int, steps_per_epoch: int) -> None:
        pass

    def step(self, step: int, values: dict[str, float]) -> None:
        pass

    def epoch(self, step: int, record: dict[str, Any]) -> None:
        """The log line (with the checkpoint's sha256) first, then the checkpoint: a kill in between
        leaves the previous checkpoint, and the resume drops the extra log line."""
        if not self.is_main:
            return
        task = self.task
        payload = {
            "kind": task.kind,
            "model": task.model.state_dict(),
            "optimizer": task.optimizer.state_dict(),
            "epoch": record["epoch"],
            "torch_rng": torch.get_rng_state(),
            **task.checkpoint_state(record),
        }
        data = checkpoint_bytes(payload)
        self.run.log({**record, "checkpoint_sha256": hashlib.sha256(data).hexdigest()})
        save_checkpoint(self.run.path / LAST, data)
        if task.keeps(record["epoch"]):
            save_checkpoint(self.run.path / f"checkpoint-{record['epoch']}.pth", data)

    def close(self) -> None:
        pass

    def last_good(self) -> str:
        """The checkpoint a stopped run can continue from, in words."""
        last = self.run.path / LAST
        return str(last) if last.exists() else "none (no epoch finished)"
