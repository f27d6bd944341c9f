"""Write synthetic NTU RGB+D raw trees: real ``.skeleton`` files with valid names.

``write_ntu_tree`` writes ``ROOT/nturgb+d_skeletons/*.skeleton`` (and, for NTU-120 setups >= 18,
``ROOT/nturgb+d_skeletons_120/``), a missing-skeleton list in the official format, and returns
what it wrote (``FileTruth``) so tests can check the preparation against it. With
``edge_cases=True`` a few files carry the hard cases of the real data: empty frames, a short
noise body, a wide noise body, a body-ID switch, four bodies at once, an all-empty file and a
sequence longer than 300 frames.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mamp_bench.data.kinect import NUM_JOINTS
from mamp_bench.data.ntu.names import NTU60_XSUB_TRAIN, NTU120_XSUB_TRAIN, SampleName
from mamp_bench.data.preparation import parallel_map
from mamp_bench.data.provenance import mark_synthetic
from mamp_bench.data.synthetic.motion import Body, ClassProgram, class_programs
from mamp_bench.data.synthetic.scene import Difficulty, matrix_to_quaternion, ntu_camera, render_clip
from mamp_bench.errors import UserError

#: Joints the Kinect reports without an orientation (leaves of its tree).
_LEAVES = (3, 15, 19, 21, 22, 23, 24)
_JOINT_FMT = " ".join(["%.7g"] * 11) + " %d"

EDGE_CASES = ("empty_frames", "short_noise_body", "wide_noise_body", "id_switch", "four_bodies", "all_empty", "long")


@dataclass
class BodyStream:
    """One tracked body as the file will list it: present in ``frames`` (file frame indices)."""

    body_id: str
    frames: np.ndarray  # (n,) file frame indices
    joints: np.ndarray  # (n, 25, 3) camera space
    quats: np.ndarray  # (n, 25, 4)


@dataclass
class FileTruth:
    name: str
    path: Path
    label: int  # 0-based
    actors: int  # real actors in the clip
    frames: int  # frames written
    edge_case: str | None = None
    bodies: list[str] = field(default_factory=list)
    index: int = 0


def _body_id(rng: np.random.Generator) -> str:
    return str(72057594037927936 + int(rng.integers(1000, 999999)))


def format_skeleton(num_frames: int, streams: list[BodyStream], rng: np.random.Generator, crlf: bool = False) -> bytes:
    """The text of one ``.skeleton`` file; each frame lists the bodies present in it."""
    nl = "\r\n" if crlf else "\n"
    block_fmt = (_JOINT_FMT + nl) * NUM_JOINTS
    per_frame: list[list[str]] = [[] for _ in range(num_frames)]
    for stream in streams:
        hands = rng.integers(0, 2, size=2), rng.integers(0, 5, size=2)
        for k, frame in enumerate(stream.frames):
            xyz = stream.joints[k]
            z = np.maximum(xyz[:, 2], 0.3)
            fields = np.empty((NUM_JOINTS, 12))
            fields[:, :3] = xyz
            fields[:, 3] = 256 + 365.0 * xyz[:, 0] / z
            fields[:, 4] = 212 - 365.0 * xyz[:, 1] / z
            fields[:, 5] = 960 + 1060.0 * xyz[:, 0] / z
            fields[:, 6] = 540 - 1060.0 * xyz[:, 1] / z
            fields[:, 7:11] = stream.quats[k]
            fields[_LEAVES, 7:11] = 0.0
            fields[:, 11] = 2
            lean = rng.normal(0, 0.05, size=2)
            info = (
                f"{stream.body_id} 0 {hands[0][0]} {hands[1][0]} {hands[0][1]} {hands[1][1]} 0 "
                f"{lean[0]:.7g} {lean[1]:.7g} 2{nl}{NUM_JOINTS}{nl}"
            )
            per_frame[frame].append(info + block_fmt % tuple(fields.ravel()))
    parts = [f"{num_frames}{nl}"]
    for bodies in per_frame:
        parts.append(f"{len(bodies)}{nl}")
        parts.extend(bodies)
    return "".join(parts).encode("ascii")


def _noise_body(rng: np.random.Generator, frames: np.ndarray, wide: bool) -> np.ndarray:
    """Joints of a non-human object: a wide flat 'table' or a small blob near the actor."""
    n = len(frames)
    if wide:
        base = np.stack([rng.uniform(-0.7, 0.7, NUM_JOINTS), rng.uniform(-0.5, -0.4, NUM_JOINTS),
                         rng.uniform(2.4, 2.6, NUM_JOINTS)], -1)  # fmt: skip
    else:
        base = rng.normal([0.3, 0.0, 3.0], 0.15, size=(NUM_JOINTS, 3))
    drift = rng.normal(0, 0.004, size=(n, 1, 3)).cumsum(0)
    return base[None] + drift + rng.normal(0, 0.01, size=(n, NUM_JOINTS, 3))


def _plan_names(variant: str, clips_per_class: int, rng: np.random.Generator) -> list[SampleName]:
    classes, setups, subjects = (60, 17, 40) if variant == "ntu60" else (120, 32, 106)
    train = NTU60_XSUB_TRAIN if variant == "ntu60" else NTU120_XSUB_TRAIN
    test = [s for s in range(1, subjects + 1) if s not in train]
    # alternate train and test subjects so every class has both sides of every split
    pool = [s for pair in zip(train, test, strict=False) for s in pair]
    names: set[SampleName] = set()
    planned = []
    for action in range(1, classes + 1):
        for i in range(clips_per_class):
            while True:
                name = SampleName(
                    setup=int(1 + (action + i + int(rng.integers(0, setups))) % setups),
                    camera=1 + (action + i) % 3,
                    subject=pool[(action * 7 + i + int(rng.integers(0, 3))) % len(pool)],
                    replication=1 + (i // 3) % 2,
                    action=action,
                )
                if name not in names:
                    break
            names.add(name)
            planned.append(name)
    return planned


@functools.cache
def ntu_class_programs(variant: str) -> tuple[ClassProgram, ...]:
    classes = 60 if variant == "ntu60" else 120
    keys = [f"ntu:{a}" for a in range(1, classes + 1)]
    interaction = [50 <= a <= 60 or a >= 106 for a in range(1, classes + 1)]
    return tuple(class_programs(keys, interaction))


#: The most clips per class a synthetic tree holds: the real NTU sets have about 950 (56,880 files over 60
#: classes, 114,480 over 120); beyond this the names of a class run out and the generator would search forever.
MAX_CLIPS_PER_CLASS = 1000


def write_ntu_tree(
    root: str | Path,
    variant: str = "ntu60",
    clips_per_class: int = 4,
    seed: int = 0,
    crlf: bool = False,
    edge_cases: bool = False,
    difficulty: Difficulty | None = None,
    workers: int = 1,
    quiet: bool = True,
) -> list[FileTruth]:
    """Write a raw NTU tree under ``root``; returns one FileTruth per file, in writing order (with a progress
    bar unless ``quiet``)."""
    if not 1 <= clips_per_class <= MAX_CLIPS_PER_CLASS:
        raise UserError(f"--clips-per-class must be in [1, {MAX_CLIPS_PER_CLASS}] (the real sets have about 950 a "
                        f"class), got {clips_per_class}")  # fmt: skip
    root = Path(root)
    difficulty = difficulty or Difficulty()
    rng = np.random.default_rng(seed)
    programs = ntu_class_programs(variant)
    names = _plan_names(variant, clips_per_class, rng)
    cases = _assign_edge_cases(names, programs) if edge_cases else {}
    jobs = [(root, variant, name, index, seed, crlf, cases.get(index), difficulty) for index, name in enumerate(names)]
    truths = sorted(parallel_map(_write_job, jobs, workers, "writing synthetic NTU", quiet), key=lambda t: t.index)
    mark_synthetic(root, "mamp-bench synth", family=variant, seed=seed)
    missing = [t.name for t in truths if t.edge_case == "all_empty"]
    (root / "samples_with_missing_skeletons.txt").write_text(
        "The following samples have missing skeletons.\nThey are listed by name.\n\n"
        + "".join(n + "\n" for n in missing)
    )
    return truths


def _assign_edge_cases(names: list[SampleName], programs) -> dict[int, str]:
    """Each edge case goes to the first free file that suits it (four bodies: an interaction)."""
    cases: dict[int, str] = {}
    for case in EDGE_CASES:
        two_actors = case == "four_bodies"
        index = next(
            i for i, n in enumerate(names) if i not in cases and (len(programs[n.label].actors) == 2) == two_actors
        )
        cases[index] = case
    return cases


def _write_job(job) -> FileTruth:
    root, variant, name, index, seed, crlf, case, difficulty = job
    program = ntu_class_programs(variant)[name.label]
    truth = _write_file(root, name, program, np.random.default_rng([seed, index]), crlf, case, difficulty)
    truth.index = index
    return truth


def _write_file(root, name, program, rng, crlf, case, difficulty) -> FileTruth:
    bodies = [Body.for_subject(name.subject)] + [Body.for_subject(1000 + name.subject)] * (len(program.actors) - 1)
    facing = (0.5 if name.replication == 1 else -0.5) + rng.uniform(-0.2, 0.2)
    clip = render_clip(program, bodies, ntu_camera(name.setup, name.camera), facing, rng, difficulty)
    if case == "long":
        reps = int(np.ceil(310 / clip.joints.shape[1]))
        clip.joints = np.concatenate([clip.joints] * reps, 1)[:, :310]
        clip.rotations = np.concatenate([clip.rotations] * reps, 1)[:, :310]
    quats = matrix_to_quaternion(clip.rotations)
    actors, frames = clip.joints.shape[:2]
    order = rng.permutation(actors)
    streams = [BodyStream(_body_id(rng), np.arange(frames), clip.joints[a], quats[a]) for a in order]
    total = frames
    if case == "empty_frames":
        # 2 empty frames first, 3 in the middle, 2 at the end: shift the body frames
        middle = frames // 2
        shift = np.where(np.arange(frames) < middle, 2, 5)
        for s in streams:
            s.frames = s.frames + shift
        total = frames + 7
    elif case == "all_empty":
        streams = []
    elif case == "id_switch":
        first = streams[0]
        cut = frames // 2
        streams[0:1] = [
            BodyStream(first.body_id, first.frames[:cut], first.joints[:cut], first.quats[:cut]),
            BodyStream(_body_id(rng), first.frames[cut:], first.joints[cut:], first.quats[cut:]),
        ]
    if case in ("short_noise_body", "four_bodies"):
        span = np.arange(5, 13)  # 8 frames <= 11: removed by the length filter
        streams.append(BodyStream(_body_id(rng), span, _noise_body(rng, span, False), np.zeros((8, NUM_JOINTS, 4))))
    if case in ("wide_noise_body", "four_bodies"):
        span = np.arange(frames)
        streams.append(BodyStream(_body_id(rng), span, _noise_body(rng, span, True), np.zeros((frames, NUM_JOINTS, 4))))
    folder = "nturgb+d_skeletons" if name.setup <= 17 else "nturgb+d_skeletons_120"
    path = root / folder / f"{name.stem}.skeleton"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(format_skeleton(total, streams, rng, crlf))
    return FileTruth(name.stem, path, name.label, actors, total, case, [s.body_id for s in streams])
