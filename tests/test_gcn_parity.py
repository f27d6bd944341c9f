"""The GCN family (ST-GCN, SkeletonCLR, AimCLR and their 50-frame data chain) against the reference code.

Expected values come from ``tests/reference/gcn/make_expected.py``, which ran Levigty/AimCLR and
LinguoLi/CrosSCLR on CPU on the inputs of ``tests/reference/gcn/cases.py`` (the same recipes run here). Tests on
the real samples skip when they are absent (they fail when ``MAMP_BENCH_REQUIRE_REAL_SAMPLES`` is set); the real
data's reference outputs are kept only as sha256 digests, valid lengths and random projections.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch

from mamp_bench.baselines.aimclr import AimCLR, AimCLRConfig
from mamp_bench.baselines.skeletonclr_gcn import GCNContrastiveConfig, SkeletonCLR
from mamp_bench.data.gcn.augment import ViewDraws, extreme_view, normal_view
from mamp_bench.data.gcn.chain import first_two_bodies, frame50, pad_frames, valid_length
from mamp_bench.data.gcn.prepare import prepare_gcn
from mamp_bench.data.ntu.reader import read_ntu_skeleton
from mamp_bench.errors import UserError
from mamp_bench.models.graph import spatial_adjacency
from mamp_bench.models.stgcn import STGCN, STGCNConfig, backbone_parameters
from tests.reference.gcn import cases

EXPECTED = np.load(cases.EXPECTED)
FACTS = json.loads(cases.EXPECTED_JSON.read_text())
#: float32 rounding of coordinates up to a few metres, and of what the network computes from them
COORDINATE_ATOL = 2e-6


def _sha(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array, dtype=np.float32).tobytes()).hexdigest()


def _rows_to_clip(rows: np.ndarray) -> np.ndarray:
    """(50, 150) suite rows -> (3, 50, 25, 2)."""
    return rows.reshape(rows.shape[0], 2, 25, 3).transpose(3, 0, 2, 1)


# ----- model -------------------------------------------------------------------------------------------------
def test_graph_is_the_references_spatial_partition():
    np.testing.assert_allclose(spatial_adjacency(), EXPECTED["graph_A"], rtol=0, atol=1e-7)


def test_parameter_counts_equal_the_reference():
    params = FACTS["params"]
    assert backbone_parameters(STGCN()) == params["backbone"] == 821_380
    for cls in (SkeletonCLR, AimCLR):
        method = cls(cls.Config(queue_size=cases.QUEUE))
        assert sum(p.numel() for p in method.parameters()) == params["whole"] == 1_840_136
        assert sum(p.numel() for p in method.parameters() if p.requires_grad) == params["trainable"] == 920_068
        assert sum(p.numel() for p in method.projection.parameters()) == params["head"]
        assert sum(b.numel() for b in method.buffers()) == params["buffers"] == 4_204_163  # queue, BN, graphs


def _official_checkpoint(tmp_path, layout_key: str = "layout"):
    """An official-layout checkpoint file (the reference's keys and shapes, recipe values), as torch.save wrote
    it; read back as a user would."""
    state = cases.official_state(FACTS[layout_key], 0, spatial_adjacency())
    path = tmp_path / "epoch300_model.pt"
    torch.save(state, path)
    return torch.load(path, map_location="cpu")


def test_official_checkpoint_gives_the_references_features(tmp_path):
    method = AimCLR(AimCLRConfig(queue_size=cases.QUEUE))
    method.load_official(_official_checkpoint(tmp_path))
    method.eval()
    x = torch.from_numpy(cases.clips())
    with torch.no_grad():
        features = method.encoder(x)
        projection = method.projection(features)
    np.testing.assert_allclose(features.numpy(), EXPECTED["features/clips"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(projection.numpy(), EXPECTED["projection/clips"], rtol=1e-5, atol=1e-5)


def test_official_checkpoint_of_another_graph_is_refused(tmp_path):
    state = _official_checkpoint(tmp_path)
    state["encoder_q.A"] = torch.ones_like(state["encoder_q.A"])
    with pytest.raises(UserError, match="spatial partition"):
        SkeletonCLR(GCNContrastiveConfig(queue_size=cases.QUEUE)).load_official(state)


def test_official_checkpoint_features_on_the_real_samples(real_samples, tmp_path):
    """End to end: the suite's chain on the real files, then the checkpoint's encoder; the reference: its
    chain, then its encoder."""
    files = _real_files(real_samples, tmp_path)
    x = np.stack([frame50(pad_frames(first_two_bodies(read_ntu_skeleton(path)))) for path in files.values()])
    method = SkeletonCLR(GCNContrastiveConfig(queue_size=cases.QUEUE))
    method.load_official(_official_checkpoint(tmp_path))
    method.eval()
    with torch.no_grad():
        features = method.encoder(torch.from_numpy(x))
    np.testing.assert_allclose(features.numpy(), EXPECTED["features/real"], rtol=1e-4, atol=1e-4)


# ----- data chain --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", sorted(FACTS["edge_cases"]))
def test_data_chain_edge_case_equals_the_reference(tmp_path, case):
    path = cases.write_edge_cases(tmp_path)[case]
    stage1 = pad_frames(first_two_bodies(read_ntu_skeleton(path)))
    facts = FACTS["edge_cases"][case]
    assert _sha(stage1) == facts["stage1_sha256"]  # stage 1 is exact
    assert valid_length(stage1) == facts["valid_length"]
    np.testing.assert_allclose(frame50(stage1), EXPECTED[f"edge/{case}"], rtol=0, atol=COORDINATE_ATOL)


def test_edge_cases_cover_what_they_are_named_for():
    """The absent second body stays zero, gaps and a zero SpineBase shorten the valid length, and the long
    clip turns so that its shoulder vector's z changes sign (one rotation sign for the whole sequence)."""
    lengths = {case: facts["valid_length"] for case, facts in FACTS["edge_cases"].items()}
    assert lengths["empty_frames"] == 82 and lengths["spinebase_zero"] == 65 and lengths["short"] == 7
    assert (EXPECTED["edge/one_body"][..., 1] == 0).all()
    assert (EXPECTED["edge/second_body_partly"][..., 1] != 0).any()


def _real_files(real_samples, folder):
    raw = folder / "raw"
    raw.mkdir(exist_ok=True)
    files = {}
    for stem in cases.REAL_NTU:
        (raw / f"{stem}.skeleton").symlink_to(real_samples / "ntu" / f"{stem}.skeleton")
        files[stem] = raw / f"{stem}.skeleton"
    return files | cases.write_real_variants(real_samples / "ntu", raw)


def _assert_sketch(clip: np.ndarray, expected: list[float]) -> None:
    tolerance = cases.sketch_tolerance(clip.size, COORDINATE_ATOL)
    np.testing.assert_allclose(cases.sketch(clip), expected, rtol=0, atol=tolerance)


def test_prepare_gcn_equals_the_reference_on_the_real_samples(real_samples, tmp_path):
    files = _real_files(real_samples, tmp_path)
    manifest = prepare_gcn("ntu60", tmp_path / "raw", tmp_path / "out", workers=1, quiet=True)
    assert manifest.samples == len(files) and not manifest.skipped
    assert "S002C001P001R001A001" in manifest.notes  # the gap: valid length < last frame with a body
    prepared = np.load(tmp_path / "out" / "NTU60_XSub_frame50.npz")
    rows = {
        str(n): x
        for side in ("train", "test")
        for n, x in zip(prepared[f"names_{side}"], prepared[f"x_{side}"], strict=True)
    }
    for key, path in files.items():
        facts = FACTS["real"][key]
        stage1 = pad_frames(first_two_bodies(read_ntu_skeleton(path)))
        assert _sha(stage1) == facts["stage1_sha256"]
        assert valid_length(stage1) == facts["valid_length"]
        _assert_sketch(_rows_to_clip(rows[facts["stem"]]), facts["sketch"])
    labels = dict(zip(prepared["names_train"], prepared["y_train"].argmax(1), strict=True))
    assert labels["S001C001P001R001A002"] == FACTS["real"]["S001C001P001R001A002"]["label"] == 1


def test_prepare_gcn_pku1_equals_the_reference(real_samples, tmp_path):
    """PKU-MMD I: label rows cut into clips (two longer than 300 frames: centre-cropped), body 2 where present."""
    root = cases.write_pku_tree(real_samples / "pku-mmd-phase2" / "A10N08-L.txt", tmp_path / "pku")
    manifest = prepare_gcn("pku1", root, tmp_path / "out", quiet=True)
    assert manifest.samples == len(FACTS["pku"]) and not manifest.skipped
    prepared = np.load(tmp_path / "out" / "PKUv1_XSub_frame50.npz")
    for side, part in (("train", "train"), ("test", "val")):
        names = [str(n) for n in prepared[f"names_{side}"]]
        assert names == sorted(n for n, f in FACTS["pku"].items() if f["part"] == part)
        for name, rows in zip(names, prepared[f"x_{side}"], strict=True):
            _assert_sketch(_rows_to_clip(rows), FACTS["pku"][name]["sketch"])


def test_synthetic_raw_trees_go_through_the_gcn_chain_and_stay_marked(ntu60_tree, tmp_path):
    from mamp_bench.data.provenance import file_provenance

    root, truths = ntu60_tree
    manifest = prepare_gcn("ntu60", root, tmp_path / "out", workers=2, quiet=True)
    assert manifest.provenance["synthetic"] and manifest.samples > 0
    assert file_provenance(tmp_path / "out" / "NTU60_XSub_frame50.npz")["synthetic"] is True
    data = json.loads((tmp_path / "out" / "NTU60_frame50_manifest.json").read_text())
    assert data["synthetic"] is True and data["options"]["chain"] == "gcn"
    assert all(split["sha256"] for split in data["splits"].values())


# ----- augmentations and pretext losses ----------------------------------------------------------------------
def _replay(logs: list[list], clip_shape: tuple[int, ...], extreme_views: int) -> list[ViewDraws]:
    """The reference feeder's recorded calls -> one ViewDraws per view (the first ``extreme_views`` extreme).
    NumPy's Gaussian arrays were logged by shape: they are regenerated by replaying the NumPy calls on a fresh
    generator with the recording's seed (and the replayed scalars must equal the recorded ones)."""
    rng = np.random.RandomState(FACTS["seeds"]["numpy"])
    span = 2 * (clip_shape[1] // 6) + 1
    per_view: list[list[dict]] = []
    for log in logs:
        calls = iter(log)

        def take(name, calls=calls):
            got, value = next(calls)
            assert got == name, (got, name)
            if name == "np.randint":
                assert rng.randint(0, span) == value
            elif name == "np.random_sample":
                assert rng.random_sample() == value
            elif name == "np.normal":
                return rng.normal(0, 0.01, size=value["shape"])
            return value

        views = []
        for view in range(3 if extreme_views else 2):
            draw = {"shift": int(take("np.randint")), "shear": [take("py.uniform") for _ in range(6)]}
            if view < extreme_views:
                draw["mirror"] = take("py.random") < 0.5
                main = int(take("py.randint"))
                draw["rotation_degrees"] = [take("py.uniform") for _ in range(3)]
                assert all(d <= (30 if a == main else 1) for a, d in enumerate(draw["rotation_degrees"]))
                draw["noise_on"] = take("py.random") < 0.5
                draw["noise"] = take("np.normal") if draw["noise_on"] else np.zeros(clip_shape)
                draw["blur_sigma"] = take("py.uniform")
                draw["blur_on"] = take("np.random_sample") < 0.5
                draw["zero_axis"] = int(take("py.randint")) if take("py.random") < 0.5 else -1
            views.append(draw)
        assert next(calls, None) is None
        per_view.append(views)
    out = []
    for v in range(len(per_view[0])):
        fields = {k: [clip[v][k] for clip in per_view] for k in per_view[0][v]}
        out.append(ViewDraws(**{k: torch.tensor(np.array(val)) for k, val in fields.items()}))
    return out


def test_augmentations_equal_the_reference_for_recorded_draws():
    x = torch.from_numpy(cases.clips())
    extreme, query, key = _replay(FACTS["aimclr_draws"], x.shape[1:], extreme_views=1)
    n = cases.AUG_CLIPS
    for name, view, apply in (("extreme", extreme, extreme_view), ("query", query, normal_view),
                              ("key", key, normal_view)):  # fmt: skip
        np.testing.assert_allclose(apply(x.double(), view)[:n].numpy(), EXPECTED[f"aug/{name}"], rtol=0, atol=1e-6)
    flags = {f: getattr(extreme, f)[:n].tolist() for f in ("mirror", "noise_on", "blur_on")}
    assert all(len(set(v)) == 2 for v in flags.values()), f"the kept clips do not cover both branches: {flags}"
    assert len(set(extreme.zero_axis[:n].tolist())) > 1


def _official_name(name: str) -> str:
    part, rest = name.split(".", 1)
    return "encoder_q." + (f"fc.{rest}" if part == "projection" else rest.replace("blocks.", "st_gcn_networks.", 1))


def _check_step(method, draws, expected_loss, expected_norms, expected_keys):
    method.train()
    torch.manual_seed(FACTS["seeds"]["dropout"])  # the same dropout masks, drawn in the same order
    out = method(torch.from_numpy(cases.clips()), draws=draws)
    out.loss.backward()
    assert out.loss.item() == pytest.approx(expected_loss, rel=1e-5)
    norms = {_official_name(n): p.grad.double().norm().item() for n, p in method.named_parameters()
             if p.grad is not None}  # fmt: skip
    assert set(norms) == set(expected_norms)
    for name, norm in expected_norms.items():
        # up to 2e-6 apart on one thread (measured); a conv bias before a BatchNorm has gradient 0, up to rounding
        assert norms[name] == pytest.approx(norm, rel=1e-4, abs=1e-5), name
    np.testing.assert_allclose(method._pending[0].numpy(), expected_keys, rtol=0, atol=1e-5)


#: the joint stream in the default run; motion and bone (the same code after a stream step) with ``-m slow``
STREAMS = ["joint", *(pytest.param(s, marks=pytest.mark.slow) for s in ("motion", "bone"))]


@pytest.mark.parametrize("stream", STREAMS)
@pytest.mark.parametrize("epoch", [1, 151])
def test_aimclr_loss_equals_the_reference(tmp_path, one_torch_thread, stream, epoch):
    """The processor's loss and gradients on the same inputs, draws and weights, before mining (epoch 1) and
    after it starts (epoch 151 of 300: mining_start 0.5)."""
    method = AimCLR(AimCLRConfig(STGCNConfig(stream=stream), queue_size=cases.QUEUE))
    method.load_official(_official_checkpoint(tmp_path))
    method.set_progress((epoch - 1) / 300)
    assert method.mining is (epoch > 150)
    draws = _replay(FACTS["aimclr_draws"], (3, 50, 25, 2), extreme_views=1)
    run = FACTS["aimclr_runs"][f"{stream}/{epoch}"]
    _check_step(method, draws, run["loss"], run["grad_norms"], EXPECTED[f"keys/aimclr/{stream}/{epoch}"])


@pytest.mark.parametrize("stream", STREAMS)
def test_skeletonclr_loss_equals_the_reference(tmp_path, one_torch_thread, stream):
    method = SkeletonCLR(GCNContrastiveConfig(STGCNConfig(stream=stream), queue_size=cases.QUEUE))
    method.load_official(_official_checkpoint(tmp_path, "skeletonclr_layout"))
    draws = _replay(FACTS["skeletonclr_draws"], (3, 50, 25, 2), extreme_views=0)
    run = FACTS["skeletonclr_runs"][stream]
    _check_step(method, draws, run["loss"], run["grad_norms"], EXPECTED[f"keys/skeletonclr/{stream}"])
