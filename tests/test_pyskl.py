"""pyskl's 3D annotation pickle: read into the reference arrays; code-running pickles are refused."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from mamp_bench.data.ntu.denoise import denoise_bodies
from mamp_bench.data.ntu.names import NTU60_XSUB_TRAIN, SampleName, ntu_splits
from mamp_bench.data.ntu.reader import read_ntu_skeleton
from mamp_bench.data.pyskl import prepare_from_pyskl, safe_load_pickle
from mamp_bench.errors import DataFormatError, UserError


def _annotations(truths):
    anns, names = [], []
    for truth in truths:
        if truth.edge_case is not None:
            continue
        skeleton = read_ntu_skeleton(truth.path)
        bodies = [t.joints for t in skeleton.bodies.values()]
        if len(bodies) > 1:  # pyskl stores the actors in the denoiser's order (most motion first)
            bodies = [joints for _, joints, _ in denoise_bodies(skeleton.bodies)[0]]
        keypoint = np.stack(bodies).astype(np.float16)
        anns.append(
            {"frame_dir": truth.name, "label": truth.label, "keypoint": keypoint, "total_frames": keypoint.shape[1]}
        )
        names.append(truth.name)
    return anns, names


def test_pyskl_pickle_gives_the_reference_layout(ntu60_tree, ntu60_prepared, tmp_path):
    _, truths = ntu60_tree
    anns, names = _annotations(truths)
    train = [n for n in names if SampleName.parse(n).subject in NTU60_XSUB_TRAIN]
    split = {
        "xsub_train": train,
        "xsub_val": [n for n in names if n not in train],
        "xview_train": [n for n in names if SampleName.parse(n).camera != 1],
        "xview_val": [n for n in names if SampleName.parse(n).camera == 1],
    }
    path = tmp_path / "ntu60_3danno.pkl"
    path.write_bytes(pickle.dumps({"split": split, "annotations": anns}, protocol=4))
    manifest = prepare_from_pyskl("ntu60", path, tmp_path / "out")
    assert manifest.samples == len(names) and manifest.splits["XSub"]["train"] == len(train)
    ours = np.load(tmp_path / "out" / "NTU60_XSub.npz")["x_train"]
    reference = np.load(ntu60_prepared[0] / "NTU60_XSub.npz")["x_train"]
    xsub = ntu_splits("ntu60")[0]
    prepared_names = sorted(t.name for t in truths if t.edge_case != "all_empty")

    def ordered(candidates):
        parsed = [SampleName.parse(n) for n in candidates]
        return [candidates[i] for i in xsub.order(parsed, train=True)]

    row_of = {name: row for row, name in enumerate(ordered(prepared_names))}
    for row, name in enumerate(ordered(sorted(names))):
        # equal to the raw-file preparation up to float16 storage (about 2 mm at 4 m)
        np.testing.assert_allclose(ours[row], reference[row_of[name]], atol=4e-3)


def test_code_running_pickle_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"split": {}, "annotations": [Evil()]}))
    with pytest.raises(DataFormatError, match="refused"):
        safe_load_pickle(path)
    with pytest.raises(UserError, match="refused"):
        prepare_from_pyskl("ntu60", path, tmp_path / "out")
    assert not (tmp_path / "pwned").exists()


def test_truncated_and_wrong_pickles(tmp_path):
    path = tmp_path / "cut.pkl"
    path.write_bytes(pickle.dumps({"a": np.zeros(10)})[:20])
    with pytest.raises(DataFormatError, match="not a readable pickle"):
        safe_load_pickle(path)
    path.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(UserError, match="not a pyskl annotation file"):
        prepare_from_pyskl("ntu60", path, tmp_path / "out")
