"""Reader for NTU RGB+D raw ``.skeleton`` files.

Grammar (whitespace-separated tokens, one record a line, LF or CRLF)::

    numFrames
    repeat numFrames:
        numBodies                      # may be 0: the frame has no further lines
        repeat numBodies:
            bodyID clipedEdges handLeftConfidence handLeftState handRightConfidence
                handRightState isResticted leanX leanY trackingState      # 10 fields
            numJoints                  # 25
            repeat numJoints:
                x y z depthX depthY colorX colorY orientationW orientationX
                    orientationY orientationZ trackingState               # 12 fields

The body ID is a 64-bit tracking id; it is kept as its exact decimal string.
Every count is checked against the tokens that remain before anything is sliced, so a file that
claims 10**9 frames fails as truncated instead of allocating. Only regular files within the size
bound below are read (a FIFO, a device, a directory named like a file are refused with the reason),
and joint coordinates beyond the physical bound (``kinect.MAX_COORDINATE_M``) are refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mamp_bench.data.kinect import NUM_JOINTS, check_coordinates
from mamp_bench.errors import DataFormatError
from mamp_bench.fileio import read_regular

BODY_INFO_FIELDS = 10
JOINT_FIELDS = 12
_BODY_TOKENS = BODY_INFO_FIELDS + 1 + NUM_JOINTS * JOINT_FIELDS

#: The size bound of a ``.skeleton`` file, from the grammar: Kinect v2 tracks at most 6 bodies; the longest
#: real sample has 300 frames and we allow twice that; a token takes at most 24 bytes with its separator (a
#: 17-20 digit body ID, or a float printed with 7 significant digits such as -0.0001234567, with slack). That
#: is 27 MB; the real files are 0.26-0.40 MB (103-158 frames of one body).
MAX_FILE_FRAMES = 600
MAX_BODIES = 6
MAX_TOKEN_BYTES = 24
MAX_FILE_BYTES = MAX_TOKEN_BYTES * (1 + MAX_FILE_FRAMES * (1 + MAX_BODIES * _BODY_TOKENS))


@dataclass
class BodyTrack:
    """Every appearance of one body ID, in file order."""

    body_id: str
    frames: list[int] = field(default_factory=list)  # file frame index of each appearance
    offsets: list[int] = field(default_factory=list)  # token offset of the joint block
    first_valid: int = 0  # index of the first appearance among the non-empty frames
    fields: np.ndarray | None = None  # (n, 25, 12) float64, all joint fields
    info: np.ndarray | None = None  # (n, 9) float64, body-info fields after the ID

    @property
    def joints(self) -> np.ndarray:
        """(n, 25, 3) float32 camera-space xyz in metres."""
        assert self.fields is not None
        return np.ascontiguousarray(self.fields[..., :3], dtype=np.float32)

    @property
    def interval(self) -> list[int]:
        """Valid-frame indices as the reference records them: first appearance, then +1 each time.

        The reference assumes a body is tracked in consecutive frames; when it is not, its
        frames are still packed together from its first appearance. Kept for parity.
        """
        return list(range(self.first_valid, self.first_valid + len(self.frames)))


@dataclass
class SkeletonFile:
    name: str
    num_frames: int  # as declared on the first line
    dropped_frames: list[int]  # 0-based indices of frames with no body
    bodies: dict[str, BodyTrack]  # in order of first appearance

    @property
    def valid_frames(self) -> int:
        return self.num_frames - len(self.dropped_frames)


def read_ntu_skeleton(path: str | Path) -> SkeletonFile:
    path = Path(path)
    stem = path.name[: -len(".skeleton")] if path.name.endswith(".skeleton") else path.stem
    return parse_ntu_skeleton(read_regular(path, MAX_FILE_BYTES, "NTU .skeleton file"), stem)


def _count(values: np.ndarray, pos: int, what: str, where: str) -> int:
    value = values[pos]
    if not value.is_integer() or value < 0:
        raise DataFormatError(f"{what} must be a non-negative integer, got {value!r} {where}")
    return int(value)


def parse_ntu_skeleton(data: bytes, name: str = "?") -> SkeletonFile:
    """Parse the bytes of one ``.skeleton`` file; raise DataFormatError with the reason."""
    tokens = data.split()
    values = _numbers(tokens)
    total = len(values)
    num_frames = _count(values, 0, "frame count", "on line 1")
    if num_frames == 0:
        raise DataFormatError("the file declares 0 frames")
    pos = 1
    lines = 1
    dropped: list[int] = []
    bodies: dict[str, BodyTrack] = {}
    valid = -1
    for frame in range(num_frames):
        if pos >= total:
            raise DataFormatError(f"truncated: file ends before frame {frame + 1} of {num_frames}")
        num_bodies = _count(values, pos, "body count", f"in frame {frame + 1}")
        pos += 1
        lines += 1
        if num_bodies == 0:
            dropped.append(frame)
            continue
        valid += 1
        if pos + num_bodies * _BODY_TOKENS > total:
            raise DataFormatError(f"truncated: frame {frame + 1} declares {num_bodies} bodies but the file ends first")
        for _ in range(num_bodies):
            body_token = tokens[pos]
            if not body_token.isdigit():
                raise DataFormatError(
                    f"body ID {body_token.decode('latin-1')!r} in frame {frame + 1} is not an integer"
                )
            body_id = body_token.decode("ascii")
            num_joints = _count(values, pos + BODY_INFO_FIELDS, "joint count", f"in frame {frame + 1}")
            if num_joints != NUM_JOINTS:
                raise DataFormatError(f"joint count {num_joints} in frame {frame + 1}, expected {NUM_JOINTS}")
            track = bodies.get(body_id)
            if track is None:
                track = bodies[body_id] = BodyTrack(body_id, first_valid=valid)
            track.frames.append(frame)
            track.offsets.append(pos)
            pos += _BODY_TOKENS
            lines += 2 + NUM_JOINTS
    if pos != total:
        raise DataFormatError(f"{total - pos} unexpected values after the last frame")
    _check_line_count(data, lines)
    _gather_fields(bodies, values)
    _check_coordinates(bodies)
    return SkeletonFile(name, num_frames, dropped, bodies)


def _numbers(tokens: list[bytes]) -> np.ndarray:
    """The tokens of a file as float64 values; DataFormatError for an empty file, text, NaN or inf."""
    if not tokens:
        raise DataFormatError("empty file")
    try:
        values = np.array(tokens, dtype=np.float64)
    except ValueError:
        bad = _first_non_numeric(tokens)
        raise DataFormatError(f"non-numeric value {bad!r}") from None
    if not np.isfinite(values).all():
        bad_at = int(np.flatnonzero(~np.isfinite(values))[0])
        raise DataFormatError(f"NaN or infinite value {tokens[bad_at].decode('latin-1')!r} (token {bad_at})")
    return values


def _gather_fields(bodies: dict[str, BodyTrack], values: np.ndarray) -> None:
    """Each track's joint fields (frames, 25, 11) and body info (frames, 9) from its token offsets."""
    joint_cols = np.arange(BODY_INFO_FIELDS + 1, _BODY_TOKENS)
    info_cols = np.arange(1, BODY_INFO_FIELDS)
    for track in bodies.values():
        starts = np.asarray(track.offsets)[:, None]
        track.fields = values[starts + joint_cols].reshape(-1, NUM_JOINTS, JOINT_FIELDS)
        track.info = values[starts + info_cols]


def _check_coordinates(bodies: dict[str, BodyTrack]) -> None:
    """DataFormatError if a joint's x, y or z is beyond the physical bound (metres)."""
    for track in bodies.values():
        xyz = track.fields[..., :3]
        frames = track.frames
        check_coordinates(xyz, lambda index, frames=frames: f"a joint in frame {frames[index // (NUM_JOINTS * 3)] + 1}")


def _check_line_count(data: bytes, expected: int) -> None:
    lines = data.splitlines()
    found = len(lines) - lines.count(b"")
    if found != expected:
        found = sum(1 for line in lines if line.strip())
    if found != expected:
        raise DataFormatError(
            f"line structure does not match the grammar: {found} non-blank lines, expected {expected}"
        )


def _first_non_numeric(tokens: list[bytes]) -> str:
    for token in tokens:
        try:
            float(token)
        except ValueError:
            return token[:40].decode("latin-1")
    return "?"
