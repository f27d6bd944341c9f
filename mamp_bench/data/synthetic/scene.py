"""From class programs to camera-space skeleton clips: performers, cameras, noise."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mamp_bench.data.kinect import NUM_JOINTS, REST_OFFSETS
from mamp_bench.data.synthetic.motion import DOFS, NUM_DOFS, Body, ClassProgram, kinematics

#: Height of SpineBase above the floor for a body of scale 1 (legs straight).
_HIP_HEIGHT = float(-(REST_OFFSETS[12, 1] + REST_OFFSETS[13, 1] + REST_OFFSETS[14, 1] + REST_OFFSETS[15, 1])) + 0.05


@dataclass(frozen=True)
class Difficulty:
    """Knobs that make the synthetic task harder or easier (the defaults are the shipped sets)."""

    noise: float = 0.012  # sensor noise std, metres (x3 on hands, tips and thumbs)
    fidget: float = 0.25  # amplitude (rad) of slow movements unrelated to the class
    tempo_jitter: float = 0.25  # clip tempo ~ U(1 - j, 1 + j)
    amplitude_jitter: float = 0.25  # clip amplitude ~ U(1 - j, 1 + j)
    idle: int = 20  # up to this many still frames before and after the action
    frame_step: int = 1  # keep every n-th rendered frame (rendered at 30 frames/s; 2: recorded at 15 frames/s)


@dataclass(frozen=True)
class Camera:
    """A Kinect looking at the scene centre: position angle, distance, height, downward tilt."""

    yaw: float
    distance: float
    height: float
    pitch: float

    def to_camera(self, world: np.ndarray) -> np.ndarray:
        """World points (..., 3), floor at y=0 -> Kinect camera space (x, y up, z depth)."""
        c, s = np.cos(self.yaw), np.sin(self.yaw)
        position = np.array([self.distance * s, self.height, -self.distance * c])
        rel = world - position
        # turn the world so the camera looks along +z, then tilt it down by ``pitch``
        x = c * rel[..., 0] + s * rel[..., 2]
        z = -s * rel[..., 0] + c * rel[..., 2]
        y = rel[..., 1]
        cp, sp = np.cos(self.pitch), np.sin(self.pitch)
        y, z = cp * y + sp * z, -sp * y + cp * z
        return np.stack([x, y, z], -1)

    def rotation(self) -> np.ndarray:
        """(3, 3) world -> camera rotation (for orientations)."""
        c, s = np.cos(self.yaw), np.sin(self.yaw)
        cp, sp = np.cos(self.pitch), np.sin(self.pitch)
        turn = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
        tilt = np.array([[1, 0, 0], [0, cp, sp], [0, -sp, cp]])
        return tilt @ turn


def ntu_camera(setup: int, camera: int) -> Camera:
    """NTU: three cameras at -45, 0 and +45 degrees; height and distance change with the setup."""
    rng = np.random.default_rng(1000 + setup)
    yaw = {1: -np.pi / 4, 2: 0.0, 3: np.pi / 4}[camera] + rng.uniform(-0.1, 0.1)
    return Camera(yaw, float(rng.uniform(2.6, 3.6)), float(rng.uniform(0.7, 1.4)), float(rng.uniform(0.05, 0.2)))


@dataclass
class RenderedClip:
    """Camera-space joints and orientations of every actor of one clip."""

    joints: np.ndarray  # (P, T, 25, 3) metres
    rotations: np.ndarray  # (P, T, 25, 3, 3)


def _fidget(rng: np.random.Generator, frames: int, amplitude: float) -> np.ndarray:
    curves = np.zeros((frames, NUM_DOFS))
    if amplitude <= 0:
        return curves
    t = np.arange(frames) / 30.0
    for dof in rng.choice(np.arange(4, NUM_DOFS), size=3, replace=False):
        freq = rng.uniform(0.2, 0.8)
        curves[:, dof] += amplitude * rng.uniform(0.3, 1.0) * np.sin(2 * np.pi * freq * t + rng.uniform(0, 6.3))
    return curves


def action_curves(
    program: ClassProgram, bodies: list[Body], rng: np.random.Generator, difficulty: Difficulty
) -> list[np.ndarray]:
    """DOF curves (T, NUM_DOFS) for each actor of one performance, without idle frames."""
    tempo = bodies[0].tempo * rng.uniform(1 - difficulty.tempo_jitter, 1 + difficulty.tempo_jitter)
    frames = int(np.clip(round(program.frames / tempo), 32, 280))
    curves = []
    for actor, body in zip(program.actors, bodies, strict=False):
        amplitude = body.amplitude * rng.uniform(1 - difficulty.amplitude_jitter, 1 + difficulty.amplitude_jitter)
        curves.append(actor.dof_curves(frames) * amplitude)
    return curves


def add_idle(curves: np.ndarray, before: int, after: int) -> np.ndarray:
    return np.concatenate([np.repeat(curves[:1], before, 0), curves, np.repeat(curves[-1:], after, 0)])


def place_actors(program: ClassProgram, bodies: list[Body], curves: list[np.ndarray], facing: float) -> RenderedClip:
    """World-space poses of the actors: one actor at the centre, or two facing each other."""
    joints, rotations = [], []
    if len(curves) == 1:
        placements = [(facing, (0.0, 0.0))]
    else:
        half = program.distance / 2
        side = np.array([np.cos(facing), -np.sin(facing)])  # perpendicular to the facing direction
        placements = [(facing - np.pi / 2, tuple(-half * side)), (facing + np.pi / 2, tuple(half * side))]
    for (yaw, (x, z)), body, dofs in zip(placements, bodies, curves, strict=False):
        origin = (x, _HIP_HEIGHT * body.scale, z)
        pos, rot = kinematics(dofs, body, yaw, origin)
        joints.append(pos)
        rotations.append(rot)
    return RenderedClip(np.stack(joints), np.stack(rotations))


def add_noise(joints: np.ndarray, rng: np.random.Generator, std: float) -> np.ndarray:
    scale = np.ones(NUM_JOINTS)
    scale[[7, 11, 21, 22, 23, 24]] = 3.0  # hands, tips and thumbs jitter most on a Kinect
    return joints + rng.normal(0.0, 1.0, joints.shape) * std * scale[:, None]


def render_clip(
    program: ClassProgram,
    bodies: list[Body],
    camera: Camera,
    facing: float,
    rng: np.random.Generator,
    difficulty: Difficulty,
) -> RenderedClip:
    """One trimmed clip, in camera space."""
    curves = action_curves(program, bodies, rng, difficulty)
    before, after = (int(v) for v in rng.integers(0, difficulty.idle + 1, size=2))
    curves = [add_idle(c, before, after) + _fidget(rng, len(c) + before + after, difficulty.fidget) for c in curves]
    world = place_actors(program, bodies, curves, facing)
    cam = camera.to_camera(add_noise(world.joints, rng, difficulty.noise))
    step = difficulty.frame_step
    return RenderedClip(cam[:, ::step], camera.rotation() @ world.rotations[:, ::step])


def matrix_to_quaternion(rot: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices -> (..., 4) quaternions (w, x, y, z), w >= 0."""
    m = rot
    w = np.sqrt(np.clip(1 + m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2], 1e-12, None)) / 2
    x = np.copysign(
        np.sqrt(np.clip(1 + m[..., 0, 0] - m[..., 1, 1] - m[..., 2, 2], 0, None)) / 2, m[..., 2, 1] - m[..., 1, 2]
    )
    y = np.copysign(
        np.sqrt(np.clip(1 - m[..., 0, 0] + m[..., 1, 1] - m[..., 2, 2], 0, None)) / 2, m[..., 0, 2] - m[..., 2, 0]
    )
    z = np.copysign(
        np.sqrt(np.clip(1 - m[..., 0, 0] - m[..., 1, 1] + m[..., 2, 2], 0, None)) / 2, m[..., 1, 0] - m[..., 0, 1]
    )
    return np.stack([w, x, y, z], -1)


__all__ = ["DOFS", "Camera", "Difficulty", "RenderedClip", "ntu_camera", "render_clip", "matrix_to_quaternion"]
