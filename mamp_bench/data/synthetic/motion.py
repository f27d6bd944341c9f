"""Class-dependent human motion for the synthetic datasets.

Each action class is a *program*: a few motion primitives (sine, bump, step, raise-hold-lower)
on the degrees of freedom of a kinematic skeleton built on the Kinect v2 bone tree. Classes come
in pairs that share their poses and differ in time only: the second of a pair plays the first
backwards, at double speed, or with its parts in swapped order (as "sit down" / "stand up" do in
NTU). Interaction classes drive two actors facing each other. Per subject, body size and
proportions, movement amplitude and tempo vary; per clip, tempo, amplitude, small unrelated
"fidget" movements and sensor noise vary. So a model must read the dynamics, not a static pose.

Shapes: DOF curves (T, NUM_DOFS); poses (T, 25, 3) world coordinates in metres, y up, the actor
at the origin facing -z.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

import numpy as np

from mamp_bench.data.kinect import NUM_JOINTS, REST_OFFSETS, SDK_ORDER, SDK_PARENT

DOFS = (
    "root_x", "root_y", "root_z", "root_yaw", "spine_pitch", "spine_yaw", "neck_pitch", "neck_yaw",
    "l_sh_flex", "l_sh_abd", "l_elbow", "r_sh_flex", "r_sh_abd", "r_elbow",
    "l_hip", "l_knee", "r_hip", "r_knee",
)  # fmt: skip
DOF = {name: i for i, name in enumerate(DOFS)}
NUM_DOFS = len(DOFS)

#: Amplitude range of each DOF (radians; metres for root_x/y/z).
AMPLITUDE = {
    "root_x": (0.15, 0.5), "root_y": (0.1, 0.4), "root_z": (0.2, 0.8), "root_yaw": (0.4, 1.5),
    "spine_pitch": (0.2, 0.8), "spine_yaw": (0.2, 0.6), "neck_pitch": (0.2, 0.6), "neck_yaw": (0.3, 0.8),
    "l_sh_flex": (0.5, 2.4), "l_sh_abd": (0.4, 1.6), "l_elbow": (0.4, 2.2),
    "r_sh_flex": (0.5, 2.4), "r_sh_abd": (0.4, 1.6), "r_elbow": (0.4, 2.2),
    "l_hip": (0.3, 1.6), "l_knee": (0.3, 1.8), "r_hip": (0.3, 1.6), "r_knee": (0.3, 1.8),
}  # fmt: skip

#: DOFs whose movement goes either way (left or right); the others have a natural direction.
SIGNED_DOFS = ("root_x", "root_yaw", "spine_yaw", "neck_yaw")

#: Body-part families a class program draws its DOFs from, with their weights.
FAMILIES = {
    "right_arm": (0.28, ("r_sh_flex", "r_sh_abd", "r_elbow")),
    "left_arm": (0.08, ("l_sh_flex", "l_sh_abd", "l_elbow")),
    "both_arms": (0.18, ("l_sh_flex", "l_sh_abd", "l_elbow", "r_sh_flex", "r_sh_abd", "r_elbow")),
    "head": (0.08, ("neck_pitch", "neck_yaw", "r_sh_flex", "r_elbow")),
    "torso": (0.12, ("spine_pitch", "spine_yaw", "r_sh_flex", "l_sh_flex")),
    "legs": (0.10, ("l_hip", "l_knee", "r_hip", "r_knee", "root_y")),
    "whole_body": (0.10, ("root_y", "l_hip", "l_knee", "r_hip", "r_knee", "spine_pitch", "r_sh_flex", "l_sh_flex")),
    "locomotion": (0.06, ("root_z", "root_x", "root_yaw", "l_hip", "r_hip")),
}  # fmt: skip


@dataclass(frozen=True)
class Primitive:
    """One movement of one DOF over the action's progress u in [0, 1]."""

    dof: int
    kind: str  # "sine", "bump", "step" or "hold"
    amp: float
    centre: float  # bump/hold centre or step onset, in [0, 1]
    width: float  # bump/hold/step duration, fraction of the action
    freq: float = 1.0  # sine cycles over the action
    phase: float = 0.0  # sine phase, cycles

    def __call__(self, u: np.ndarray) -> np.ndarray:
        if self.kind == "sine":
            envelope = _smoothstep(u / 0.15) * _smoothstep((1 - u) / 0.15)
            return self.amp * np.sin(2 * np.pi * (self.freq * u + self.phase)) * envelope
        if self.kind == "bump":
            return self.amp * np.exp(-0.5 * ((u - self.centre) / (self.width / 2.5)) ** 2)
        if self.kind == "step":
            return self.amp * _smoothstep((u - self.centre) / self.width + 0.5)
        if self.kind == "hold":
            rise = _smoothstep((u - (self.centre - self.width / 2)) / 0.12 + 0.5)
            fall = _smoothstep((u - (self.centre + self.width / 2)) / 0.12 + 0.5)
            return self.amp * rise * (1 - fall)
        raise ValueError(self.kind)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


