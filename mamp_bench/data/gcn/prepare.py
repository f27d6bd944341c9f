"""``mamp-bench prepare ntu60|ntu120|pku1 --chain gcn``: raw files -> the GCN family's 50-frame clips.

Outputs (in ``--out``): ``NTU60_XSub_frame50.npz`` and ``NTU60_XView_frame50.npz`` (NTU-120: ``XSub``,
``XSet``; PKU-MMD I: ``PKUv1_XSub_frame50.npz``, ``PKUv1_XView_frame50.npz``) plus
``<PREFIX>_frame50_manifest.json``. Each ``.npz`` has the suite's container (``x_train`` float32
(N, 50, 150): person-major, then joint, then xyz; one-hot ``y_train``; the same for ``test``), the sample
names (``names_train``, ``names_test``: the stage-1 pickle's names, without ``.skeleton``) and the
``provenance`` member. The arrays hold what AimCLR's ``<part>_position.npy`` holds (``chain.py``:
st-gcn's converter, then the 50-frame processor), in the layout the suite's dataset reads.

NTU: ``tools/ntu_gendata.py``: every ``.skeleton`` file, minus ``--missing-list``; labels from the file names;
within each side of a split, samples in name order (the AimCLR converter sorts its directory listing).
NTU-120 has no converter in the family's repositories; the same chain runs with NTU-120's official splits.

PKU-MMD I: ``tools/pku_part1_skeleton.py`` + ``pku_part1_gendata.py``: each label row becomes a clip of
frames ``start .. end`` (1-based, inclusive) named ``F<video>V<view>C<class>L<row>``; body 2 of a frame is
kept only where its 75 values do not sum to 0 (the converter writes no second body there); a clip longer than
300 frames is centre-cropped to 300 (``tools/utils/pku_read_skeleton.py``); label = class - 1; a clip is
in the training side when its video is in the split file's training list.

Deliberate differences, each reported in the manifest: what the reference crashes on is skipped with its reason
(a file that does not parse, a clip whose body slot 0 never has a non-zero SpineBase, a PKU row with start >
end, an end beyond the video or a class outside 1..51), NTU clips longer than 300 frames are cut to 300 with a
note, and PKU clips come in name order (the reference uses ``os.listdir`` order). A clip whose valid length
(counted from SpineBase) is shorter than its last frame with a body gets a note: the reference keeps only that
many frames from the start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mamp_bench.data.gcn.chain import STAGE1_FRAMES, WINDOW, first_two_bodies, frame50, pad_frames, valid_length
from mamp_bench.data.kinect import NUM_JOINTS, NUM_PERSONS
from mamp_bench.data.ntu.names import SampleName, ntu_splits, read_missing_list
from mamp_bench.data.ntu.prepare import NTU_VARIANTS, find_skeleton_files
from mamp_bench.data.ntu.reader import read_ntu_skeleton
from mamp_bench.data.pku.prepare import LABEL_DIRS, NAME_PATTERN, SKELETON_DIRS, SPLIT_FILES, find_dir, find_split
from mamp_bench.data.pku.reader import PKU_NUM_CLASSES, read_pku_labels, read_pku_skeleton, read_pku_split
from mamp_bench.data.preparation import Manifest, Timer, parallel_map, write_split_npz
from mamp_bench.data.provenance import raw_provenance
from mamp_bench.errors import DataFormatError, UserError

#: the datasets whose raw files the family's chain reads
GCN_DATASETS = ("ntu60", "ntu120", "pku1")
PREFIX = {"ntu60": "NTU60", "ntu120": "NTU120", "pku1": "PKUv1"}
PKU_VIEWS = {"L": 1, "M": 2, "R": 3}


@dataclass
class Clip:
    name: str
    label: int  # 0-based
    frames: np.ndarray  # (50, 150) float32, the suite's layout
    notes: list[str] = field(default_factory=list)


def to_rows(clip: np.ndarray) -> np.ndarray:
    """(3, T, V, M) -> (T, M*V*3): the suite's person-major frame rows."""
    return np.ascontiguousarray(clip.transpose(1, 3, 2, 0).reshape(clip.shape[1], -1))


