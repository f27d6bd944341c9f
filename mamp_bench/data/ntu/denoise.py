"""The SGN / CTR-GCN / MAMP NTU preparation, reproduced step by step.

``skeleton_to_joints`` turns one parsed file into the reference's per-sample array:

1. frames with no body are dropped (``get_raw_skes_data``);
2. with two or more body IDs, bodies are denoised (``get_raw_denoised_data``): a body seen in
   <= 11 frames is removed; a body whose share of frames with x-spread > 0.8 * y-spread is
   >= 0.69754 is removed, else its motion is lowered to the motion of its plausible frames;
   bodies are ranked by motion (sum of the per-axis variance of all its joints), the first is
   actor 1, each later body goes to actor 1's slot if its interval does not overlap actor 1's,
   else to actor 2's slot if it does not overlap actor 2's, else it is dropped; frames where
   both actors are missing are removed;
3. the whole sequence is translated so that SpineMid of actor 1 in its first non-zero frame is
   the origin, and frames where an actor is missing are re-zeroed (``seq_translation``).

The quirks of the reference are kept on purpose (each is marked ``quirk``), because the
published numbers were produced with them.
"""

from __future__ import annotations

import numpy as np

from mamp_bench.data.kinect import NUM_JOINTS
from mamp_bench.data.ntu.reader import BodyTrack, SkeletonFile
from mamp_bench.errors import DataFormatError

NOISE_LEN_THRES = 11
NOISE_SPR_THRES1 = 0.8
NOISE_SPR_THRES2 = 0.69754
_ACTOR = 3 * NUM_JOINTS  # 75 values per actor and frame


def body_motion(joints: np.ndarray) -> np.float32:
    """Sum over x, y, z of the variance of all joint positions, (n, 25, 3) float32 -> float32."""
    return np.sum(np.var(joints.reshape(-1, 3), axis=0))


def spread_valid_frames(joints: np.ndarray) -> np.ndarray:
    """Frames (indices) whose x-extent is at most 0.8 times their y-extent. joints: (n, 25, 3)."""
    x, y = joints[..., 0], joints[..., 1]
    x_extent = (x.max(axis=1) - x.min(axis=1)).astype(np.float64)
    y_extent = (y.max(axis=1) - y.min(axis=1)).astype(np.float64)
    # The reference multiplies a float32 scalar by a Python float under NumPy 1.x rules, which
    # promotes to float64; compare in float64 to reproduce it bit for bit under NumPy 2.
    return np.flatnonzero(x_extent <= NOISE_SPR_THRES1 * y_extent)


def denoise_bodies(bodies: dict[str, BodyTrack]) -> tuple[list[tuple[str, np.ndarray, list[int]]], list[str]]:
    """Denoise a file with >= 2 body IDs.

    Returns the surviving bodies as (body_id, joints (n,25,3) float32, interval) ranked by motion
    (largest first, ties in order of first appearance) and a note for each removed body.
    """
    notes: list[str] = []
    kept = {}
    for body_id, track in bodies.items():
        joints = track.joints
        kept[body_id] = {"joints": joints, "interval": track.interval, "motion": body_motion(joints)}

    for body_id in list(kept):
        length = len(kept[body_id]["interval"])
        if length <= NOISE_LEN_THRES:
            notes.append(f"body {body_id}: removed, seen in {length} frames (<= {NOISE_LEN_THRES})")
            del kept[body_id]
    if len(kept) == 1:
        return [(b, d["joints"], d["interval"]) for b, d in kept.items()], notes

    for body_id in list(kept):
        if len(kept) == 1:  # the reference stops as soon as one body is left
            break
        body = kept[body_id]
        valid = spread_valid_frames(body["joints"])
        num_frames = len(body["interval"])
        num_noise = num_frames - len(valid)
        if num_noise == 0:
            continue
        ratio = num_noise / float(num_frames)
        if ratio >= NOISE_SPR_THRES2:
            notes.append(f"body {body_id}: removed, {ratio:.2f} of its frames are wider than tall")
            del kept[body_id]
        else:
            body["motion"] = min(body["motion"], body_motion(body["joints"][valid]))

    ranked = sorted(kept.items(), key=lambda item: item[1]["motion"], reverse=True)
    return [(b, d["joints"], d["interval"]) for b, d in ranked], notes


