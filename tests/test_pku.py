"""PKU-MMD readers and ``prepare pku1/pku2``: clip cutting, splits, bad rows and files."""

from __future__ import annotations

import numpy as np
import pytest

from mamp_bench.data.pku.prepare import cut_clip, prepare_pku
from mamp_bench.data.pku.reader import read_pku_labels, read_pku_skeleton, read_pku_split
from mamp_bench.data.synthetic.pku_tree import PHASE2_CLASSES, format_pku_video, write_pku_tree
from mamp_bench.errors import DataFormatError, UserError


def test_real_phase2_skeleton(real_samples, tmp_path):
    path = real_samples / "pku-mmd-phase2" / "A10N08-L.txt"
    video = read_pku_skeleton(path)
    assert video.shape == (1040, 150) and video.dtype == np.float32
    np.testing.assert_array_equal(video, np.loadtxt(path).astype(np.float32))
    assert int((video[:, 75:].sum(1) != 0).sum()) == 728
    assert (video.sum(1) != 0).all()


def test_real_phase2_video_cut_with_a_label_file(real_samples, tmp_path):
    raw = tmp_path / "raw"
    (raw / "skeleton").mkdir(parents=True)
    (raw / "label").mkdir()
    (raw / "skeleton" / "A10N08-L.txt").symlink_to(real_samples / "pku-mmd-phase2" / "A10N08-L.txt")
    (raw / "label" / "A10N08-L.txt").write_text("5,10,130,1\n13,200,520,2\n5,600,1000,1\n")
    (raw / "cross_subject_v2.txt").write_text("Training videos: \nA10N08-L, \nValidation videos: \n\n")
    (raw / "cross_view_v2.txt").write_text("Training videos: \n\nValidation videos: \nA10N08-L\n")
    manifest = prepare_pku("pku2", raw, tmp_path / "out", quiet=True)
    z = np.load(tmp_path / "out" / "PKUv2_XSub.npz")
    assert z["x_train"].shape == (3, 300, 150) and z["x_test"].shape == (0, 300, 150)
    assert z["y_train"].shape == (3, 51) and list(np.argmax(z["y_train"], 1)) == [4, 12, 4]
    video = read_pku_skeleton(raw / "skeleton" / "A10N08-L.txt")
    np.testing.assert_array_equal(z["x_train"][0, :120], video[10:130])  # reference slicing, no centring
    assert (z["x_train"][0, 120:] == 0).all()
    np.testing.assert_array_equal(z["x_train"][2], video[600:900])  # 400 frames cut to 300
    assert manifest.splits["XView"]["test"] == 3


def test_slicing_conventions():
    video = np.arange(20, dtype=np.float32)[:, None].repeat(150, 1)
    assert cut_clip(video, 3, 6, inclusive=False)[:, 0].tolist() == [3, 4, 5]  # frames 4..6 (1-based)
    assert cut_clip(video, 3, 6, inclusive=True)[:, 0].tolist() == [2, 3, 4, 5]  # frames 3..6 (1-based)


@pytest.mark.parametrize("phase", [1, 2])
def test_generated_trees_prepare_with_edge_cases(phase, tmp_path):
    truths = write_pku_tree(tmp_path / "raw", phase, performances=4, actions_per_video=6, seed=2, edge_cases=True)
    manifest = prepare_pku(f"pku{phase}", tmp_path / "raw", tmp_path / "out", workers=2, quiet=True)
    prefix = f"PKUv{phase}"
    assert {p.name for p in (tmp_path / "out").iterdir()} == {
        f"{prefix}_XSub.npz",
        f"{prefix}_XView.npz",
        f"{prefix}_manifest.json",
    }
    reasons = {s.item: s.reason for s in manifest.skipped}
    bad_rows, no_label, zero_clip, bad_line = truths[:4]
    assert "start" in reasons[f"{bad_rows.stem} row {len(bad_rows.rows) - 1}"]
    assert "beyond the video" in reasons[f"{bad_rows.stem} row {len(bad_rows.rows)}"]
    assert reasons[no_label.stem] == "no label file"
    assert reasons[f"{zero_clip.stem} row 1"] == "all-zero clip"
    assert "149 values" in reasons[bad_line.stem]
    good_clips = sum(len(t.rows) for t in truths[4:]) + len(bad_rows.rows) - 2 + len(zero_clip.rows) - 1
    assert manifest.samples == good_clips
    z = np.load(tmp_path / "out" / f"{prefix}_XView.npz")
    assert len(z["x_train"]) + len(z["x_test"]) == good_clips
    labels = np.argmax(np.concatenate([z["y_train"], z["y_test"]]), 1) + 1
    allowed = set(range(1, 52)) if phase == 1 else set(PHASE2_CLASSES)
    assert set(labels) <= allowed
    xview_test = [t for t in truths if t.view == "L"]
    assert len(z["x_test"]) == sum(len(t.rows) for t in xview_test if t.edge_case is None) + sum(
        len(t.rows) - 2 for t in xview_test if t.edge_case == "bad_rows"
    ) + sum(len(t.rows) - 1 for t in xview_test if t.edge_case == "zero_clip")


def test_label_and_split_readers(tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("3,10,20,1\n\n 7 , 30 , 40 , 2 ,\n")
    rows = read_pku_labels(labels)
    assert [(r.action, r.start, r.end, r.confidence) for r in rows] == [(3, 10, 20, 1), (7, 30, 40, 2)]
    labels.write_text("3,a,20,1\n")
    with pytest.raises(DataFormatError, match="not numeric"):
        read_pku_labels(labels)
    split = tmp_path / "split.txt"
    split.write_text("Training videos: \n0002-L, 0002-M, \nValidataion videos:\n0003-L\n")
    assert read_pku_split(split) == (["0002-L", "0002-M"], ["0003-L"])
    split.write_text("Training videos:\n")
    with pytest.raises(DataFormatError):
        read_pku_split(split)


def test_skeleton_reader_rejects_bad_values(tmp_path):
    path = tmp_path / "0002-L.txt"
    frames = np.zeros((3, 150))
    text = format_pku_video(frames).decode()
    path.write_text(text.replace("0.000000", "nan", 1))
    with pytest.raises(DataFormatError, match="NaN"):
        read_pku_skeleton(path)
    path.write_text(text.replace("0.000000", "zero", 1))
    with pytest.raises(DataFormatError, match="non-numeric"):
        read_pku_skeleton(path)
    path.write_text("")
    with pytest.raises(DataFormatError, match="empty"):
        read_pku_skeleton(path)


def test_whole_run_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        prepare_pku("pku1", tmp_path / "nope", tmp_path / "out")
    (tmp_path / "raw" / "skeleton").mkdir(parents=True)
    with pytest.raises(UserError, match="no label folder"):
        prepare_pku("pku1", tmp_path / "raw", tmp_path / "out")
    (tmp_path / "raw" / "label").mkdir()
    with pytest.raises(UserError, match="no split file"):
        prepare_pku("pku1", tmp_path / "raw", tmp_path / "out")