@dataclass(frozen=True)
class ActorProgram:
    primitives: tuple[Primitive, ...]
    reverse: bool = False  # play backwards

    def dof_curves(self, n_frames: int) -> np.ndarray:
        """(n_frames, NUM_DOFS) DOF values over one performance of the action."""
        u = np.linspace(0.0, 1.0, n_frames)
        if self.reverse:
            u = 1.0 - u
        curves = np.zeros((n_frames, NUM_DOFS))
        for prim in self.primitives:
            curves[:, prim.dof] += prim(u)
        return curves


@dataclass(frozen=True)
class ClassProgram:
    key: str
    actors: tuple[ActorProgram, ...]  # one, or two for an interaction
    frames: int  # typical duration at 30 fps
    distance: float = 1.4  # between the actors of an interaction, metres


def _rng_for(key: str) -> np.random.Generator:
    seed = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little")
    return np.random.default_rng(seed)


def _random_primitive(rng: np.random.Generator, dof_name: str, kind: str, centre: float) -> Primitive:
    lo, hi = AMPLITUDE[dof_name]
    amp = rng.uniform(lo, hi)
    if dof_name in SIGNED_DOFS and rng.random() < 0.5:
        amp = -amp
    if dof_name == "root_y":
        amp = -amp  # crouch, sit, fall: the body goes down
    return Primitive(
        DOF[dof_name],
        kind,
        float(amp),
        centre=float(centre),
        width=float(rng.uniform(0.25, 0.6)),
        freq=float(rng.choice([1.0, 1.5, 2.0, 3.0])),
        phase=float(rng.uniform(0, 1)),
    )


def base_program(key: str) -> ActorProgram:
    """A random single-actor program, fixed by ``key``; always asymmetric in time."""
    rng = _rng_for(key)
    names = list(FAMILIES)
    weights = np.array([FAMILIES[n][0] for n in names])
    family = names[rng.choice(len(names), p=weights / weights.sum())]
    dofs = list(FAMILIES[family][1])
    count = int(rng.integers(2, min(4, len(dofs)) + 1))
    chosen = [dofs[i] for i in rng.choice(len(dofs), size=count, replace=False)]
    # one leading movement early in the action and the others later, so that order matters
    centres = np.sort(rng.uniform(0.2, 0.8, size=count))
    prims = []
    for i, dof_name in enumerate(chosen):
        kind = "step" if i == 0 and rng.random() < 0.35 else str(rng.choice(["bump", "hold", "sine", "bump"]))
        prims.append(_random_primitive(rng, dof_name, kind, centres[i]))
    return ActorProgram(tuple(prims))


def variant_of(program: ActorProgram, key: str) -> ActorProgram:
    """The second class of a pair: same poses, different dynamics."""
    rng = _rng_for(key + "/variant")
    choice = rng.choice(["reverse", "speed", "swap"], p=[0.5, 0.25, 0.25])
    if choice == "swap" and len(program.primitives) >= 2:
        prims = list(program.primitives)
        a, b = 0, len(prims) - 1
        prims[a], prims[b] = replace(prims[a], centre=prims[b].centre), replace(prims[b], centre=prims[a].centre)
        return ActorProgram(tuple(prims), program.reverse)
    if choice == "speed":
        prims = tuple(
            replace(p, freq=p.freq * 2, width=p.width / 2, centre=0.5 + (p.centre - 0.5) / 2)
            for p in program.primitives
        )
        return ActorProgram(prims, program.reverse)
    return ActorProgram(program.primitives, not program.reverse)


def interaction_program(key: str) -> tuple[ActorProgram, ActorProgram]:
    """Actor 1 acts towards actor 2 (reach, push, approach); actor 2 reacts a little later."""
    rng = _rng_for(key)
    act = base_program(key + "/actor1")
    reach = _random_primitive(rng, str(rng.choice(["r_sh_flex", "l_sh_flex", "root_z"])), "bump", 0.45)
    actor1 = ActorProgram((*act.primitives[:2], reach))
    reaction = rng.choice(["lean", "step_back", "mirror"])
    if reaction == "mirror":
        actor2 = ActorProgram(tuple(replace(p, centre=min(0.9, p.centre + 0.08)) for p in actor1.primitives))
    elif reaction == "lean":
        actor2 = ActorProgram((Primitive(DOF["spine_pitch"], "bump", -float(rng.uniform(0.2, 0.5)), 0.55, 0.35),))
    else:
        actor2 = ActorProgram((Primitive(DOF["root_z"], "step", -float(rng.uniform(0.2, 0.5)), 0.55, 0.3),))
    return actor1, actor2


