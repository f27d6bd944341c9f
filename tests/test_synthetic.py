"""The synthetic data: deterministic, physically consistent, class-dependent, built once and cached."""

from __future__ import annotations

import json
import zipfile

import numpy as np

from mamp_bench.data.dataset import SkeletonDataset
from mamp_bench.data.kinect import SDK_PARENT
from mamp_bench.data.synthetic import builder
from mamp_bench.data.synthetic.motion import Body, forward_kinematics
from mamp_bench.data.synthetic.ntu_tree import ntu_class_programs, write_ntu_tree
from mamp_bench.data.synthetic.pku_tree import PKU_TO_NTU, pku_class_programs, write_pku_tree


def test_same_seed_same_bytes_any_worker_count(tmp_path):
    a = write_ntu_tree(tmp_path / "a", "ntu60", clips_per_class=1, seed=4, crlf=True, workers=2)
    b = write_ntu_tree(tmp_path / "b", "ntu60", clips_per_class=1, seed=4, crlf=True, workers=1)
    assert [t.name for t in a] == [t.name for t in b]
    assert all(x.path.read_bytes() == y.path.read_bytes() for x, y in zip(a, b, strict=True))
    assert b"\r\n" in a[0].path.read_bytes()
    c = write_ntu_tree(tmp_path / "c", "ntu60", clips_per_class=1, seed=5)
    assert a[0].path.read_bytes() != c[0].path.read_bytes()


def test_bones_keep_their_length():
    program = ntu_class_programs("ntu60")[22]
    body = Body.for_subject(7)
    pose = forward_kinematics(program.actors[0].dof_curves(90), body)
    for joint, parent in enumerate(SDK_PARENT):
        length = np.linalg.norm(pose[:, joint] - pose[:, parent], axis=-1)
        np.testing.assert_allclose(length, length[0], rtol=1e-9)


def test_paired_classes_share_poses_but_not_dynamics():
    programs = ntu_class_programs("ntu60")
    for first, second in ((0, 1), (6, 7), (12, 13), (20, 21)):  # classes 1-2, 7-8, 13-14, 21-22
        a = programs[first].actors[0].dof_curves(100)
        b = programs[second].actors[0].dof_curves(100)
        assert not np.allclose(a, b)
        if programs[second].actors[0].reverse != programs[first].actors[0].reverse:
            np.testing.assert_allclose(a, b[::-1])  # the same movement played backwards
    assert all(len(programs[i].actors) == 2 for i in range(49, 60))
    assert all(len(programs[i].actors) == 1 for i in range(49))


def test_pku_classes_reuse_ntu_programs_by_name():
    pku, ntu = pku_class_programs(), ntu_class_programs("ntu60")
    assert len(pku) == 51
    assert pku[33] is ntu[PKU_TO_NTU[33] - 1]  # sitting down
    assert pku[29].actors[0] != ntu[24].actors[0]


def test_pku_views_show_the_same_performance(tmp_path):
    truths = write_pku_tree(tmp_path, 1, performances=1, actions_per_video=3, seed=1)
    assert [t.view for t in truths] == ["L", "M", "R"]
    assert truths[0].rows == truths[1].rows == truths[2].rows
    videos = [np.loadtxt(tmp_path / "skeleton" / f"{t.stem}.txt") for t in truths]
    assert videos[0].shape == videos[1].shape and not np.allclose(videos[0], videos[1])
    split = (tmp_path / "cross-view.txt").read_text().splitlines()
    assert "0002-L" in split[3] and "0002-L" not in split[1] and split[1].endswith(", ")


def test_builder_caches_the_files_asked_for_compressed(tmp_path, monkeypatch):
    monkeypatch.setitem(builder.RECIPES, "pku2", builder.SyntheticRecipe("pku2", performances=3, actions_per_video=4))
    path = builder.synthetic_file("pku2", "PKUv2_XSub.npz", tmp_path)
    folder = path.parent
    assert sorted(p.name for p in folder.iterdir()) == ["PKUv2_XSub.npz", "PKUv2_manifest.json", "recipe.json"]
    assert json.loads((folder / "recipe.json").read_text())["performances"] == 3
    with zipfile.ZipFile(path) as archive:  # the reference layout, in compressed members
        assert {i.filename: i.compress_type for i in archive.infolist()}["x_train.npy"] == zipfile.ZIP_DEFLATED
    with np.load(path) as arrays:
        assert arrays["x_train"].shape[1:] == (300, 150) and arrays["x_train"].dtype == np.float32
    assert SkeletonDataset(path, "train")[0][0].shape == (3, 120, 25, 2)
    stamp = path.stat().st_mtime_ns
    assert builder.synthetic_file("pku2", "PKUv2_XSub.npz", tmp_path) == path
    assert path.stat().st_mtime_ns == stamp
    assert builder.synthetic_file("pku2", "PKUv2_XView.npz", tmp_path).is_file()  # built when asked for
    assert [p.name for p in (tmp_path / "synthetic").iterdir() if p.name.startswith(".")] == []


def test_the_default_stand_in_takes_a_tenth_of_its_former_414_mb_and_keeps_every_clip():
    from mamp_bench.data.specs import get_dataset

    path = get_dataset("synthetic-ntu60").path()  # built once a test session (other tests use it too)
    assert sum(f.stat().st_size for f in path.parent.iterdir()) < 414e6 / 10
    train, test = SkeletonDataset(path, "train"), SkeletonDataset(path, "test")
    assert (len(train), len(test)) == (622, 578)  # 20 clips of each of the 60 classes
    assert set(train.labels.tolist()) == set(test.labels.tolist()) == set(range(60))