def stage1_to_frame50(data: np.ndarray, name: str, label: int, notes: list[str]) -> Clip:
    """A stage-1 clip (3, T <= 300, V, M) float64 -> its 50-frame Clip; DataFormatError when no frame has body
    slot 0's SpineBase (the reference's resize fails there)."""
    clip300 = pad_frames(data)
    length = valid_length(clip300)
    if length == 0:
        raise DataFormatError("no frame where body 1's SpineBase is non-zero: nothing to resize")
    with_body = np.flatnonzero(np.abs(clip300[:, :, :, 0]).sum(axis=(0, 2)) != 0)
    if len(with_body) and with_body[-1] + 1 > length:
        notes.append(
            f"valid length {length} counted from SpineBase, but body 1 appears until frame {with_body[-1] + 1}: "
            f"the first {length} frames are kept, as the reference"
        )
    return Clip(name, label, to_rows(frame50(clip300)), notes)


# ----- NTU RGB+D ---------------------------------------------------------------------------------------------
def _ntu_clip(path: Path) -> Clip | tuple[str, str]:
    stem = path.name[: -len(".skeleton")]
    try:
        data = first_two_bodies(read_ntu_skeleton(path))
        notes = []
        if data.shape[1] > STAGE1_FRAMES:
            notes.append(f"{data.shape[1]} frames cut to {STAGE1_FRAMES}")
            data = data[:, :STAGE1_FRAMES]
        return stage1_to_frame50(data, stem, SampleName.parse(stem).label, notes)
    except DataFormatError as exc:
        return stem, str(exc)


def _ntu_clips(variant: str, raw: Path, manifest: Manifest, missing: set[str], workers: int, quiet: bool):
    files = find_skeleton_files(raw, NTU_VARIANTS[variant], manifest, missing)
    yield from parallel_map(_ntu_clip, files, workers, f"reading {PREFIX[variant]} (gcn chain)", quiet)


def _ntu_sides(variant: str, clips: list[Clip]):
    """(split name, is_train per clip) of each official split."""
    samples = [SampleName.parse(c.name) for c in clips]
    for split in ntu_splits(variant):
        yield split.name, [split.is_train(s) for s in samples]


# ----- PKU-MMD I ---------------------------------------------------------------------------------------------
def pku_clip_name(video: str, action: int, row: int) -> str:
    """``F<video:03>V<view:03>C<class:03>L<row:03>``, as ``pku_part1_skeleton.py`` names its files."""
    return f"F{int(video[:4]):03d}V{PKU_VIEWS[video[-1]]:03d}C{action:03d}L{row:03d}"


