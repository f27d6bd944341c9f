"""Deterministic inputs shared by ``make_expected.py`` (which runs the reference code on them) and the parity
tests (which run the suite on them): the same recipe on both sides gives the same bytes, so only the reference's
outputs need committing. The suite's own code; nothing here comes from the reference repositories.

* ``write_edge_cases``: small NTU ``.skeleton`` files with the data chain's edge cases (made up, not real data);
* ``write_real_variants``: edge cases cut from the real samples (an absent body-1 frame, a second body);
* ``write_pku_tree``: a PKU-MMD Phase I raw tree around the real Phase II skeleton file, with made-up label rows;
* ``clips``: a batch of 50-frame clips for the model and pretext parities;
* ``official_state``: an official-layout state dict (the reference's keys and shapes) with recipe values;
* ``sketch``: random projections of an array, to compare outputs on real data without committing the data.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
EXPECTED = HERE / "expected.npz"
EXPECTED_JSON = HERE / "expected.json"
REAL_NTU = ("S001C001P001R001A001", "S001C001P001R001A002", "S001C001P001R001A003")
SKETCH_SIZE = 64
QUEUE = 32768
BATCH = 8
AUG_CLIPS = 4  # clips whose augmented views are kept


# ----- NTU .skeleton files -----------------------------------------------------------------------------------
def _body_line(body_id: int) -> str:
    return f"{body_id} 0 1 1 1 1 0 0.01 0.02 2"


def write_skeleton(path: Path, frames: list[list[tuple[int, np.ndarray]]]) -> Path:
    """A ``.skeleton`` file: per frame, the (body ID, (25, 3) xyz) entries in file order."""
    lines = [str(len(frames))]
    for bodies in frames:
        lines.append(str(len(bodies)))
        for body_id, xyz in bodies:
            lines += [_body_line(body_id), "25"]
            lines += [f"{x:.7g} {y:.7g} {z:.7g} 250 200 1000 500 0 0 0 0 2" for x, y, z in xyz]
    path.write_text("\n".join(lines) + "\n")
    return path


def moving_body(frames: int, seed: int, yaw_from: float = -40.0, yaw_to: float = 40.0) -> np.ndarray:
    """(frames, 25, 3) a body that moves and turns about y (so the shoulder vector's z changes sign)."""
    rng = np.random.RandomState(seed)
    base = np.stack([rng.uniform(-0.3, 0.3, 25), rng.uniform(-0.8, 0.8, 25), rng.uniform(-0.1, 0.1, 25)], 1)
    base[4], base[8] = (-0.2, 0.45, 0.0), (0.2, 0.45, 0.0)  # shoulders left / right
    t = np.linspace(0, 1, frames)[:, None, None]
    wobble = 0.05 * np.sin(2 * np.pi * (t * rng.uniform(0.5, 2, (1, 25, 3)) + rng.uniform(0, 1, (1, 25, 3))))
    local = base[None] + wobble
    yaw = np.deg2rad(yaw_from + (yaw_to - yaw_from) * t[:, 0, 0])
    c, s = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
    x, z = local[..., 0], local[..., 2]
    rotated = np.stack([c * x + s * z, local[..., 1], -s * x + c * z], axis=-1)
    return rotated + np.array([rng.uniform(-0.5, 0.5), 0.1, 3.0 + rng.uniform(0, 0.5)])


def write_edge_cases(folder: Path) -> dict[str, Path]:
    """Made-up NTU files, one edge case each, named as NTU samples (label = case index)."""
    folder.mkdir(parents=True, exist_ok=True)
    a, b, c = 72057594037931101, 72057594037931102, 72057594037931103
    cases: dict[str, list[list[tuple[int, np.ndarray]]]] = {}
    one = moving_body(60, 1)
    cases["one_body"] = [[(a, one[t])] for t in range(60)]
    p, q = moving_body(80, 2), moving_body(80, 3, 30, -30)
    cases["two_bodies"] = [[(a, p[t]), (b, q[t])] for t in range(80)]
    cases["second_body_partly"] = [[(a, p[t])] + ([(b, q[t])] if 20 <= t < 50 else []) for t in range(80)]
    r = moving_body(80, 4)
    cases["three_bodies_swapping"] = [
        [(a, p[t]), (b, q[t]), (c, r[t])] if t % 2 == 0 else [(b, q[t]), (a, p[t]), (c, r[t])] for t in range(80)
    ]
    e = moving_body(90, 5)
    cases["empty_frames"] = [[] if t < 3 or 30 <= t < 35 else [(a, e[t])] for t in range(90)]
    z = moving_body(70, 6)
    z[10:15, 0] = 0.0  # SpineBase exactly zero: those frames do not count
    cases["spinebase_zero"] = [[(a, z[t])] for t in range(70)]
    late = moving_body(70, 7)
    cases["body1_leaves"] = [[(a, late[t]), (b, q[t])] if t < 40 else [(b, q[t])] for t in range(70)]
    long = moving_body(290, 8, -80, 80)
    cases["long_turning"] = [[(a, long[t])] for t in range(290)]
    short = moving_body(7, 9)
    cases["short"] = [[(a, short[t])] for t in range(7)]
    fifty = moving_body(50, 10, 10, 20)
    cases["fifty_frames"] = [[(a, fifty[t])] for t in range(50)]
    return {name: write_skeleton(folder / f"{edge_case_stem(i)}.skeleton", frames)
            for i, (name, frames) in enumerate(cases.items())}  # fmt: skip


def edge_case_stem(index: int) -> str:
    return f"S001C00{1 + index % 3}P00{1 + 2 * (index % 2)}R001A{index + 1:03d}"  # P003 is a test subject


def _read_frames(path: Path) -> list[list[tuple[int, np.ndarray]]]:
    """The (body ID, xyz) entries of every frame of a ``.skeleton`` file (a minimal reader for the variants)."""
    lines = path.read_text().split("\n")
    pos, frames = 1, []
    for _ in range(int(lines[0])):
        count = int(lines[pos])
        pos += 1
        bodies = []
        for _ in range(count):
            body_id = int(lines[pos].split()[0])
            xyz = np.array([[float(v) for v in lines[pos + 2 + j].split()[:3]] for j in range(25)])
            bodies.append((body_id, xyz))
            pos += 27
        frames.append(bodies)
    return frames


def write_real_variants(real_ntu: Path, folder: Path) -> dict[str, Path]:
    """Edge cases cut from the real files: frames 40-44 of A001 without a body, and A002's body added as a
    second body to A003 (its first 104 frames). Never committed: they are the real data."""
    folder.mkdir(parents=True, exist_ok=True)
    a001 = _read_frames(real_ntu / f"{REAL_NTU[0]}.skeleton")
    gaps = [[] if 40 <= t < 45 else bodies for t, bodies in enumerate(a001)]
    a002 = _read_frames(real_ntu / f"{REAL_NTU[1]}.skeleton")
    a003 = _read_frames(real_ntu / f"{REAL_NTU[2]}.skeleton")
    pair = [bodies + [(1, a002[t][0][1])] for t, bodies in enumerate(a003)]
    return {
        "real_gap": write_skeleton(folder / "S002C001P001R001A001.skeleton", gaps),
        "real_pair": write_skeleton(folder / "S002C002P003R001A050.skeleton", pair),
    }


# ----- PKU-MMD I ---------------------------------------------------------------------------------------------
PKU_ROWS = "3,1,40,1\n7,30,120,2\n12,100,520,1\n51,600,1040,2\n"  # the 3rd and 4th clips exceed 300 frames


def write_pku_tree(real_phase2: Path, root: Path) -> Path:
    """A Phase I tree: the real Phase II skeleton as video 0002-L (and, cut, 0003-M), made-up label rows,
    split files putting 0002-L in training."""
    for sub in ("skeleton", "label"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    video = real_phase2.read_text().splitlines()
    (root / "skeleton" / "0002-L.txt").write_text("\n".join(video) + "\n")
    (root / "skeleton" / "0003-M.txt").write_text("\n".join(video[:400]) + "\n")
    (root / "label" / "0002-L.txt").write_text(PKU_ROWS)
    (root / "label" / "0003-M.txt").write_text("9,5,200,1\n20,150,390,2\n")  # one row: the reference fails
    for name in ("cross-subject.txt", "cross-view.txt"):
        (root / name).write_text("Training videos:\n0002-L, 0009-R\nTesting videos:\n0003-M\n")
    return root


# ----- batches and weights -----------------------------------------------------------------------------------
def clips(n: int = BATCH, seed: int = 0) -> np.ndarray:
    """(n, 3, 50, 25, 2) float32 smooth clips, centred-ish like prepared data; every other clip has no
    second body."""
    out = np.zeros((n, 3, 50, 25, 2), dtype=np.float32)
    for i in range(n):
        for m in range(1 if i % 2 else 2):
            body = moving_body(50, 100 * seed + 10 * i + m) - [0, 0, 3.2]
            out[i, ..., m] = body.transpose(2, 0, 1)
    return out


def _tensor_rng(seed: int, key: str) -> np.random.RandomState:
    return np.random.RandomState((seed * 1_000_003 + zlib.crc32(key.encode())) % 2**32)


def official_values(key: str, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Recipe values of one official-layout tensor (float32; int64 for ``num_batches_tracked``/``queue_ptr``)."""
    rng = _tensor_rng(seed, key)
    leaf = key.rsplit(".", 1)[-1]
    if leaf in ("num_batches_tracked", "queue_ptr"):
        return np.full(shape, 0 if leaf == "queue_ptr" else 100, dtype=np.int64)
    if key == "queue":
        q = rng.standard_normal(shape)
        return (q / np.linalg.norm(q, axis=0, keepdims=True)).astype(np.float32)
    if leaf == "running_var":
        return rng.uniform(0.5, 2.0, shape).astype(np.float32)
    if leaf == "running_mean":
        return (0.1 * rng.standard_normal(shape)).astype(np.float32)
    if key.split(".")[1] == "edge_importance" or (leaf == "weight" and len(shape) == 1):  # BN weight
        return (1 + 0.1 * rng.standard_normal(shape)).astype(np.float32)
    if leaf == "bias":
        return (0.05 * rng.standard_normal(shape)).astype(np.float32)
    fan_in = int(np.prod(shape[1:]))
    return (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32)


def official_state(layout: list[list], seed: int = 0, adjacency: np.ndarray | None = None) -> dict:
    """An official-layout state dict (torch tensors) from the reference's [key, shape] list. ``*.A`` (the
    graph, not a weight) is ``adjacency``."""
    import torch

    state = {}
    for key, shape in layout:
        if key.endswith(".A"):
            state[key] = torch.from_numpy(np.asarray(adjacency, dtype=np.float32))
        else:
            state[key] = torch.from_numpy(official_values(key, tuple(shape), seed))
    return state


def sketch(array: np.ndarray, seed: int = 7) -> np.ndarray:
    """(SKETCH_SIZE,) float64 projections of ``array`` on fixed Gaussian directions."""
    flat = np.asarray(array, dtype=np.float64).ravel()
    directions = np.random.RandomState(seed).standard_normal((SKETCH_SIZE, flat.size))
    return directions @ flat


def sketch_tolerance(size: int, max_abs: float) -> float:
    """A bound on |sketch(a) - sketch(b)| when |a - b| <= ``max_abs`` elementwise, loose enough for rounding
    noise spread over ``size`` values (5 sigma of a sum of independent errors)."""
    return 5 * max_abs * np.sqrt(size)