def class_programs(keys: list[str], interaction: list[bool]) -> list[ClassProgram]:
    """Programs for a list of classes; consecutive classes of the same kind form pairs."""
    programs: list[ClassProgram] = []
    i = 0
    while i < len(keys):
        pair = i + 1 < len(keys) and interaction[i + 1] == interaction[i]
        rng = _rng_for(keys[i] + "/frames")
        frames = int(rng.integers(50, 150))
        if interaction[i]:
            a1, a2 = interaction_program(keys[i])
            distance = float(rng.uniform(0.9, 1.8))
            programs.append(ClassProgram(keys[i], (a1, a2), frames, distance))
            if pair:
                programs.append(
                    ClassProgram(
                        keys[i + 1], (variant_of(a1, keys[i + 1]), variant_of(a2, keys[i + 1])), frames, distance
                    )
                )
        else:
            base = base_program(keys[i])
            programs.append(ClassProgram(keys[i], (base,), frames))
            if pair:
                programs.append(ClassProgram(keys[i + 1], (variant_of(base, keys[i + 1]),), frames))
        i += 2 if pair else 1
    return programs


@dataclass(frozen=True)
class Body:
    """A performer: size, proportions and personal style."""

    scale: float
    proportions: np.ndarray  # (25,) per-bone length factors
    amplitude: float
    tempo: float

    @classmethod
    def for_subject(cls, subject: int, namespace: str = "ntu") -> Body:
        rng = _rng_for(f"{namespace}/subject/{subject}")
        return cls(
            scale=float(rng.uniform(0.86, 1.12)),
            proportions=rng.uniform(0.93, 1.07, size=NUM_JOINTS),
            amplitude=float(rng.uniform(0.8, 1.2)),
            tempo=float(rng.uniform(0.85, 1.15)),
        )


def _rot_x(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2)


def _rot_y(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def _rot_z(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2)


def local_rotations(dofs: np.ndarray, facing: float) -> dict[int, np.ndarray]:
    """Joint index -> (T, 3, 3) rotation of that joint relative to its parent."""
    d = {name: dofs[:, i] for i, name in enumerate(DOFS)}
    return {
        0: _rot_y(d["root_yaw"] + facing),
        1: _rot_y(d["spine_yaw"]) @ _rot_x(-d["spine_pitch"]),
        2: _rot_y(d["neck_yaw"]) @ _rot_x(-d["neck_pitch"]),
        4: _rot_z(-d["l_sh_abd"]) @ _rot_x(d["l_sh_flex"]),
        5: _rot_x(d["l_elbow"]),
        8: _rot_z(d["r_sh_abd"]) @ _rot_x(d["r_sh_flex"]),
        9: _rot_x(d["r_elbow"]),
        12: _rot_x(d["l_hip"]),
        13: _rot_x(-d["l_knee"]),
        16: _rot_x(d["r_hip"]),
        17: _rot_x(-d["r_knee"]),
    }


def kinematics(
    dofs: np.ndarray, body: Body, facing: float = 0.0, origin=(0.0, 0.0, 0.0)
) -> tuple[np.ndarray, np.ndarray]:
    """DOF curves (T, NUM_DOFS) -> joint positions (T, 25, 3) and global orientations (T, 25, 3, 3).

    World frame, metres; ``facing`` turns the actor about the vertical axis, ``origin`` places
    its SpineBase.
    """
    frames = dofs.shape[0]
    local = local_rotations(dofs, facing)
    offsets = REST_OFFSETS * body.scale * body.proportions[:, None]
    glob = np.empty((frames, NUM_JOINTS, 3, 3))
    pos = np.empty((frames, NUM_JOINTS, 3))
    heading = _rot_y(np.full(frames, facing))
    root_shift = np.stack([dofs[:, DOF["root_x"]], dofs[:, DOF["root_y"]], -dofs[:, DOF["root_z"]]], -1)
    pos[:, 0] = np.asarray(origin) + (heading @ root_shift[..., None])[..., 0]
    glob[:, 0] = local[0]
    for joint in SDK_ORDER[1:]:
        parent = SDK_PARENT[joint]
        pos[:, joint] = pos[:, parent] + glob[:, parent] @ offsets[joint]
        glob[:, joint] = glob[:, parent] @ local[joint] if joint in local else glob[:, parent]
    return pos, glob


def forward_kinematics(dofs: np.ndarray, body: Body, facing: float = 0.0, origin=(0.0, 0.0, 0.0)) -> np.ndarray:
    """DOF curves (T, NUM_DOFS) -> joint positions (T, 25, 3), world frame, metres."""
    return kinematics(dofs, body, facing, origin)[0]