def pku_stage1(frames: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Frames (T, 150) of one label row -> stage 1 (3, T', 25, 2) float64: body 2 zero wherever its values sum
    to 0; centre-cropped to 300 frames."""
    frames = frames.astype(np.float64)
    frames[frames[:, 75:].sum(axis=1) == 0, 75:] = 0
    notes = []
    if len(frames) > STAGE1_FRAMES:
        start = (len(frames) - STAGE1_FRAMES) // 2
        notes.append(f"{len(frames)} frames centre-cropped to {STAGE1_FRAMES} (from frame {start + 1})")
        frames = frames[start : start + STAGE1_FRAMES]
    stage1 = frames.reshape(len(frames), NUM_PERSONS, NUM_JOINTS, 3).transpose(3, 0, 2, 1)
    return stage1, notes


def _pku_video(paths: tuple[Path, Path | None]) -> list[Clip | tuple[str, str]]:
    skeleton_path, label_path = paths
    stem = skeleton_path.stem
    if label_path is None:
        return [(stem, "no label file")]
    try:
        video = read_pku_skeleton(skeleton_path)
        rows = read_pku_labels(label_path)
    except DataFormatError as exc:
        return [(stem, str(exc))]
    out: list[Clip | tuple[str, str]] = []
    for index, row in enumerate(rows):
        item = f"{stem} row {index + 1}"
        if not 1 <= row.action <= PKU_NUM_CLASSES:
            out.append((item, f"action {row.action} is outside 1..{PKU_NUM_CLASSES}"))
        elif not 1 <= row.start <= row.end:
            out.append((item, f"frames {row.start}..{row.end} are not a range of 1-based frames"))
        elif row.end > len(video):
            out.append((item, f"end frame {row.end} is beyond the video ({len(video)} frames)"))
        else:
            stage1, notes = pku_stage1(video[row.start - 1 : row.end])
            try:
                out.append(stage1_to_frame50(stage1, pku_clip_name(stem, row.action, index + 1), row.action - 1, notes))
            except DataFormatError as exc:
                out.append((item, str(exc)))
    return out


def _pku_clips(raw: Path, manifest: Manifest, workers: int, quiet: bool):
    skeleton_dir = find_dir(raw, SKELETON_DIRS, "skeleton")
    label_dir = find_dir(raw, LABEL_DIRS, "label")
    videos = sorted(skeleton_dir.glob("*.txt"))
    if not videos:
        raise UserError(f"no .txt skeleton files in {skeleton_dir}")
    manifest.files_found = len(videos)
    jobs = []
    for path in videos:
        if not NAME_PATTERN["pku1"].match(path.stem):
            manifest.skip(path.name, "file name does not match the PKUv1 naming")
            continue
        label = label_dir / path.name
        jobs.append((path, label if label.exists() or label.is_symlink() else None))
    for results in parallel_map(_pku_video, jobs, workers, "reading PKUv1 (gcn chain)", quiet):
        yield from results


def _pku_sides(raw: Path, clips: list[Clip]):
    for name, files in SPLIT_FILES["pku1"].items():
        try:
            train, _ = read_pku_split(find_split(raw, files))
        except DataFormatError as exc:
            raise UserError(str(exc)) from None
        train_set = set(train)
        videos = [f"0{c.name[1:4]}-{'LMR'[int(c.name[5:8]) - 1]}" for c in clips]
        yield name, [video in train_set for video in videos]


# ----- both ---------------------------------------------------------------------------------------------------
def prepare_gcn(
    dataset: str,
    raw: str | Path,
    out: str | Path,
    workers: int = 1,
    missing_list: str | Path | None = None,
    quiet: bool = False,
) -> Manifest:
    """Prepare the GCN family's 50-frame clips of ``dataset``; returns the manifest written beside them."""
    if dataset not in GCN_DATASETS:
        raise UserError(f"the GCN family's chain prepares {', '.join(GCN_DATASETS)}; not {dataset!r}")
    raw, out = Path(raw), Path(out)
    if not raw.is_dir():
        raise UserError(f"raw folder {raw} does not exist or is not a folder")
    if dataset == "pku1" and missing_list:
        raise UserError("--missing-list is for NTU")
    options = {"chain": "gcn", "window": WINDOW, "missing_list": str(missing_list) if missing_list else None}
    manifest = Manifest(dataset, str(raw), options, provenance=raw_provenance(raw))
    with Timer() as timer:
        if dataset == "pku1":
            results = _pku_clips(raw, manifest, workers, quiet)
        else:
            missing = read_missing_list(missing_list) if missing_list else set()
            results = _ntu_clips(dataset, raw, manifest, missing, workers, quiet)
        clips: dict[str, Clip] = {}
        for result in results:
            if isinstance(result, tuple):
                manifest.skip(*result)
                continue
            clips[result.name] = result
            if result.notes:
                manifest.notes[result.name] = result.notes
        if not clips:
            raise UserError(f"no usable clip under {raw} ({len(manifest.skipped)} skipped, reasons in the manifest)")
        ordered = [clips[name] for name in sorted(clips)]
        manifest.samples = len(ordered)
        sides = _pku_sides(raw, ordered) if dataset == "pku1" else _ntu_sides(dataset, ordered)
        num_classes = PKU_NUM_CLASSES if dataset == "pku1" else NTU_VARIANTS[dataset].num_classes
        out.mkdir(parents=True, exist_ok=True)
        for split, is_train in sides:
            train = [c for c, side in zip(ordered, is_train, strict=True) if side is True]
            test = [c for c, side in zip(ordered, is_train, strict=True) if side is False]
            manifest.splits[split] = write_split_npz(
                out / f"{PREFIX[dataset]}_{split}_frame{WINDOW}.npz",
                [c.frames for c in train],
                [c.label for c in train],
                [c.frames for c in test],
                [c.label for c in test],
                num_classes,
                provenance=manifest.provenance,
                frames=WINDOW,
                names=([c.name for c in train], [c.name for c in test]),
            )
    manifest.seconds = timer.seconds
    manifest.write(out / f"{PREFIX[dataset]}_frame{WINDOW}_manifest.json")
    return manifest
