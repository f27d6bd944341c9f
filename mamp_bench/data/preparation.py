"""What every dataset preparation shares: the parallel map with a progress bar, padding to
the reference layout, the atomic ``.npz`` writing and the manifest."""

from __future__ import annotations

import datetime as _dt
import multiprocessing as mp
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from mamp_bench import faults
from mamp_bench.console import progress_bar
from mamp_bench.data.npzio import NpzStreamWriter
from mamp_bench.data.provenance import NPZ_MEMBER, fingerprint, provenance_array
from mamp_bench.errors import UserError
from mamp_bench.fileio import sha256_file, write_json

MAX_FRAMES = 300
PERSON_VALUES = 75
FRAME_VALUES = 150

A = TypeVar("A")
R = TypeVar("R")


@dataclass
class Skipped:
    item: str
    reason: str


@dataclass
class Manifest:
    """A record of one preparation, written as JSON beside its outputs."""

    dataset: str
    raw: str
    options: dict[str, Any]
    files_found: int = 0
    samples: int = 0
    splits: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)
    ignored: dict[str, int] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)
    seconds: float = 0.0
    provenance: dict[str, Any] = field(default_factory=lambda: {"synthetic": False})  # see data/provenance.py

    def skip(self, item: str, reason: str) -> None:
        self.skipped.append(Skipped(item, reason))

    def ignore(self, why: str) -> None:
        self.ignored[why] = self.ignored.get(why, 0) + 1

    def to_json(self) -> dict[str, Any]:
        from mamp_bench.version import __version__

        return {
            "dataset": self.dataset,
            "synthetic": bool(self.provenance.get("synthetic")),
            "provenance": self.provenance,
            "suite_version": __version__,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "raw": self.raw,
            "options": self.options,
            "files_found": self.files_found,
            "samples": self.samples,
            "splits": self.splits,
            "skipped": [{"item": s.item, "reason": s.reason} for s in sorted(self.skipped, key=lambda s: s.item)],
            "ignored": self.ignored,
            "notes": self.notes,
            "seconds": round(self.seconds, 2),
        }

    def write(self, path: Path) -> None:
        write_json(path, self.to_json())

    def empty_sides(self) -> list[str]:
        """One line for each side of a split that holds no clip (no protocol can train or evaluate on it)."""
        return [f"{entry['file']}: the {side} split is empty (0 clips): no run can {verb} on it"
                for entry in self.splits.values() for side, verb in (("train", "train"), ("test", "evaluate"))
                if not entry[side]]  # fmt: skip


def parallel_map(
    fn: Callable[[A], R], items: Sequence[A], workers: int, description: str, quiet: bool = False
) -> Iterator[R]:
    """Apply ``fn`` to every item, in worker processes when ``workers > 1``, with a progress bar.

    Results come in completion order; ``fn`` must catch its own per-item errors.
    """
    workers = max(1, min(workers, len(items)))
    progress = progress_bar(not quiet, status=False)
    with progress:
        task = progress.add_task(description, total=len(items))
        if workers == 1:
            results: Iterable[R] = map(fn, items)
            pool = None
        else:
            pool = mp.get_context(_start_method()).Pool(workers)
            results = pool.imap_unordered(fn, items, chunksize=max(1, min(64, len(items) // (workers * 8))))
        try:
            for result in results:
                progress.advance(task)
                faults.point("prepare-file")
                yield result
        finally:
            if pool is not None:
                pool.terminate()
                pool.join()


def _start_method() -> str:
    # fork is fastest and safe here (workers only read files); fall back where it is unavailable
    return "fork" if "fork" in mp.get_all_start_methods() else "spawn"


def pad_sample(joints: np.ndarray, single_actor: str = "zeros", frames: int = MAX_FRAMES) -> np.ndarray:
    """(T, 75|150) -> (frames, 150) float32 zero-padded at the end; T > frames is cut to ``frames`` (300).

    ``single_actor``: how a one-actor sample fills the second person: ``zeros`` (NTU-60, PKU)
    or ``duplicate`` (the NTU-120 reference copies actor 1 into the second slot).
    """
    kept = joints[:frames]
    if kept.shape[1] == PERSON_VALUES:
        second = kept if single_actor == "duplicate" else np.zeros_like(kept)
        kept = np.hstack((kept, second))
    out = np.zeros((frames, FRAME_VALUES), dtype=np.float32)
    out[: len(kept)] = kept
    return out


def one_hot(labels: Sequence[int], num_classes: int) -> np.ndarray:
    """One-hot float64 matrix (N, num_classes), the dtype the reference writes. Every label must be in
    0..num_classes-1 (a negative one would silently index from the end: another class)."""
    labels = np.asarray(labels, dtype=np.int64)
    outside = np.flatnonzero((labels < 0) | (labels >= num_classes))
    if len(outside):
        raise ValueError(f"label {labels[outside[0]]} of sample {outside[0]} is outside 0..{num_classes - 1}")
    out = np.zeros((len(labels), num_classes))
    out[np.arange(len(labels)), labels] = 1
    return out


def refuse_overlap(train: set[str], test: set[str], where: str, what: str) -> None:
    """``UserError`` naming them when items are listed on both sides of a split (they would be trained on
    and tested on)."""
    both = sorted(train & test)
    if both:
        shown = ", ".join(both[:5]) + (f" and {len(both) - 5} more" if len(both) > 5 else "")
        raise UserError(f"{where} lists {len(both)} {what}(s) in both the training and the test list: {shown}")


def write_split_npz(
    path: Path,
    train: Sequence[np.ndarray],
    train_labels: Sequence[int],
    test: Sequence[np.ndarray],
    test_labels: Sequence[int],
    num_classes: int,
    single_actor: str = "zeros",
    provenance: dict[str, Any] | None = None,
    frames: int = MAX_FRAMES,
    names: tuple[Sequence[str], Sequence[str]] | None = None,
) -> dict[str, Any]:
    """Write one ``.npz`` in the reference layout (clips of ``frames`` frames), sample by sample, with its
    ``provenance`` and, when given, the (train, test) sample ``names`` (``names_train``, ``names_test``);
    return its manifest entry."""
    with NpzStreamWriter(path) as writer:
        sides = (("train", train, train_labels), ("test", test, test_labels))
        for side, (key, samples, labels) in enumerate(sides):
            with writer.array(f"x_{key}", np.float32, (len(samples), frames, FRAME_VALUES)) as stream:
                for sample in samples:
                    stream.write(pad_sample(sample, single_actor, frames)[None])
                    faults.point("prepare-sample")
            writer.write_array(f"y_{key}", one_hot(labels, num_classes))
            if names is not None:
                writer.write_array(f"names_{key}", np.array(list(names[side]), dtype=str))
        writer.write_array(NPZ_MEMBER, provenance_array(provenance or {"synthetic": False}))
    return {"file": path.name, "train": len(train), "test": len(test), "sha256": sha256_file(path),
            "fingerprint": fingerprint(path)}  # fmt: skip


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


class Timer:
    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self.start
