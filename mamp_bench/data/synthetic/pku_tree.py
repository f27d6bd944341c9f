"""Write synthetic PKU-MMD raw trees: untrimmed videos, label files and split files.

Each *performance* is one subject doing a sequence of actions separated by idle gaps, seen by
three cameras (views L, M, R), as in PKU-MMD. PKU classes reuse the motion program of the NTU
class with the same name (both datasets share their action vocabulary), so transfer between the
synthetic NTU and PKU sets means something. Phase II uses a fixed 41-class subset of the 51 ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mamp_bench.console import progress_bar
from mamp_bench.data.pku.reader import PKU_NUM_CLASSES
from mamp_bench.data.provenance import mark_synthetic
from mamp_bench.data.synthetic.motion import Body, ClassProgram, variant_of
from mamp_bench.data.synthetic.ntu_tree import ntu_class_programs
from mamp_bench.data.synthetic.scene import Camera, Difficulty, render_clip
from mamp_bench.errors import UserError

#: PKU action id -> NTU action id with the same name (29 "put something inside pocket" has none:
#: it plays NTU 25 "reach into pocket" backwards).
PKU_TO_NTU = {
    1: 35, 2: 4, 3: 3, 4: 33, 5: 22, 6: 10, 7: 40, 8: 1, 9: 5, 10: 2, 11: 43, 12: 56, 13: 23, 14: 58,
    15: 26, 16: 55, 17: 27, 18: 51, 19: 24, 20: 28, 21: 53, 22: 6, 23: 29, 24: 54, 25: 31, 26: 50,
    27: 52, 28: 20, 30: 11, 31: 34, 32: 38, 33: 8, 34: 9, 35: 21, 36: 19, 37: 15, 38: 25, 39: 32,
    40: 13, 41: 7, 42: 46, 43: 45, 44: 44, 45: 47, 46: 30, 47: 49, 48: 14, 49: 18, 50: 37, 51: 12,
}  # fmt: skip
#: The synthetic Phase II class subset (41 of the 51 ids; the real subset is not public here).
PHASE2_CLASSES = tuple(c for c in range(1, PKU_NUM_CLASSES + 1) if c not in (2, 10, 20, 23, 29, 30, 39, 46, 50, 51))
VIEWS = {"L": -np.pi / 4, "M": 0.0, "R": np.pi / 4}


def pku_class_programs() -> dict[int, ClassProgram]:
    ntu = ntu_class_programs("ntu60")
    programs = {pku: ntu[n - 1] for pku, n in PKU_TO_NTU.items()}
    reach = ntu[24]
    programs[29] = ClassProgram("pku:29", tuple(variant_of(a, "pku:29") for a in reach.actors), reach.frames)
    return programs


@dataclass
class VideoTruth:
    stem: str
    subject: int
    view: str
    rows: list[tuple[int, int, int, int]] = field(default_factory=list)  # action, start, end, confidence
    frames: int = 0
    edge_case: str | None = None


def _stems(phase: int, performances: int) -> list[tuple[str, int]]:
    """(performance stem, subject) pairs."""
    if phase == 1:
        return [(f"{2 + i:04d}", 1 + i % 20) for i in range(performances)]
    return [(f"A{1 + i // 13 % 26:02d}N{1 + i % 13:02d}", 1 + i % 13) for i in range(performances)]


def format_pku_video(frames: np.ndarray) -> bytes:
    """(T, 150) -> text, ``%f`` values separated by spaces, one line per frame."""
    line = " ".join(["%f"] * 150) + "\n"
    return "".join(line % tuple(row) for row in frames).encode("ascii")


def write_pku_tree(
    root: str | Path,
    phase: int = 1,
    performances: int = 6,
    actions_per_video: int = 8,
    seed: int = 0,
    edge_cases: bool = False,
    difficulty: Difficulty | None = None,
    quiet: bool = True,
) -> list[VideoTruth]:
    """Write ``root/skeleton``, ``root/label`` and the split files; returns one truth per video (with a progress
    bar unless ``quiet``)."""
    check_counts(phase, performances, actions_per_video)
    root = Path(root)
    difficulty = difficulty or Difficulty(idle=0)
    programs = pku_class_programs()
    classes = list(range(1, PKU_NUM_CLASSES + 1)) if phase == 1 else list(PHASE2_CLASSES)
    (root / "skeleton").mkdir(parents=True, exist_ok=True)
    (root / "label").mkdir(parents=True, exist_ok=True)
    mark_synthetic(root, "mamp-bench synth", family=f"pku{phase}", seed=seed)
    truths: list[VideoTruth] = []
    cursor = 0
    progress = progress_bar(not quiet, status=False)
    with progress:
        task = progress.add_task(f"writing synthetic PKU-MMD Phase {phase}", total=performances * len(VIEWS))
        for index, (stem, subject) in enumerate(_stems(phase, performances)):
            cursor = _write_performance(root, phase, index, stem, subject, seed, classes, cursor, actions_per_video,
                                        programs, difficulty, truths)  # fmt: skip
            progress.advance(task, len(VIEWS))
    if edge_cases:
        _inject_edge_cases(root, truths)
    _write_splits(root, phase, truths)
    return truths


#: Bounds of a synthetic PKU-MMD tree: Phase I has 363 performances (0002-0364; 1,076 videos) and we allow 400;
#: Phase II's names A01-A26 x N01-N13 give 338 performances (more would reuse names and overwrite videos). A real
#: video holds about 20 actions (21.5k over 1,076 videos); 60.
MAX_PERFORMANCES = {1: 400, 2: 338}
MAX_ACTIONS_PER_VIDEO = 60


def check_counts(phase: int, performances: int, actions_per_video: int) -> None:
    """``UserError`` unless the counts are within the bounds above."""
    if not 1 <= performances <= MAX_PERFORMANCES[phase]:
        raise UserError(f"--performances must be in [1, {MAX_PERFORMANCES[phase]}] for Phase {phase}, got "
                        f"{performances}")  # fmt: skip
    if not 1 <= actions_per_video <= MAX_ACTIONS_PER_VIDEO:
        raise UserError(f"--actions-per-video must be in [1, {MAX_ACTIONS_PER_VIDEO}], got {actions_per_video}")


def _write_performance(root, phase, index, stem, subject, seed, classes, cursor, actions_per_video, programs,
                       difficulty, truths) -> int:  # fmt: skip
    """The three views of one performance (videos and label files); the next class cursor."""
    rng = np.random.default_rng([seed, phase, index])
    actions = [classes[(cursor + k) % len(classes)] for k in range(actions_per_video)]
    cursor += actions_per_video
    rng.shuffle(actions)
    height, distance = rng.uniform(0.8, 1.3), rng.uniform(2.4, 3.4)
    body = Body.for_subject(subject, f"pku{phase}")
    partner = Body.for_subject(subject + 500, f"pku{phase}")
    clip_seeds = rng.integers(0, 2**31, size=len(actions))
    gaps = rng.integers(15, 50, size=len(actions) + 1)
    confidences = rng.integers(1, 3, size=len(actions))
    for view, yaw in VIEWS.items():
        camera = Camera(yaw, distance, height, 0.12)
        truth = VideoTruth(f"{stem}-{view}", subject, view)
        pieces = [np.zeros((0, 2, 25, 3))]
        for action, clip_seed, gap, confidence in zip(actions, clip_seeds, gaps, confidences, strict=False):
            program = programs[action]
            clip_rng = np.random.default_rng(int(clip_seed))  # the same performance in every view
            clip = render_clip(program, [body, partner][: len(program.actors)], camera, 0.3, clip_rng, difficulty)
            persons = np.zeros((clip.joints.shape[1], 2, 25, 3))
            persons[:, : clip.joints.shape[0]] = clip.joints.transpose(1, 0, 2, 3)
            pieces.append(_gap(pieces[-1], persons, int(gap)))
            start = sum(len(p) for p in pieces) + 1
            pieces.append(persons)
            truth.rows.append((action, start, start + len(persons) - 1, int(confidence)))
        pieces.append(_gap(pieces[-1], None, int(gaps[-1])))
        video = np.concatenate(pieces).reshape(-1, 150)
        truth.frames = len(video)
        truths.append(truth)
        (root / "skeleton" / f"{truth.stem}.txt").write_bytes(format_pku_video(video))
        _write_labels(root / "label" / f"{truth.stem}.txt", truth.rows)
    return cursor


def _gap(previous: np.ndarray, following: np.ndarray | None, frames: int) -> np.ndarray:
    """Idle frames moving actor 1 linearly from the previous clip's last pose to the next one's first."""
    gap = np.zeros((frames, 2, 25, 3))
    if len(previous) == 0 and following is None:
        return gap
    start = previous[-1, 0] if len(previous) else following[0, 0]
    end = following[0, 0] if following is not None else start
    w = np.linspace(0, 1, frames + 2)[1:-1, None, None]
    gap[:, 0] = (1 - w) * start + w * end
    return gap


def _write_labels(path: Path, rows) -> None:
    path.write_text("".join(f"{a},{s},{e},{c}\n" for a, s, e, c in rows))


def _inject_edge_cases(root: Path, truths: list[VideoTruth]) -> None:
    """Bad rows and files that the preparation must skip with a reason."""
    first, second, third, fourth = truths[0], truths[1], truths[2], truths[3]
    a, s, e, c = first.rows[0]
    first.rows.append((a, e, s, c))  # start > end
    first.rows.append((a, first.frames - 5, first.frames + 40, c))  # runs past the video
    _write_labels(root / "label" / f"{first.stem}.txt", first.rows)
    first.edge_case = "bad_rows"
    (root / "label" / f"{second.stem}.txt").unlink()
    second.edge_case = "no_label"
    video = np.loadtxt(root / "skeleton" / f"{third.stem}.txt", dtype=np.float64).reshape(-1, 150)
    _, s, e, _ = third.rows[0]
    video[s - 1 : e] = 0  # the tracker lost the actor for a whole action
    (root / "skeleton" / f"{third.stem}.txt").write_bytes(format_pku_video(video))
    third.edge_case = "zero_clip"
    path = root / "skeleton" / f"{fourth.stem}.txt"
    lines = path.read_text().splitlines(keepends=True)
    lines[3] = " ".join(lines[3].split()[:149]) + "\n"  # a line with 149 values
    path.write_text("".join(lines))
    fourth.edge_case = "bad_line"


def _write_splits(root: Path, phase: int, truths: list[VideoTruth]) -> None:
    subjects = sorted({t.subject for t in truths})
    test_subjects = set(subjects[2::3])
    sides = {
        "xsub": (
            [t.stem for t in truths if t.subject not in test_subjects],
            [t.stem for t in truths if t.subject in test_subjects],
        ),
        "xview": ([t.stem for t in truths if t.view != "L"], [t.stem for t in truths if t.view == "L"]),
    }
    names = {1: ("cross-subject.txt", "cross-view.txt"), 2: ("cross_subject_v2.txt", "cross_view_v2.txt")}[phase]
    for filename, (train, test) in zip(names, sides.values(), strict=False):
        (root / filename).write_text(
            "Training videos: \n"
            + ", ".join(sorted(train))
            + ", \nValidataion videos: \n"
            + ", ".join(sorted(test))
            + ", \n"
        )
