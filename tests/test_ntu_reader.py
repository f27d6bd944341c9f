"""The NTU ``.skeleton`` reader: real files, round trips, and every malformed-file case."""

from __future__ import annotations

import numpy as np
import pytest

from mamp_bench.data.ntu.names import SampleName, ntu_splits, read_missing_list
from mamp_bench.data.ntu.reader import parse_ntu_skeleton, read_ntu_skeleton
from mamp_bench.data.synthetic.ntu_tree import BodyStream, format_skeleton
from mamp_bench.errors import DataFormatError


@pytest.mark.parametrize("action, frames", [("A001", 103), ("A002", 158), ("A003", 104)])
def test_real_ntu_files_parse(real_samples, action, frames):
    path = real_samples / "ntu" / f"S001C001P001R001{action}.skeleton"
    skeleton = read_ntu_skeleton(path)
    assert skeleton.num_frames == frames
    assert skeleton.dropped_frames == []
    assert len(skeleton.bodies) == 1
    (track,) = skeleton.bodies.values()
    assert len(track.frames) == frames
    xyz = track.joints
    assert xyz.shape == (frames, 25, 3)
    assert (xyz[..., 2] > 0).all() and xyz.min() > -2 and xyz.max() < 5
    assert (track.fields[..., 11] >= 0).all() and (track.fields[..., 11] <= 2).all()  # tracking states


def test_real_first_body_line(real_samples):
    skeleton = read_ntu_skeleton(real_samples / "ntu" / "S001C001P001R001A001.skeleton")
    ((body_id, track),) = skeleton.bodies.items()
    assert body_id == "72057594037931101"  # 17 digits, exact (a float64 would round it)
    np.testing.assert_array_equal(track.info[0], [0, 1, 1, 1, 1, 0, 0.02764709, 0.05745083, 2])
    np.testing.assert_allclose(track.fields[0, 0, :3], [0.2181153, 0.1725972, 3.785547])


def test_real_file_with_crlf_gives_the_same_values(real_samples):
    data = (real_samples / "ntu" / "S001C001P001R001A002.skeleton").read_bytes()
    lf = parse_ntu_skeleton(data)
    crlf = parse_ntu_skeleton(data.replace(b"\n", b"\r\n") + b"\r\n\r\n")
    (a,), (b,) = lf.bodies.values(), crlf.bodies.values()
    np.testing.assert_array_equal(a.fields, b.fields)


def _file(frames=5, bodies_per_frame=None, crlf=False, seed=0) -> tuple[bytes, np.ndarray]:
    rng = np.random.default_rng(seed)
    joints = np.round(rng.uniform(-1, 4, size=(frames, 25, 3)), 6)
    present = np.arange(frames) if bodies_per_frame is None else np.flatnonzero(bodies_per_frame)
    stream = BodyStream("72057594037931101", present, joints[present], np.zeros((len(present), 25, 4)))
    return format_skeleton(frames, [stream], rng, crlf), joints


def test_round_trip_keeps_seven_significant_digits():
    data, joints = _file(frames=7)
    skeleton = parse_ntu_skeleton(data)
    (track,) = skeleton.bodies.values()
    np.testing.assert_allclose(track.fields[..., :3], joints, rtol=1e-6, atol=1e-7)
    assert track.joints.dtype == np.float32


def test_empty_frames_are_recorded_and_bodies_keep_their_frames():
    data, _ = _file(frames=6, bodies_per_frame=[0, 1, 1, 0, 1, 0])
    skeleton = parse_ntu_skeleton(data)
    assert skeleton.dropped_frames == [0, 3, 5]
    assert skeleton.valid_frames == 3
    (track,) = skeleton.bodies.values()
    assert track.frames == [1, 2, 4]
    assert track.interval == [0, 1, 2]  # the reference's packed interval


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def _first_joint_value(data: bytes, value: bytes) -> bytes:
    lines = _lines(data)  # frame count, body count, body info, joint count, first joint line
    lines[4] = value + b" " + lines[4].split(b" ", 1)[1]
    return b"\n".join(lines)


