"""``mamp-bench prepare pku1|pku2``: untrimmed PKU-MMD videos -> trimmed-clip ``.npz`` files.

Expected raw layout (the folder names of the official archives are accepted too)::

    RAW/skeleton/<video>.txt        (or PKU_Skeleton_Renew/, Skeleton/)
    RAW/label/<video>.txt           (or Train_Label_PKU_final/, Label/)
    RAW/cross-subject.txt, RAW/cross-view.txt              Phase I (cross_subject.txt also read)
    RAW/cross_subject_v2.txt, RAW/cross_view_v2.txt        Phase II

Clip cutting follows MAMP's ``pku_gendata.py``: ``video[start:end]`` with the label file's
1-based numbers used as 0-based slice bounds, i.e. frames start+1 .. end (1-based) are kept:
the first labelled frame is lost and the last is kept. ``--slice inclusive`` keeps frames
start .. end instead (AimCLR's convention). No centring, no denoising: raw camera coordinates,
as the reference. Clips are cut (not resampled) to 300 frames and zero-padded. A video that is
in neither list of a split file counts as test, as in the reference.

Deliberate differences: videos are read in sorted order (the reference uses ``os.listdir``
order); a label row with start > end, an end beyond the video or a class outside 1..51 is
skipped with its reason (the reference keeps a shortened or empty slice); all-zero clips are
skipped and reported (the reference skips them silently).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from mamp_bench.data.pku.reader import (
    PHASE1_NAME,
    PHASE2_NAME,
    PKU_NUM_CLASSES,
    read_pku_labels,
    read_pku_skeleton,
    read_pku_split,
)
from mamp_bench.data.preparation import (
    MAX_FRAMES,
    Manifest,
    Timer,
    parallel_map,
    refuse_overlap,
    write_split_npz,
)
from mamp_bench.data.provenance import manifest_file, raw_provenance
from mamp_bench.errors import DataFormatError, UserError

SKELETON_DIRS = ("skeleton", "Skeleton", "PKU_Skeleton_Renew", "skeletons")
LABEL_DIRS = ("label", "Label", "Train_Label_PKU_final", "labels", "Label_PKUMMD_v2")
SPLIT_FILES = {
    "pku1": {
        "XSub": ("cross-subject.txt", "cross_subject.txt", "cross-subject_v1.txt", "cross_subject_v1.txt"),
        "XView": ("cross-view.txt", "cross_view.txt", "cross-view_v1.txt", "cross_view_v1.txt"),
    },
    "pku2": {
        "XSub": ("cross_subject_v2.txt", "cross-subject_v2.txt"),
        "XView": ("cross_view_v2.txt", "cross-view_v2.txt"),
    },
}
PREFIX = {"pku1": "PKUv1", "pku2": "PKUv2"}
NAME_PATTERN = {"pku1": PHASE1_NAME, "pku2": PHASE2_NAME}


@dataclass
class _Video:
    stem: str
    clips: list[tuple[int, np.ndarray]] = field(default_factory=list)  # (0-based label, (T,150))
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (item, reason)
    error: str | None = None


def cut_clip(video: np.ndarray, start: int, end: int, inclusive: bool) -> np.ndarray:
    """Frames of one label row; ``start``/``end`` are the label file's 1-based numbers."""
    return video[start - 1 : end] if inclusive else video[start:end]


def _process(paths: tuple[Path, Path | None], inclusive: bool) -> _Video:
    skeleton_path, label_path = paths
    result = _Video(skeleton_path.stem)
    if label_path is None:
        result.error = "no label file"
        return result
    try:
        video = read_pku_skeleton(skeleton_path)
        rows = read_pku_labels(label_path)
    except DataFormatError as exc:
        result.error = str(exc)
        return result
    first_frame = 1 if inclusive else 0
    for index, row in enumerate(rows):
        item = f"{result.stem} row {index + 1}"
        if not 1 <= row.action <= PKU_NUM_CLASSES:
            result.skipped.append((item, f"action {row.action} is outside 1..{PKU_NUM_CLASSES}"))
        elif row.start > row.end:
            result.skipped.append((item, f"start {row.start} > end {row.end}"))
        elif row.start < first_frame:
            result.skipped.append((item, f"start frame {row.start} is before the first frame ({first_frame})"))
        elif row.end > len(video):
            result.skipped.append((item, f"end frame {row.end} is beyond the video ({len(video)} frames)"))
        else:
            clip = cut_clip(video, row.start, row.end, inclusive)
            if clip.sum() == 0:
                result.skipped.append((item, "all-zero clip"))
            else:
                result.clips.append((row.action - 1, np.ascontiguousarray(clip[:MAX_FRAMES])))
    return result


