"""``prepare ntu60/ntu120`` on generated raw trees: layout, denoising, centring, splits, bad input."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from mamp_bench.data.ntu.denoise import translate_sequence
from mamp_bench.data.ntu.names import NTU60_XSUB_TRAIN, SampleName
from mamp_bench.data.ntu.prepare import prepare_ntu
from mamp_bench.data.ntu.reader import read_ntu_skeleton
from mamp_bench.data.provenance import file_provenance
from mamp_bench.errors import UserError
from mamp_bench.fileio import sha256_file


def _sample_index(manifest_out, truths, split="XSub"):
    """Map each prepared sample to (side, row) using the reference order."""
    from mamp_bench.data.ntu.names import ntu_splits

    out, manifest = manifest_out
    names = sorted(t.name for t in truths if t.name not in {s.item for s in manifest.skipped})
    parsed = [SampleName.parse(n) for n in names]
    split_obj = {s.name: s for s in ntu_splits("ntu60")}[split]
    index = {}
    for side in (True, False):
        for row, i in enumerate(split_obj.order(parsed, side)):
            index[names[i]] = ("train" if side else "test", row)
    return index


def test_layout_keys_shapes_and_dtypes(ntu60_prepared):
    out, manifest, truths = ntu60_prepared
    for split in ("XSub", "XView"):
        z = np.load(out / f"NTU60_{split}.npz")
        # the reference's four arrays, and the provenance the reference feeder ignores: a synthetic tree
        assert sorted(z.files) == ["provenance", "x_test", "x_train", "y_test", "y_train"]
        assert file_provenance(out / f"NTU60_{split}.npz")["synthetic"] is True and manifest.provenance["synthetic"]
        for side in ("train", "test"):
            x, y = z[f"x_{side}"], z[f"y_{side}"]
            assert x.dtype == np.float32 and x.shape[1:] == (300, 150)
            assert y.dtype == np.float64 and y.shape == (len(x), 60)
            assert (y.sum(1) == 1).all()
        assert len(z["x_train"]) + len(z["x_test"]) == manifest.samples


def test_manifest_counts_reasons_and_checksums(ntu60_prepared):
    out, manifest, truths = ntu60_prepared
    data = json.loads((out / "NTU60_manifest.json").read_text())
    assert data["files_found"] == len(truths)
    assert data["samples"] == len(truths) - 1
    all_empty = next(t.name for t in truths if t.edge_case == "all_empty")
    assert {"item": all_empty, "reason": "no body in any frame"} in data["skipped"]
    for split in data["splits"].values():
        assert split["sha256"] == sha256_file(out / split["file"])
    assert not list(out.glob(".*tmp"))  # no temporary file left behind


def test_xsub_and_xview_sides(ntu60_prepared):
    out, manifest, truths = ntu60_prepared
    index = _sample_index((out, manifest), truths, "XSub")
    for name, (side, _) in index.items():
        assert (SampleName.parse(name).subject in NTU60_XSUB_TRAIN) == (side == "train")
    index = _sample_index((out, manifest), truths, "XView")
    for name, (side, _) in index.items():
        assert (SampleName.parse(name).camera in (2, 3)) == (side == "train")
    sides = {side for side, _ in index.values()}
    assert sides == {"train", "test"}


def _row(out, manifest, truths, name, split="XSub"):
    side, row = _sample_index((out, manifest), truths, split)[name]
    z = np.load(out / f"NTU60_{split}.npz")
    return z[f"x_{side}"][row], int(np.argmax(z[f"y_{side}"][row]))


def test_labels_and_centring(ntu60_prepared):
    out, manifest, truths = ntu60_prepared
    for truth in truths[:12]:
        if truth.edge_case == "all_empty":
            continue
        x, label = _row(out, manifest, truths, truth.name)
        assert label == truth.label
        first = np.flatnonzero(np.any(x[:, :75] != 0, axis=1))[0]
        np.testing.assert_array_equal(x[first, 3:6], 0)  # SpineMid of actor 1, first valid frame


def _single_body_expected(path, body_id):
    skeleton = read_ntu_skeleton(path)
    joints = skeleton.bodies[body_id].joints.reshape(-1, 75)
    return translate_sequence(joints)


@pytest.mark.parametrize("case", ["short_noise_body", "wide_noise_body"])
def test_noise_bodies_are_removed(ntu60_prepared, case):
    out, manifest, truths = ntu60_prepared
    truth = next(t for t in truths if t.edge_case == case)
    x, _ = _row(out, manifest, truths, truth.name)
    expected = _single_body_expected(truth.path, truth.bodies[0])
    np.testing.assert_array_equal(x[: len(expected), :75], expected)
    assert (x[:, 75:] == 0).all() and (x[len(expected) :] == 0).all()


def test_body_id_switch_is_merged_into_one_actor(ntu60_prepared):
    out, manifest, truths = ntu60_prepared
    truth = next(t for t in truths if t.edge_case == "id_switch")
    x, _ = _row(out, manifest, truths, truth.name)
    assert np.any(x[: truth.frames, :75] != 0, axis=1).all()
    assert (x[:, 75:] == 0).all()
    assert (x[truth.frames :] == 0).all()


def test_four_bodies_keep_two_actors(ntu60_prepared):
    out, manifest, truths = ntu60_prepared
    truth = next(t for t in truths if t.edge_case == "four_bodies")
    assert len(truth.bodies) == 4
    x, _ = _row(out, manifest, truths, truth.name)
    valid = np.any(x != 0, axis=1)
    assert valid.sum() == truth.frames
    assert np.any(x[valid, 75:] != 0, axis=1).all()  # the second actor is the real partner, in every frame
    notes = manifest.notes[truth.name]
    assert any("seen in 8 frames" in n for n in notes) and any("wider than tall" in n for n in notes)


def test_empty_frames_dropped_and_long_sequence_cut(ntu60_prepared):
    out, manifest, truths = ntu60_prepared
    empty = next(t for t in truths if t.edge_case == "empty_frames")
    x, _ = _row(out, manifest, truths, empty.name)
    assert np.any(x != 0, axis=1).sum() == empty.frames - 7
    long = next(t for t in truths if t.edge_case == "long")
    x, _ = _row(out, manifest, truths, long.name)
    assert np.any(x != 0, axis=1).all()  # 310 frames cut to 300
    assert "310 frames cut to 300" in manifest.notes[long.name]


def test_ntu120_duplicates_single_actor_by_default(tmp_path):
    from mamp_bench.data.synthetic.ntu_tree import write_ntu_tree

    write_ntu_tree(tmp_path / "raw", "ntu120", clips_per_class=1, seed=3)
    dup = prepare_ntu("ntu120", tmp_path / "raw", tmp_path / "dup", workers=1, quiet=True)
    zeros = prepare_ntu("ntu120", tmp_path / "raw", tmp_path / "zeros", single_actor="zeros", quiet=True)
    assert set(dup.splits) == {"XSub", "XSet"} and zeros.options["single_actor"] == "zeros"
    a, b = np.load(tmp_path / "dup" / "NTU120_XSet.npz"), np.load(tmp_path / "zeros" / "NTU120_XSet.npz")
    single = [i for i in range(len(b["x_train"])) if (b["x_train"][i][:, 75:] == 0).all()]
    assert single
    for i in single:
        np.testing.assert_array_equal(a["x_train"][i][:, 75:], a["x_train"][i][:, :75])
        np.testing.assert_array_equal(a["x_train"][i][:, :75], b["x_train"][i][:, :75])
    assert {SampleName.parse(p.stem).setup for p in (tmp_path / "raw").rglob("*.skeleton")} >= {1, 2, 18, 31}


def test_missing_list_excludes_its_samples(ntu60_tree, tmp_path):
    root, truths = ntu60_tree
    manifest = prepare_ntu(
        "ntu60", root, tmp_path, missing_list=root / "samples_with_missing_skeletons.txt", quiet=True
    )
    all_empty = next(t.name for t in truths if t.edge_case == "all_empty")
    reasons = {s.item: s.reason for s in manifest.skipped}
    assert reasons[all_empty] == "listed in the missing-skeleton list"


def _nan_first_joint(data: bytes) -> bytes:
    head, tail = data.split(b"\n25\n", 1)
    return head + b"\n25\nnan" + tail[tail.index(b" ") :]


BAD = {
    "truncated": (lambda d: d[: len(d) // 3], "truncated"),
    "wrong joint count": (lambda d: d.replace(b"\n25\n", b"\n20\n", 1), "joint count 20"),
    "non-numeric": (lambda d: d.replace(b" 2\n", b" x\n", 3), "non-numeric"),
    "NaN": (lambda d: _nan_first_joint(d), "NaN"),
    "empty": (lambda d: b"", "empty file"),
}


def test_bad_files_are_skipped_and_the_rest_prepared(ntu60_tree, tmp_path):
    root, truths = ntu60_tree
    raw = tmp_path / "raw"
    shutil.copytree(root, raw)
    normal = [t for t in truths if t.edge_case is None]
    damaged = {}
    for (case, (damage, _)), truth in zip(BAD.items(), normal, strict=False):
        path = raw / truth.path.relative_to(root)
        path.write_bytes(damage(path.read_bytes()))
        damaged[truth.name] = case
    (raw / "nturgb+d_skeletons" / "notes.skeleton").write_text("not a sample")
    dup_dir = raw / "copy"
    dup_dir.mkdir()
    shutil.copy(normal[-1].path, dup_dir / normal[-1].path.name)
    manifest = prepare_ntu("ntu60", raw, tmp_path / "out", quiet=True)
    reasons = {s.item: s.reason for s in manifest.skipped}
    for name, case in damaged.items():
        assert BAD[case][1] in reasons[name], (case, reasons[name])
    assert reasons["nturgb+d_skeletons/notes.skeleton"].startswith("file name does not match")
    assert any("duplicate sample" in r for r in reasons.values())
    assert manifest.samples == len(truths) - 1 - len(damaged)


def test_whole_run_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        prepare_ntu("ntu60", tmp_path / "nope", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no .skeleton files"):
        prepare_ntu("ntu60", tmp_path / "empty", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_real_samples_prepare(real_samples, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    for path in (real_samples / "ntu").glob("*.skeleton"):
        (raw / path.name).symlink_to(path)
    manifest = prepare_ntu("ntu60", raw, tmp_path / "out", quiet=True)
    assert manifest.samples == 3 and not manifest.skipped
    z = np.load(tmp_path / "out" / "NTU60_XSub.npz")
    x = z["x_train"]  # subject 1 trains in xsub
    assert x.shape == (3, 300, 150)
    assert [int(np.any(s != 0, axis=1).sum()) for s in x] == [103, 158, 104]
    assert np.abs(x).max() < 3 and (x[:, :, 75:] == 0).all()