BAD_FILES = {
    "empty file": lambda d: b"",
    "only whitespace": lambda d: b"\n \n",
    "truncated inside a joint block": lambda d: d[: len(d) // 2].rsplit(b"\n", 3)[0] + b"\n",
    "truncated after a body line": lambda d: b"\n".join(_lines(d)[:4]) + b"\n",
    "wrong joint count": lambda d: d.replace(b"\n25\n", b"\n24\n", 1),
    "non-numeric value": lambda d: d.replace(b" 2\n", b" two\n", 1),
    "NaN value": lambda d: _first_joint_value(d, b"nan"),
    "infinite value": lambda d: _first_joint_value(d, b"1e999"),
    "a billion frames claimed": lambda d: b"1000000000" + d[d.index(b"\n") :],
    "negative body count": lambda d: d.replace(b"\n1\n", b"\n-1\n", 1),
    "fractional frame count": lambda d: b"5.5" + d[d.index(b"\n") :],
    "trailing values": lambda d: d + b"1 2 3\n",
    "non-UTF-8 bytes": lambda d: d.replace(b" 2\n", b" \xff\xfe\n", 1),
    "joint line split in two": lambda d: d.replace(b" 2\n", b"\n2\n", 1),
    "non-integer body ID": lambda d: d.replace(b"72057594037931101", b"7.2e16", 1),
    "zero frames": lambda d: b"0\n",
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_malformed_files_are_rejected_with_a_reason(case):
    good, _ = _file(frames=5)
    bad = BAD_FILES[case](good)
    with pytest.raises(DataFormatError) as info:
        parse_ntu_skeleton(bad)
    message = str(info.value)
    assert message and "\n" not in message


def test_sample_names():
    name = SampleName.parse("S017C003P040R002A060.skeleton")
    assert (name.setup, name.camera, name.subject, name.replication, name.action) == (17, 3, 40, 2, 60)
    assert name.label == 59 and name.stem == "S017C003P040R002A060"
    for bad in ("S1C1P1R1A1", "S001C001P001R001A001x", "foo.skeleton", "s001c001p001r001a001"):
        with pytest.raises(DataFormatError):
            SampleName.parse(bad)


def test_official_splits_have_the_published_sizes_of_their_id_lists():
    xsub60, xview60 = ntu_splits("ntu60")
    assert len(xsub60.train_ids) == 20 and len(xsub60.test_ids) == 20
    assert xview60.train_ids == (2, 3) and xview60.test_ids == (1,)
    xsub120, xset120 = ntu_splits("ntu120")
    assert len(xsub120.train_ids) == 53 and len(xsub120.test_ids) == 53
    assert xset120.train_ids == tuple(range(2, 33, 2))


def test_reference_order_groups_by_id_list():
    xsub, _ = ntu_splits("ntu60")
    names = [SampleName.parse(n) for n in ("S001C001P002R001A001", "S001C001P001R001A002", "S002C001P001R001A001")]
    # subject 1 before subject 2 (id-list order), name order inside a subject
    assert xsub.order(names, train=True) == [1, 2, 0]


def test_missing_lists_with_header(ntu_meta):
    ntu60 = read_missing_list(ntu_meta / "NTU_RGBD_samples_with_missing_skeletons.txt")
    ntu120 = read_missing_list(ntu_meta / "NTU_RGBD120_samples_with_missing_skeletons.txt")
    assert len(ntu60) == 302 and len(ntu120) == 535
    assert "S001C002P005R002A008" in ntu60 and ntu60 <= ntu120


def test_missing_list_without_header_and_missing_file(tmp_path):
    path = tmp_path / "list.txt"
    path.write_text("S001C002P005R002A008\nS001C002P006R001A008.skeleton\n\n")
    assert read_missing_list(path) == {"S001C002P005R002A008", "S001C002P006R001A008"}
    with pytest.raises(DataFormatError):
        read_missing_list(tmp_path / "nope.txt")