def find_dir(raw: Path, names: tuple[str, ...], what: str) -> Path:
    for name in names:
        if (raw / name).is_dir():
            return raw / name
    raise UserError(f"no {what} folder in {raw} (looked for {', '.join(names)})")


def find_split(raw: Path, names: tuple[str, ...]) -> Path:
    for name in names:
        for folder in (raw, raw / "split", raw / "splits"):
            if os.path.lexists(folder / name):  # the reader refuses what is not a regular file, with the reason
                return folder / name
    raise UserError(f"no split file in {raw} (looked for {', '.join(names)})")


def _read_videos(
    phase: str, skeleton_dir: Path, label_dir: Path, manifest: Manifest, workers: int, inclusive: bool, quiet: bool
) -> dict[str, _Video]:
    """Every video of the phase with its clips (video stem -> clips); skipped items go to the manifest."""
    videos = sorted(skeleton_dir.glob("*.txt"))
    if not videos:
        raise UserError(f"no .txt skeleton files in {skeleton_dir}")
    manifest.files_found = len(videos)
    jobs = []
    for path in videos:
        if not NAME_PATTERN[phase].match(path.stem):
            manifest.skip(path.name, f"file name does not match the {PREFIX[phase]} naming")
            continue
        label = label_dir / path.name
        jobs.append((path, label if os.path.lexists(label) else None))  # not a regular file: the reader says why
    by_video: dict[str, _Video] = {}
    for video in parallel_map(partial(_process, inclusive=inclusive), jobs, workers, f"reading {PREFIX[phase]}", quiet):
        if video.error:
            manifest.skip(video.stem, video.error)
            continue
        for item, reason in video.skipped:
            manifest.skip(item, reason)
        by_video[video.stem] = video
    return by_video


def _write_split(
    path: Path, by_video: dict[str, _Video], train_set: set[str], test_set: set[str], name: str, manifest: Manifest
) -> dict:
    """One split's ``.npz``: train videos' clips, then the rest (test); its manifest entry."""
    unlisted = [s for s in sorted(by_video) if s not in train_set and s not in test_set]
    if unlisted:
        manifest.notes[f"{name}: not in the split file, counted as test"] = unlisted
    sides: dict[bool, tuple[list[np.ndarray], list[int]]] = {True: ([], []), False: ([], [])}
    for stem in sorted(by_video):
        data, labels = sides[stem in train_set]
        for label, clip in by_video[stem].clips:
            data.append(clip)
            labels.append(label)
    return write_split_npz(path, *sides[True], *sides[False], PKU_NUM_CLASSES, provenance=manifest.provenance)


def prepare_pku(
    phase: str,
    raw: str | Path,
    out: str | Path,
    workers: int = 1,
    slicing: str = "reference",
    quiet: bool = False,
) -> Manifest:
    """Prepare PKU-MMD Phase I (``pku1``) or II (``pku2``); returns the written manifest."""
    if slicing not in ("reference", "inclusive"):
        raise UserError(f"--slice must be 'reference' or 'inclusive', got {slicing!r}")
    raw, out = Path(raw), Path(out)
    if not raw.is_dir():
        raise UserError(f"raw folder {raw} does not exist or is not a folder")
    skeleton_dir = find_dir(raw, SKELETON_DIRS, "skeleton")
    label_dir = find_dir(raw, LABEL_DIRS, "label")
    try:
        splits = {name: read_pku_split(find_split(raw, files)) for name, files in SPLIT_FILES[phase].items()}
    except DataFormatError as exc:
        raise UserError(str(exc)) from None
    for name, (train_list, test_list) in splits.items():
        refuse_overlap(set(train_list), set(test_list), f"the {name} split file of {raw}", "video")
    manifest = Manifest(phase, str(raw), {"slice": slicing}, provenance=raw_provenance(raw))
    with Timer() as timer:
        by_video = _read_videos(phase, skeleton_dir, label_dir, manifest, workers, slicing == "inclusive", quiet)
        manifest.samples = sum(len(v.clips) for v in by_video.values())
        if manifest.samples == 0:
            raise UserError(f"no usable clip under {raw} ({len(manifest.skipped)} items skipped)")
        out.mkdir(parents=True, exist_ok=True)
        for split_name, (train_list, test_list) in splits.items():
            manifest.splits[split_name] = _write_split(
                out / f"{PREFIX[phase]}_{split_name}.npz",
                by_video,
                set(train_list),
                set(test_list),
                split_name,
                manifest,
            )
    manifest.seconds = timer.seconds
    manifest.write(out / manifest_file(PREFIX[phase]))
    return manifest
