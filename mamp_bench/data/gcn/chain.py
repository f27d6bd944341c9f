"""The GCN family's preparation of one clip, as two stages of small named steps.

Stage 1, st-gcn's converter (Levigty/AimCLR ``tools/ntu_gendata.py`` + ``tools/utils/ntu_read_skeleton.py``):
``first_two_bodies`` -> (3, T, 25, 2) with x, y, z of the **first two body entries of each frame in file
order** (no denoising, no body tracking), then ``pad_frames`` to 300 frames, float32, zeros after the last.
No centring, scaling or rotation.

Stage 2, AimCLR's ``feeder/preprocess_ntu.py`` (``NTUMotionProcessor(data_type='relative', t_length=50,
y_rotation=True, sampling='resize')``, ``feeder/NTUDatasets.py:176-228``), on the stage-1 float32 array:

1. ``valid_length``: the number of frames where body slot 0's SpineBase is non-zero (a count, not the index of
   the last such frame: a frame without a body inside the clip shortens the span that is kept);
2. ``centre_on_spine_shoulder``: every joint minus SpineShoulder of the same frame and body slot;
3. ``resize_frames``: the first ``length`` frames of each body slot resized to 50 by linear interpolation over
   time (OpenCV ``INTER_LINEAR``: half-pixel centres, the source clamped at both ends), joints untouched;
4. ``align_shoulders``: per body slot, each frame rotated about the y axis by its own angle so that the shoulder
   vector (ShoulderRight - ShoulderLeft, y dropped) points along +x; the sign of all the angles is decided once
   per sequence, by the sign of the summed z components. An absent body (zeros) stays zero.

Deliberate differences, none of which changes a number on the real files: the angles are computed in float64
(the reference does it in float32 through arccos and back, so its rotated coordinates carry ~1e-7 of rounding
that these do not); the unused ``_motion.npy`` is not written (no feeder reads it). Edge cases the reference
crashes on are refused with a reason by the preparation (``prepare``): a clip whose body slot 0 never has a
non-zero SpineBase (``cv2.resize`` of zero frames), and more than 300 frames (the reference's converter has no
guard; the clip is cut to 300 with a note, as the MAMP chain does).
"""

from __future__ import annotations

import numpy as np

from mamp_bench.data.kinect import NUM_JOINTS, NUM_PERSONS
from mamp_bench.data.ntu.reader import SkeletonFile

STAGE1_FRAMES = 300
WINDOW = 50
SPINE_BASE = 0
SHOULDER_LEFT = 4
SHOULDER_RIGHT = 8
SPINE_SHOULDER = 20
#: added to the shoulder vector's length before dividing, as the reference (so a zero body gets angle 90 degrees)
ROTATION_EPS = 1e-4


# ----- stage 1 -----------------------------------------------------------------------------------------------
def first_two_bodies(skeleton: SkeletonFile) -> np.ndarray:
    """(3, T, 25, 2) float64: x, y, z of the first two body entries of every frame, in file order; T is the
    declared frame count (frames without a body stay zero)."""
    entries = sorted(  # every body entry of the file, in file order: (token offset, frame, track, appearance)
        ((offset, frame, track, i) for track in skeleton.bodies.values()
         for i, (frame, offset) in enumerate(zip(track.frames, track.offsets, strict=True))),
        key=lambda entry: entry[0],
    )  # fmt: skip
    data = np.zeros((3, skeleton.num_frames, NUM_JOINTS, NUM_PERSONS))
    slots = np.zeros(skeleton.num_frames, dtype=np.int64)  # body entries seen so far in each frame
    for _, frame, track, i in entries:
        if slots[frame] < NUM_PERSONS:
            data[:, frame, :, slots[frame]] = track.fields[i, :, :3].T
        slots[frame] += 1
    return data


def pad_frames(data: np.ndarray, frames: int = STAGE1_FRAMES) -> np.ndarray:
    """(3, T, V, M) -> (3, frames, V, M) float32, zeros after the last frame (T <= frames)."""
    out = np.zeros((data.shape[0], frames, *data.shape[2:]), dtype=np.float32)
    out[:, : data.shape[1]] = data
    return out


# ----- stage 2 -----------------------------------------------------------------------------------------------
def valid_length(clip: np.ndarray) -> int:
    """Frames of (3, T, V, M) where body slot 0's SpineBase is non-zero (a count)."""
    return int((np.abs(clip[:, :, SPINE_BASE, 0]).sum(axis=0) != 0).sum())


def centre_on_spine_shoulder(clip: np.ndarray) -> np.ndarray:
    """Every joint minus SpineShoulder of its frame and body slot: (3, T, V, M) -> same."""
    return clip - clip[:, :, SPINE_SHOULDER : SPINE_SHOULDER + 1, :]


def resize_frames(clip: np.ndarray, length: int, window: int = WINDOW) -> np.ndarray:
    """The first ``length`` frames of (3, T, V, M) linearly resized to ``window`` frames, float32.

    Output frame j samples source position (j + 0.5) * length / window - 0.5 between its two neighbouring
    frames, the position clamped to [0, length - 1] (OpenCV's ``INTER_LINEAR`` along one axis)."""
    if length < 1:
        raise ValueError("resize needs at least one frame")
    source = (np.arange(window) + 0.5) * (length / window) - 0.5
    lower = np.floor(source).astype(np.int64)
    weight = (source - lower).astype(np.float32)
    weight[lower < 0] = 0  # before the first frame: the first frame
    first = np.clip(lower, 0, length - 1)
    second = np.clip(lower + 1, 0, length - 1)
    w = weight[None, :, None, None]
    frames = clip[:, :length].astype(np.float32)
    return (frames[:, first] * (1 - w) + frames[:, second] * w).astype(np.float32)


def align_shoulders(clip: np.ndarray) -> np.ndarray:
    """Rotate each frame of each body slot of (3, T, V, M) about y to put its shoulders on +x (float32 out)."""
    out = np.empty(clip.shape, dtype=np.float32)
    for m in range(clip.shape[-1]):
        body = clip[..., m].astype(np.float64)  # (3, T, V)
        shoulders = body[:, :, SHOULDER_RIGHT] - body[:, :, SHOULDER_LEFT]  # (3, T)
        vx, vz = shoulders[0], shoulders[2]
        cos = vx / (np.sqrt(vx * vx + vz * vz) + ROTATION_EPS)  # (T,) the angle's cosine, |cos| < 1
        sin = np.sqrt(1 - cos * cos)  # arccos gives an angle in [0, pi]: sin >= 0
        if vz.sum() >= 0:  # one sign for the whole sequence
            sin = -sin
        x, z = body[0], body[2]
        cos, sin = cos[:, None], sin[:, None]
        out[0, ..., m] = cos * x - sin * z
        out[1, ..., m] = body[1]
        out[2, ..., m] = sin * x + cos * z
    return out


def frame50(clip300: np.ndarray, window: int = WINDOW) -> np.ndarray:
    """Stage 2: a stage-1 clip (3, 300, V, M) float32 -> (3, window, V, M) float32."""
    length = valid_length(clip300)
    clip = centre_on_spine_shoulder(clip300)
    clip = resize_frames(clip, length, window)
    return align_shoulders(clip)
