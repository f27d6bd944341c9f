"""The GCN family's suite-side behaviour (what the reference has no counterpart for): the preparation's
command line and skipped items, the draws from per-clip seeds, the MoCo timing, the mining switch, the streams
and the published rows. Parity with the reference code is in ``test_gcn_parity.py``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mamp_bench.baselines.aimclr import AimCLR, AimCLRConfig
from mamp_bench.baselines.skeletonclr_gcn import GCNContrastiveConfig, SkeletonCLR
from mamp_bench.cli import main
from mamp_bench.data.gcn.augment import draw_extreme, draw_normal
from mamp_bench.data.gcn.prepare import prepare_gcn
from mamp_bench.data.gcn.streams import bone, motion
from mamp_bench.results.reported import reported
from tests.reference.gcn import cases


def test_prepare_gcn_skips_a_clip_without_body_1_spine_base_with_its_reason(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    body = cases.moving_body(30, 1)
    cases.write_skeleton(raw / "S001C001P001R001A001.skeleton", [[(1, body[t])] for t in range(30)])
    nobody = body.copy()
    nobody[:, 0] = 0.0  # SpineBase zero in every frame: the reference's resize would get zero frames
    cases.write_skeleton(raw / "S001C001P003R001A002.skeleton", [[(1, nobody[t])] for t in range(30)])
    manifest = prepare_gcn("ntu60", raw, tmp_path / "out", quiet=True)
    assert manifest.samples == 1
    assert [(s.item, s.reason) for s in manifest.skipped] == [
        ("S001C001P003R001A002", "no frame where body 1's SpineBase is non-zero: nothing to resize")
    ]


@pytest.mark.parametrize(
    "args, message",
    [
        (["prepare", "pku2", "--raw", "RAW", "--chain", "gcn"], "the GCN family's chain prepares ntu60, ntu120, pku1"),
        (["prepare", "ntu60", "--pyskl", "x.pkl", "--chain", "gcn"], "--pyskl is for the sgn chain"),
    ],
)
def test_prepare_gcn_refuses_what_it_does_not_prepare_in_one_line(tmp_path, capsys, args, message):
    (tmp_path / "RAW").mkdir()
    args = [str(tmp_path / a) if a == "RAW" else a for a in args]
    assert main([*args, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_prepare_gcn_command_writes_the_manifest(tmp_path, capsys):
    raw = tmp_path / "raw"
    cases.write_edge_cases(raw)
    assert main(["prepare", "ntu60", "--raw", str(raw), "--out", str(tmp_path / "out"), "--chain", "gcn",
                 "--quiet", "--workers", "1"]) == 0  # fmt: skip
    manifest = json.loads((tmp_path / "out" / "NTU60_frame50_manifest.json").read_text())
    assert manifest["options"]["chain"] == "gcn" and manifest["samples"] == 10
    assert "S001C002P001R001A005" in manifest["notes"]  # empty frames inside: valid length < last body frame
    out = capsys.readouterr().out
    assert "NTU60_XSub_frame50.npz" in out


def test_draws_depend_on_the_clip_seed_only_and_stay_in_their_ranges():
    seeds = torch.arange(100, 116)
    whole = draw_extreme(seeds, 0, (16, 3, 50, 25, 2))
    half = draw_extreme(seeds[8:], 0, (8, 3, 50, 25, 2))
    for name in ("shift", "shear", "mirror", "rotation_degrees", "noise", "blur_sigma", "zero_axis"):
        assert torch.equal(getattr(whole, name)[8:], getattr(half, name)), name
    assert whole.shift.min() >= 0 and whole.shift.max() <= 16
    assert whole.shear.abs().max() <= 0.5
    degrees = whole.rotation_degrees
    assert ((degrees > 1).sum(dim=1) <= 1).all() and degrees.max() <= 30 and degrees.min() >= 0
    assert set(whole.zero_axis.tolist()) <= {-1, 0, 1, 2}
    assert 0.003 < whole.noise.std() < 0.03
    assert not torch.equal(draw_normal(seeds, 1, 50).shear, draw_normal(seeds, 2, 50).shear)


def test_streams():
    x = torch.randn(2, 3, 50, 25, 2, dtype=torch.float64)
    assert (motion(x)[:, :, -1] == 0).all() and torch.equal(motion(x)[:, :, 0], x[:, :, 1] - x[:, :, 0])
    b = bone(x)
    assert (b[:, :, :, 20] == 0).all()  # SpineShoulder is its own parent
    assert torch.equal(b[:, :, :, 21], x[:, :, :, 21] - x[:, :, :, 22])  # HandTipLeft hangs off ThumbLeft


def test_key_encoder_moves_once_per_step_before_the_keys_and_keys_join_the_queue_after(one_torch_thread):
    torch.manual_seed(0)
    method = SkeletonCLR(GCNContrastiveConfig(queue_size=64))
    x, seeds = torch.from_numpy(cases.clips()), torch.arange(8)
    before = method.key_encoder.data_bn.weight.clone()
    queue = method.queue.queue.clone()
    method(x, seeds).loss.backward()
    moved = method.key_encoder.data_bn.weight.clone()
    expected = 0.999 * before + 0.001 * method.encoder.data_bn.weight.detach()
    torch.testing.assert_close(moved, expected)
    method(x, seeds)  # a second forward in the same step (a micro-batch): no second update
    assert torch.equal(method.key_encoder.data_bn.weight, moved)
    assert torch.equal(method.queue.queue, queue)  # keys wait for the end of the step
    method.after_step(0.1)
    assert int(method.queue.queue_ptr) == 16 and not torch.equal(method.queue.queue[:, :16], queue[:, :16])
    torch.testing.assert_close(method.queue.queue[:, :16].norm(dim=0), torch.ones(16))


def test_aimclr_mines_from_the_configured_share_of_training():
    method = AimCLR(AimCLRConfig(queue_size=64))
    assert not method.mining
    method.after_step(149 / 300)
    assert not method.mining
    method.after_step(150 / 300)  # the last step of epoch 150: epoch 151 mines
    assert method.mining
    method.set_progress(0.0)  # resumed from an earlier checkpoint
    assert not method.mining


def test_published_rows_of_the_gcn_family_come_from_the_official_readmes():
    rep = reported()

    def value(method, dataset, split):
        row = rep[(rep.method == method) & (rep.protocol == "linear") & (rep.dataset == dataset) & (rep.split == split)]
        return sorted(set(row["value"])), sorted(set(row["source"]))

    values, sources = value("AimCLR-3s-README-ckpt", "ntu60", "xsub")
    assert values == [79.18] and sources[0].startswith("github:Levigty/AimCLR README.md")
    assert value("AimCLR-motion-README-ckpt", "pku1", "xsub")[0] == [72.0]
    assert value("AimCLR", "ntu60", "xsub")[0] == [74.3]  # the paper's number stays apart from the checkpoint's
    values, sources = value("SkeletonCLR", "ntu60", "xview")
    assert values == [76.4] and any(s.startswith("github:LinguoLi/CrosSCLR README.md") for s in sources)
    assert value("CrosSCLR-3s", "ntu120", "xset")[0] == [66.7]
    assert np.isclose(value("GFP", "ntu60", "xview")[0][0], 92.0)


def test_synthetic_pku1_tree_goes_through_the_gcn_chain_and_stays_marked(tmp_path):
    from mamp_bench.data.provenance import file_provenance, mark_synthetic
    from mamp_bench.data.synthetic.pku_tree import write_pku_tree

    write_pku_tree(tmp_path / "raw", 1, performances=2, actions_per_video=4, seed=3, edge_cases=True)
    mark_synthetic(tmp_path / "raw", "test")
    manifest = prepare_gcn("pku1", tmp_path / "raw", tmp_path / "out", quiet=True)
    assert manifest.samples > 0 and manifest.provenance["synthetic"]
    prepared = np.load(tmp_path / "out" / "PKUv1_XSub_frame50.npz")
    assert prepared["x_train"].shape[1:] == (50, 150) and len(prepared["names_train"]) == len(prepared["x_train"])
    assert all(str(n).startswith("F") and len(str(n)) == 16 for n in prepared["names_train"])
    assert file_provenance(tmp_path / "out" / "PKUv1_XView_frame50.npz")["synthetic"] is True
    reasons = {s.reason for s in manifest.skipped}
    assert reasons, "the edge cases (rows beyond the video, start > end, ...) are skipped with their reasons"
