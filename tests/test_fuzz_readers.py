"""Property-based fuzzing of the readers: any bytes give a valid sample or a DataFormatError with a reason;
never another exception, never a hang, never an allocation sized by an unchecked count. A path that is not a
regular file (a FIFO, a device, a directory named like a file, a symbolic link loop) or is beyond its format's
size bound is refused by every reader; finite values beyond the physical bound are refused too."""

from __future__ import annotations

import contextlib
import os
import signal
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.lib import format as npy_format

from mamp_bench.data.kinect import MAX_COORDINATE_M
from mamp_bench.data.ntu.denoise import skeleton_to_joints
from mamp_bench.data.ntu.reader import parse_ntu_skeleton
from mamp_bench.data.pku.reader import parse_pku_labels, parse_pku_skeleton
from mamp_bench.data.synthetic.ntu_tree import BodyStream, format_skeleton
from mamp_bench.data.synthetic.pku_tree import format_pku_video
from mamp_bench.errors import DataFormatError

# 150 examples a property by default; `nox -s stress` sets MAMP_BENCH_FUZZ_EXAMPLES=3000
EXAMPLES = int(os.environ.get("MAMP_BENCH_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])  # fmt: skip
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


# --- special files: every reader reads only regular files within its format's size bound ----------------------


def _special(folder: Path, kind: str, name: str) -> Path:
    """A path named like a data file that is not one: a FIFO, a link to a device, a directory, a symbolic
    link loop, a broken link, or a (sparse) regular file beyond every size bound."""
    path = folder / name
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        os.symlink("/dev/zero", path)
    elif kind == "directory":
        path.mkdir()
    elif kind == "loop":
        os.symlink(path.name, path)
    elif kind == "broken":
        os.symlink("nowhere", path)
    else:
        with open(path, "wb") as handle:
            handle.truncate(64 << 30)  # sparse: 64 GiB claimed, no disk used
    return path


SPECIAL = {"fifo": "FIFO", "device": "character device", "directory": "directory", "loop": "symbolic link loop",
           "broken": "broken symbolic link", "huge": "bytes its format allows"}  # fmt: skip


def _readers():
    """Every reader of an input file: (name, file name, function)."""
    from mamp_bench.checkpoints import load_checkpoint
    from mamp_bench.data.dataset import SkeletonDataset
    from mamp_bench.data.npzio import open_npz_array
    from mamp_bench.data.ntu.names import read_missing_list
    from mamp_bench.data.ntu.reader import read_ntu_skeleton
    from mamp_bench.data.pku.reader import read_pku_labels, read_pku_skeleton, read_pku_split
    from mamp_bench.data.pyskl import safe_load_pickle
    from mamp_bench.fileio import read_json

    return [
        ("NTU skeleton", "S001C001P001R001A001.skeleton", read_ntu_skeleton),
        ("PKU skeleton", "0002-L.txt", read_pku_skeleton),
        ("PKU labels", "0002-L.txt", read_pku_labels),
        ("PKU split", "cross-subject.txt", read_pku_split),
        ("missing list", "missing.txt", read_missing_list),
        ("npz member", "NTU60_XSub.npz", lambda p: open_npz_array(p, "x_train")),
        ("prepared dataset", "NTU60_XSub.npz", SkeletonDataset),
        ("pyskl pickle", "ntu60_3danno.pkl", safe_load_pickle),
        ("checkpoint", "checkpoint-399.pth", load_checkpoint),
        ("JSON record", "record.json", lambda p: read_json(p, "record")),
    ]


@contextlib.contextmanager
def _deadline(seconds: int):
    """Fail instead of hanging (what a plain read of a FIFO does)."""

    def expire(signum, frame):
        raise TimeoutError(f"still reading after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("kind", sorted(SPECIAL))
@pytest.mark.parametrize("reader", _readers(), ids=lambda r: r[0])
def test_every_reader_refuses_what_is_not_a_regular_file(reader, kind, tmp_path):
    _, name, read = reader
    path = _special(tmp_path, kind, name)
    with _deadline(10), pytest.raises(DataFormatError, match=SPECIAL[kind]):
        read(path)


def test_other_readers_skip_special_files_silently_or_with_a_reason(tmp_path):
    """Readers that look for optional files (the results store, a run's summary) treat a special file as
    absent or unreadable, without hanging."""
    from mamp_bench.engine.run_folder import RunFolder
    from mamp_bench.results.store import ResultsStore

    records = tmp_path / "results" / "records" / "knn" / "ntu60-xsub" / "mamp"
    records.mkdir(parents=True)
    _special(records, "fifo", "abc-s0.json")
    _special(records, "directory", "abd-s0.json")
    _special(tmp_path, "fifo", "summary.json")
    with _deadline(10):
        store = ResultsStore(tmp_path / "results")
        assert store.records() == [] and store.find("knn", "ntu60-xsub", "mamp", "abc", 0) is None
        assert [reason.split(":")[0] for _, reason in store.scan().skipped] == ["unreadable", "unreadable"]
        assert RunFolder(tmp_path).summary() is None and not RunFolder(tmp_path).finished


def test_preparation_skips_special_files_with_their_reason(tmp_path):
    from mamp_bench.data.ntu.prepare import prepare_ntu

    raw = tmp_path / "raw"
    raw.mkdir()
    for name in ("S001C002P001R001A001", "S001C001P003R001A002", "S001C001P001R001A003", "S001C002P003R001A004"):
        (raw / f"{name}.skeleton").write_bytes(NTU_FILE)
    kinds = {"fifo": "S001C001P001R001A005", "device": "S001C001P001R001A006", "directory": "S001C001P001R001A007",
             "loop": "S001C001P001R001A008", "huge": "S001C001P001R001A009"}  # fmt: skip
    for kind, stem in kinds.items():
        _special(raw, kind, f"{stem}.skeleton")
    with _deadline(60):
        manifest = prepare_ntu("ntu60", raw, tmp_path / "out", workers=1, quiet=True)
    reasons = {s.item: s.reason for s in manifest.skipped}
    assert manifest.samples == 4
    for kind, stem in kinds.items():
        assert SPECIAL[kind] in reasons[stem], (kind, reasons)


def test_pku_preparation_skips_special_files_with_their_reason(tmp_path):
    from mamp_bench.data.pku.prepare import prepare_pku
    from mamp_bench.data.synthetic.pku_tree import write_pku_tree

    write_pku_tree(tmp_path / "raw", 1, 2, 3, 0)
    skeletons, labels = sorted((tmp_path / "raw" / "skeleton").glob("*.txt")), tmp_path / "raw" / "label"
    skeletons[0].unlink()
    _special(skeletons[0].parent, "fifo", skeletons[0].name)
    (labels / skeletons[1].name).unlink()
    _special(labels, "device", skeletons[1].name)
    with _deadline(60):
        manifest = prepare_pku("pku1", tmp_path / "raw", tmp_path / "out", quiet=True)
    reasons = {s.item: s.reason for s in manifest.skipped}
    assert "FIFO" in reasons[skeletons[0].stem] and "character device" in reasons[skeletons[1].stem]
    assert manifest.samples > 0


# --- absurd but valid values: finite numbers far beyond the physical bound, or right at it -----------------------

COORDINATES = st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from([1e30, -1e30, 99.99, 100.0, 100.01])


def _ntu_with_coordinate(value: float, line: int) -> bytes:
    """NTU_FILE with the x of one joint line (counted among joint lines) replaced."""
    lines = NTU_FILE.split(b"\n")
    joints = [i for i, text in enumerate(lines) if len(text.split()) == 12]
    index = joints[line % len(joints)]
    fields = lines[index].split()
    fields[0] = repr(value).encode()
    lines[index] = b" ".join(fields)
    return b"\n".join(lines)


@FUZZ
@given(value=COORDINATES, line=st.integers(0, 10_000))
def test_ntu_coordinates_beyond_the_physical_bound_are_rejected(value, line):
    outcome = ntu_outcome(_ntu_with_coordinate(value, line))
    if abs(value) > MAX_COORDINATE_M:
        assert outcome.startswith("rejected") and "beyond" in outcome, (value, outcome)
    else:
        assert outcome == "ok" or "beyond" not in outcome, (value, outcome)


@FUZZ
@given(value=COORDINATES, frame=st.integers(0, 5), column=st.integers(0, 149))
def test_pku_coordinates_beyond_the_physical_bound_are_rejected(value, frame, column):
    rows = [line.split() for line in PKU_FILE.splitlines()]
    rows[frame][column] = repr(value).encode()
    try:
        video = parse_pku_skeleton(b"\n".join(b" ".join(r) for r in rows))
    except DataFormatError as exc:
        assert abs(value) > MAX_COORDINATE_M and "beyond" in str(exc), (value, exc)
        return
    assert abs(value) <= MAX_COORDINATE_M and np.abs(video).max() <= MAX_COORDINATE_M


@FUZZ
@given(
    value=COORDINATES,
    label=st.sampled_from([1.0, 0.0, 2.0, -5.0, 0.5, 1e30, -0.0]),
    shape=st.sampled_from([(3, 300), (0, 300), (3, 0), (3, 1)]),
)
def test_prepared_files_with_absurd_values_load_or_name_the_problem(value, label, shape, tmp_path_factory):
    from mamp_bench.data.dataset import SkeletonDataset
    from mamp_bench.data.npzio import NpzStreamWriter

    clips, frames = shape
    x = np.zeros((clips, frames, 150), np.float32)
    if x.size:
        x[0, 0, 0] = np.float32(value) if abs(value) < 3e38 else np.float32(3e38)
    y = np.eye(4)[np.arange(clips) % 4]
    if clips:
        y[0, 1] = label  # beside the 1 of class 0: only 0 keeps the row one-hot
    path = tmp_path_factory.mktemp("npz") / "NTU60_XSub.npz"
    with NpzStreamWriter(path) as writer:
        for key, array in (("x_train", x), ("y_train", y), ("x_test", x), ("y_test", y)):
            writer.write_array(key, array)
    try:
        data = SkeletonDataset(path, "train")
        for i in range(len(data)):
            data.raw_clip(i)
    except DataFormatError as exc:
        assert str(exc)
        return
    assert clips and frames and abs(x[0, 0, 0]) <= MAX_COORDINATE_M and label == 0


@pytest.mark.parametrize("shape", [(10**9, 300, 150), (4, 10**9, 150), (2**62, 2**62, 150)])
def test_npz_headers_claiming_more_than_the_file_holds_are_refused_without_allocating(shape, tmp_path):
    from mamp_bench.data.npzio import open_npz_array

    x = np.zeros((2, 300, 150), np.float32)
    path = tmp_path / "NTU60_XSub.npz"
    with zipfile.ZipFile(path, "w") as archive, archive.open("x_train.npy", "w") as member:
        npy_format.write_array_header_1_0(member, {"descr": "<f4", "fortran_order": False, "shape": shape})
        member.write(x.tobytes())
    tracemalloc.start()
    try:
        for mmap in (True, False):
            with pytest.raises(DataFormatError, match="declares shape"):
                open_npz_array(path, "x_train", mmap=mmap)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2**22


@FUZZ
@given(
    action=st.integers(-(10**20), 10**20) | st.sampled_from([0, 1, 51, 52]),
    start=st.integers(-(10**20), 10**20) | st.sampled_from([0, 1, 5]),
    end=st.integers(-(10**20), 10**20) | st.sampled_from([5, 6, 7]),
)
def test_pku_label_rows_with_absurd_numbers_are_skipped_with_a_reason(action, start, end, tmp_path_factory):
    from mamp_bench.data.pku.prepare import _process

    folder = tmp_path_factory.mktemp("pku")
    (folder / "0002-L.txt").write_bytes(PKU_FILE)
    (folder / "label.txt").write_text(f"{action},{start},{end},1\n")
    video = _process((folder / "0002-L.txt", folder / "label.txt"), inclusive=False)
    assert video.error is None
    if video.clips:
        assert 1 <= action <= 51 and 0 <= start <= end <= 6 and len(video.clips[0][1]) == end - start
    else:
        assert len(video.skipped) == 1 and video.skipped[0][1]
