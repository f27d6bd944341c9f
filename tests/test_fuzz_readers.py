"""Property-based fuzzing of the raw-file readers: any bytes give a valid sample or a DataFormatError
with a reason; never another exception, never a hang, never an allocation sized by an unchecked count."""

from __future__ import annotations

import os
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mamp_bench.data.ntu.denoise import skeleton_to_joints
from mamp_bench.data.ntu.reader import parse_ntu_skeleton
from mamp_bench.data.pku.reader import parse_pku_labels, parse_pku_skeleton
from mamp_bench.data.synthetic.ntu_tree import BodyStream, format_skeleton
from mamp_bench.data.synthetic.pku_tree import format_pku_video
from mamp_bench.errors import DataFormatError

# 150 examples a property by default; `nox -s stress` sets MAMP_BENCH_FUZZ_EXAMPLES=3000
EXAMPLES = int(os.environ.get("MAMP_BENCH_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
EVIL_TOKENS = [b"-1", b"0", b"1e9", b"1000000000", b"99999999999999999999999", b"nan", b"inf", b"-inf", b"1.5",
               b"\xff\xfe", b"\x00", b"", b"1e400", b"0x1A", b"25 25", b"\xc3("]  # fmt: skip


def _ntu_file(crlf: bool = False) -> bytes:
    """Two actors over 15 frames (long enough not to be denoised away), frame 1 with no body."""
    rng = np.random.default_rng(0)
    frames = np.delete(np.arange(16), 1)
    joints = rng.normal(0, 0.2, size=(15, 25, 3)) + [0, 0, 3]
    quats = np.tile([1.0, 0, 0, 0], (15, 25, 1))
    first = BodyStream("72057594037931101", frames, joints, quats)
    second = BodyStream("72057594037931102", frames, joints + [0.8, 0, 0], quats)
    return format_skeleton(16, [first, second], rng, crlf=crlf)


NTU_FILE = _ntu_file()
PKU_FILE = format_pku_video(np.random.default_rng(1).normal(0, 1, size=(6, 150)).astype(np.float32))
LABEL_FILE = b"3,10,50,1\n12,60,90,2\n"


def ntu_outcome(data: bytes) -> str:
    """'ok' or 'rejected: reason' through the whole per-file preparation path."""
    try:
        joints, _ = skeleton_to_joints(parse_ntu_skeleton(data, "fuzz"))
    except DataFormatError as exc:
        assert str(exc), "a rejection must carry its reason"
        return f"rejected: {exc}"
    assert joints.ndim == 2 and joints.shape[1] in (75, 150) and np.isfinite(joints).all()
    return "ok"


def replace_token(data: bytes, index: int, token: bytes) -> bytes:
    tokens = data.split(b"\n")
    index %= len(tokens)
    tokens[index] = token
    return b"\n".join(tokens)


def test_the_unmodified_files_parse():
    assert ntu_outcome(NTU_FILE) == "ok"
    assert ntu_outcome(_ntu_file(crlf=True)) == "ok"
    assert parse_pku_skeleton(PKU_FILE).shape == (6, 150)
    assert len(parse_pku_labels(LABEL_FILE)) == 2


@FUZZ
@given(cut=st.integers(min_value=0, max_value=len(NTU_FILE) - 1))
def test_ntu_truncated_anywhere(cut):
    outcome = ntu_outcome(NTU_FILE[:cut])
    if NTU_FILE[cut:].strip():  # something that matters was cut off
        assert outcome.startswith("rejected")


@FUZZ
@given(flips=st.lists(st.tuples(st.integers(0, len(NTU_FILE) - 1), st.integers(0, 255)), min_size=1, max_size=8))
def test_ntu_random_byte_flips(flips):
    data = bytearray(NTU_FILE)
    for position, value in flips:
        data[position] = value
    ntu_outcome(bytes(data))


@FUZZ
@given(line=st.integers(0, 10_000), token=st.sampled_from(EVIL_TOKENS))
def test_ntu_evil_values_in_any_line(line, token):
    ntu_outcome(replace_token(NTU_FILE, line, token))


@FUZZ
@given(endings=st.lists(st.sampled_from([b"\n", b"\r\n", b"\r\r\n", b" \n"]), min_size=200, max_size=200))
def test_ntu_mixed_line_endings_give_the_same_values(endings):
    lines = NTU_FILE.split(b"\n")
    data = b"".join(line + endings[i % len(endings)] for i, line in enumerate(lines))
    reference = skeleton_to_joints(parse_ntu_skeleton(NTU_FILE))[0]
    np.testing.assert_array_equal(skeleton_to_joints(parse_ntu_skeleton(data))[0], reference)


@pytest.mark.parametrize(
    "header",
    [b"1000000000\n", b"4\n1000000000\n", b"99999999999999999999999\n", b"4\n0\n1\n72057594037931101"],
)
def test_huge_counts_are_rejected_without_allocating(header):
    data = header + NTU_FILE.split(b"\n", 2)[2]
    tracemalloc.start()
    try:
        with pytest.raises(DataFormatError):
            parse_ntu_skeleton(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * len(data) + 2**20  # bounded by the file, not by the claimed count


@FUZZ
@given(cut=st.integers(0, len(PKU_FILE) - 1), line=st.integers(0, 20), token=st.sampled_from(EVIL_TOKENS))
def test_pku_skeleton_fuzz(cut, line, token):
    for data in (PKU_FILE[:cut], replace_token(PKU_FILE, line, token)):
        try:
            video = parse_pku_skeleton(data)
        except DataFormatError as exc:
            assert str(exc)
            continue
        assert video.ndim == 2 and video.shape[1] == 150 and np.isfinite(video).all()


@FUZZ
@given(data=st.binary(max_size=200) | st.lists(st.sampled_from(EVIL_TOKENS + [b",", b"\n", b"3"])).map(b"".join))
def test_pku_label_fuzz(data):
    try:
        rows = parse_pku_labels(data + b"\n" + LABEL_FILE)
    except DataFormatError as exc:
        assert "line" in str(exc) or "not text" in str(exc)
        return
    assert all(isinstance(row.action, int) and isinstance(row.end, int) for row in rows)