def _one_actor(joints: np.ndarray, interval: list[int], num_frames: int) -> np.ndarray:
    out = np.zeros((num_frames, _ACTOR), dtype=np.float32)
    start, end = interval[0], interval[-1]
    if end + 1 > num_frames:
        # quirk guard: the reference assumes a body appears at most once a frame; a body ID
        # repeated inside one frame makes its interval run past the sequence and crashes it.
        raise DataFormatError("a body ID appears more than once in a frame")
    out[start : end + 1] = joints.reshape(-1, _ACTOR)
    return out


def _two_actors(ranked: list[tuple[str, np.ndarray, list[int]]], num_frames: int) -> tuple[np.ndarray, list[str]]:
    notes = []
    out = np.zeros((num_frames, 2 * _ACTOR), dtype=np.float32)
    _, joints1, interval1 = ranked[0]
    start1, end1 = interval1[0], interval1[-1]
    if end1 + 1 > num_frames:
        raise DataFormatError("a body ID appears more than once in a frame")
    out[start1 : end1 + 1, :_ACTOR] = joints1.reshape(-1, _ACTOR)
    start2, end2 = 0, 0  # quirk: actor 2 starts with a virtual interval [0, 0]
    for body_id, joints, interval in ranked[1:]:
        start, end = interval[0], interval[-1]
        if end + 1 > num_frames:
            raise DataFormatError("a body ID appears more than once in a frame")
        block = joints.reshape(-1, _ACTOR)
        # quirk: "no overlap" is min(end) - max(start) <= 0, so intervals sharing one frame
        # count as disjoint and the later body overwrites that frame.
        if min(end1, end) - max(start1, start) <= 0:
            out[start : end + 1, :_ACTOR] = block
            start1, end1 = min(start, start1), max(end, end1)
        elif min(end2, end) - max(start2, start) <= 0:
            out[start : end + 1, _ACTOR:] = block
            start2, end2 = min(start, start2), max(end, end2)
        else:
            notes.append(f"body {body_id}: dropped, overlaps both actors")
    return out, notes


def remove_missing_frames(joints: np.ndarray) -> np.ndarray:
    """Drop frames whose values (all actors) sum to zero."""
    return joints[joints.sum(axis=1) != 0]


def translate_sequence(joints: np.ndarray) -> np.ndarray:
    """Move SpineMid of actor 1 in its first non-zero frame to the origin (all frames, all actors).

    joints: (T, 75) or (T, 150) float32; a copy is returned.
    """
    joints = joints.copy()
    two = joints.shape[1] == 2 * _ACTOR
    if two:
        missing1 = np.flatnonzero(joints[:, :_ACTOR].sum(axis=1) == 0)
        missing2 = np.flatnonzero(joints[:, _ACTOR:].sum(axis=1) == 0)
    nonzero = np.flatnonzero(np.any(joints[:, :_ACTOR] != 0, axis=1))
    if len(nonzero) == 0:
        raise DataFormatError("actor 1 has no non-zero frame")
    origin = joints[nonzero[0], 3:6].copy()
    joints -= np.tile(origin, joints.shape[1] // 3)
    if two:
        joints[missing1, :_ACTOR] = 0
        joints[missing2, _ACTOR:] = 0
    return joints


def skeleton_to_joints(skeleton: SkeletonFile) -> tuple[np.ndarray, list[str]]:
    """One parsed file -> translated joints (T, 75) for one actor or (T, 150) for two, and notes."""
    if not skeleton.bodies:
        raise DataFormatError("no body in any frame")
    num_frames = skeleton.valid_frames
    notes = [f"{len(skeleton.dropped_frames)} frames with no body dropped"] if skeleton.dropped_frames else []
    if len(skeleton.bodies) == 1:
        (track,) = skeleton.bodies.values()
        joints = _one_actor(track.joints, track.interval, num_frames)
    else:
        ranked, denoise_notes = denoise_bodies(skeleton.bodies)
        notes += denoise_notes
        if not ranked:
            raise DataFormatError("every body was removed as noise")
        if len(ranked) == 1:
            _, body_joints, interval = ranked[0]
            joints = _one_actor(body_joints, interval, num_frames)
        else:
            joints, assign_notes = _two_actors(ranked, num_frames)
            notes += assign_notes
        joints = remove_missing_frames(joints)
        if len(joints) == 0:
            raise DataFormatError("no frame left after denoising")
    return translate_sequence(joints), notes
