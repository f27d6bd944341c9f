"""The 25-joint Kinect v2 skeleton used by NTU RGB+D and PKU-MMD (0-based joint indices)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mamp_bench.errors import DataFormatError

NUM_JOINTS = 25
NUM_PERSONS = 2

#: Physical bound on a joint coordinate, in metres. Kinect v2 measures depth up to 8 m (4.5 m reliably) and
#: its 70 x 60 degree field of view keeps |x| < 5.6 m and |y| < 4.7 m at that depth; NTU's preparation
#: subtracts one joint, which at most doubles a distance, PKU keeps camera coordinates. 100 m is an order of
#: magnitude beyond all of these, so no recording comes near it, while coordinates in millimetres, garbage and
#: values such as 1e30 (whose squares overflow float32 into inf, then NaN features) are refused.
MAX_COORDINATE_M = 100.0


def check_coordinates(values: np.ndarray, where: Callable[[int], str]) -> None:
    """``DataFormatError`` at the first value that is NaN, infinite or beyond +-``MAX_COORDINATE_M``, the
    message opening with ``where(its flat index)`` (a file and clip, a frame)."""
    bad = ~(np.abs(values) <= MAX_COORDINATE_M)  # NaN compares False, so it counts as out of bounds
    if not bad.any():
        return
    index = int(np.flatnonzero(bad)[0])
    value = values.flat[index]
    if not np.isfinite(value):
        raise DataFormatError(f"{where(index)} holds a NaN or infinite value")
    raise DataFormatError(f"{where(index)} holds coordinate {value:g}, beyond +-{MAX_COORDINATE_M:g} m "
                          "(camera coordinates are metres)")  # fmt: skip


JOINT_NAMES = (
    "SpineBase", "SpineMid", "Neck", "Head",
    "ShoulderLeft", "ElbowLeft", "WristLeft", "HandLeft",
    "ShoulderRight", "ElbowRight", "WristRight", "HandRight",
    "HipLeft", "KneeLeft", "AnkleLeft", "FootLeft",
    "HipRight", "KneeRight", "AnkleRight", "FootRight",
    "SpineShoulder", "HandTipLeft", "ThumbLeft", "HandTipRight", "ThumbRight",
)  # fmt: skip
#: Parent of each joint in the Kinect SDK bone tree (root SpineBase maps to itself).
SDK_PARENT = (0, 0, 20, 2, 20, 4, 5, 6, 20, 8, 9, 10, 0, 12, 13, 14, 0, 16, 17, 18, 1, 7, 6, 11, 10)

#: Joints in an order where every parent comes before its children (SDK tree).
SDK_ORDER = (0, 1, 20, 2, 3, 4, 5, 6, 7, 21, 22, 8, 9, 10, 11, 23, 24, 12, 13, 14, 15, 16, 17, 18, 19)

#: Rest-pose offset of each joint from its SDK parent, metres, for a 1.70 m adult standing
#: upright and facing the camera with arms hanging (x: towards the person's right as seen from
#: the camera's side of the scene, i.e. the person's left joints have smaller x; y up; z away
#: from the camera). Bone lengths follow a measured NTU sample.
REST_OFFSETS = np.array(
    [
        [0.000, 0.000, 0.000],  # SpineBase (root)
        [0.000, 0.270, -0.020],  # SpineMid
        [0.000, 0.070, -0.010],  # Neck
        [0.000, 0.130, 0.000],  # Head
        [-0.150, -0.020, 0.020],  # ShoulderLeft
        [-0.030, -0.260, 0.020],  # ElbowLeft
        [-0.010, -0.240, 0.000],  # WristLeft
        [0.000, -0.070, 0.000],  # HandLeft
        [0.150, -0.020, 0.020],  # ShoulderRight
        [0.030, -0.260, 0.020],  # ElbowRight
        [0.010, -0.240, 0.000],  # WristRight
        [0.000, -0.070, 0.000],  # HandRight
        [-0.080, -0.010, 0.000],  # HipLeft
        [0.000, -0.400, 0.020],  # KneeLeft
        [0.000, -0.390, 0.030],  # AnkleLeft
        [0.000, -0.050, -0.080],  # FootLeft
        [0.080, -0.010, 0.000],  # HipRight
        [0.000, -0.400, 0.020],  # KneeRight
        [0.000, -0.390, 0.030],  # AnkleRight
        [0.000, -0.050, -0.080],  # FootRight
        [0.000, 0.200, -0.030],  # SpineShoulder
        [0.000, -0.050, -0.010],  # HandTipLeft
        [0.030, -0.030, -0.030],  # ThumbLeft
        [0.000, -0.050, -0.010],  # HandTipRight
        [-0.030, -0.030, -0.030],  # ThumbRight
    ],
    dtype=np.float64,
)

#: Parent of each joint in the graph-convolution convention (ST-GCN, CTR-GCN, MAMP's bone modality): the
#: centre SpineShoulder (20) maps to itself, so its bone is zero, and the hand tips hang off the thumbs
#: (HandTip -> Thumb -> Hand), unlike the SDK tree. The 24 (joint, parent) pairs with joint != parent are
#: ST-GCN's NTU graph edges (st-gcn ``net/utils/graph.py`` ``ntu-rgb+d``); all 25 are the bone stream's pairs.
GCN_PARENT = (1, 20, 20, 2, 20, 4, 5, 6, 20, 8, 9, 10, 0, 12, 13, 14, 0, 16, 17, 18, 20, 22, 7, 24, 11)
#: The graph's centre joint (SpineShoulder).
GCN_CENTRE = 20

#: Left-right mirror of the joints: each joint's counterpart on the other side (spine joints stay), the
#: permutation of AimCLR's ``random_spatial_flip`` (``feeder/tools.py`` ``transform_order['ntu']``).
MIRROR = (0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 16, 17, 18, 19, 12, 13, 14, 15, 20, 23, 24, 21, 22)
