"""Baselines: targets, masking, momentum networks, parameter counts, learning on a fixed batch,
and a third-party method defined outside the repository."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch

import mamp_bench
from mamp_bench.engine.step import pretrain_step
from mamp_bench.methods.masking import MotionAwareMasking, RandomMasking
from mamp_bench.methods.targets import normalize_per_token, patchify
from mamp_bench.registry import METHODS

SMALL = {"encoder__dim": 32, "encoder__depth": 1, "encoder__heads": 2}
DECODER = {"decoder_dim": 32, "decoder_depth": 1}


def small(name, **extra):
    kwargs = dict(SMALL)
    if name != "moco-transformer":
        kwargs.update(DECODER)
    else:
        kwargs["queue_size"] = 16
    kwargs.update(extra)
    return mamp_bench.build_method(name, **kwargs)


def test_the_registry_holds_every_method():
    assert {"mamp", "mae", "mae-motion-aware", "mamp-random", "latent", "moco-transformer", "random-init",
            "skeletonclr", "aimclr"} <= set(METHODS.names())  # fmt: skip
    assert METHODS.get("random-init").pretrainable is False
    # SkeletonCLR and AimCLR as published, on ST-GCN; the MoCo control on MAMP's transformer says what it is
    assert {name: METHODS.get(name).encoder_name for name in ("skeletonclr", "aimclr", "moco-transformer")} == {
        "skeletonclr": "stgcn", "aimclr": "stgcn", "moco-transformer": "transformer"}  # fmt: skip
    assert "SkeletonCLR's objective" in METHODS.get("moco-transformer").description
    assert METHODS.get("moco-transformer").reported_as is None  # SkeletonCLR's published numbers are not its own


def test_two_by_two_ablation_is_target_times_masking():
    variants = {name: mamp_bench.build_method(name) for name in ("mamp", "mae", "mae-motion-aware", "mamp-random")}
    assert (variants["mae"].config.target, type(variants["mae"].masking)) == ("coords", RandomMasking)
    assert (variants["mae-motion-aware"].config.target, type(variants["mae-motion-aware"].masking)) == (
        "coords",
        MotionAwareMasking,
    )
    assert (variants["mamp-random"].config.target, type(variants["mamp-random"].masking)) == ("motion", RandomMasking)
    assert (variants["mamp"].config.target, type(variants["mamp"].masking)) == ("motion", MotionAwareMasking)
    for method in variants.values():  # the same network: only the pretext task differs
        assert sum(p.numel() for p in method.parameters()) == 8_789_004
    ntu120 = METHODS.get("mae").default_config("ntu120")
    assert ntu120.decoder_depth == 5 and ntu120.tau == 0.0 and ntu120.target == "coords"


def test_mae_target_is_the_normalised_coordinate_patch():
    method = small("mae")
    x = torch.randn(1, 120, 25, 3)
    expected = normalize_per_token(patchify(x, 4))
    assert torch.allclose(method.target(x), expected)
    over_time = small("mae", target_norm="time")
    t = over_time.target(x).reshape(1, 30, 25, 4, 3)  # back to (time segments, joints, frames, xyz)
    series = t.permute(0, 1, 3, 2, 4).reshape(1, 120, 25, 3)
    assert torch.allclose(series.mean(1), torch.zeros(1, 25, 3), atol=1e-5)
    assert torch.allclose(series.std(1), torch.ones(1, 25, 3), atol=1e-3)


@pytest.mark.parametrize("name", ["mamp", "mae", "mae-motion-aware", "mamp-random", "latent", "moco-transformer"])
def test_loss_decreases_on_a_fixed_batch(name):
    torch.manual_seed(0)
    method = small(name)
    optimizer = torch.optim.AdamW([p for p in method.parameters() if p.requires_grad], lr=3e-3)
    x = torch.randn(8, 3, 120, 25, 2)
    seeds = torch.arange(8)
    losses = []
    for step in range(25):
        losses.append(pretrain_step(method, method, optimizer, x, seeds, 0))
        method.after_step(step / 25)
    assert all(torch.isfinite(torch.tensor(losses)))
    assert min(losses[-5:]) < losses[0] if name != "moco-transformer" else min(losses[-5:]) < max(losses[5:10])


def test_latent_target_encoder_is_an_ema_and_the_centre_moves():
    method = small("latent")
    assert all(not p.requires_grad for p in method.target_encoder.parameters())
    before = method.target_encoder.pos_embed.clone()
    optimizer = torch.optim.AdamW([p for p in method.parameters() if p.requires_grad], lr=1e-2)
    pretrain_step(method, method, optimizer, torch.randn(4, 3, 120, 25, 2), torch.arange(4), 0)
    online = method.encoder.pos_embed.detach()
    momentum = method.current_momentum(0.0)
    method.after_step(0.0)
    torch.testing.assert_close(method.target_encoder.pos_embed, momentum * before + (1 - momentum) * online)
    assert method.center.abs().sum() > 0
    assert method.current_momentum(1.0) == pytest.approx(1.0)
    trainable = sum(p.numel() for p in method.parameters() if p.requires_grad)
    assert trainable == sum(p.numel() for p in method.encoder.parameters()) + sum(
        p.numel() for p in method.decoder.parameters()
    )


def test_moco_transformer_views_queue_and_parameters():
    from mamp_bench.baselines.contrastive import augment

    x = torch.randn(3, 3, 120, 25, 2)
    seeds = torch.tensor([1, 2, 3])
    a, b = augment(x, seeds, 0, 0.5, 6), augment(x, seeds, 0, 0.5, 6)
    assert torch.equal(a, b) and not torch.equal(a, augment(x, seeds, 1, 0.5, 6))
    still = torch.ones(1, 3, 120, 25, 2)
    assert torch.allclose(augment(still, torch.tensor([5]), 0, 0.0, 6), still)  # no shear, crop of a constant
    method = small("moco-transformer")
    optimizer = torch.optim.SGD([p for p in method.parameters() if p.requires_grad], lr=0.01)
    pretrain_step(method, method, optimizer, x, seeds, 0)
    method.after_step(0.1)
    assert int(method.queue_ptr) == 3
    assert torch.allclose(method.queue.norm(dim=0), torch.ones(16))
    paper = mamp_bench.build_method("moco-transformer")
    trainable = sum(p.numel() for p in paper.parameters() if p.requires_grad)
    assert trainable == 6_336_000 + (256 * 256 + 256) + (256 * 128 + 128)  # encoder + projection MLP


def test_random_init_has_nothing_to_pretrain():
    method = mamp_bench.build_method("random-init")
    assert sum(p.numel() for p in method.encoder.parameters()) == 6_336_000
    with pytest.raises(NotImplementedError):
        method(torch.zeros(1, 3, 120, 25, 2))


PLUGIN = '''
from dataclasses import replace

from mamp_bench.methods.mamp import MaskedPrediction
from mamp_bench.registry import METHODS


@METHODS.register("toy-masked")
class ToyMasked(MaskedPrediction):
    """A third-party method: coordinates with a 50 % random mask."""

    description = "toy third-party method"
    presets = {f: {**p, "target": "coords", "tau": 0.0, "mask_ratio": 0.5} for f, p in MaskedPrediction.presets.items()}
'''


def test_third_party_method_is_listed_and_runs(ntu60_prepared, tmp_path):
    package = tmp_path / "toyplugin"
    package.mkdir()
    (package / "__init__.py").write_text(textwrap.dedent(PLUGIN))
    info = tmp_path / "toyplugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toyplugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[mamp_bench.methods]\ntoy = toyplugin\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "COLUMNS": "200"}
    listed = subprocess.run(
        [sys.executable, "-m", "mamp_bench", "list", "methods"], capture_output=True, text=True, env=env
    )
    assert listed.returncode == 0 and "toy-masked" in listed.stdout and "toyplugin" in listed.stdout
    sets = ["pretrain.epochs=1", "pretrain.warmup_epochs=0", "pretrain.batch_size=8", "pretrain.max_clips=16",
            "pretrain.workers=0", "pretrain.window=40", "method.encoder.dim=32", "method.encoder.depth=1",
            "method.encoder.heads=2", "method.decoder_dim=32", "method.decoder_depth=1"]  # fmt: skip
    argv = [sys.executable, "-m", "mamp_bench", "run", "--method", "toy-masked", "--protocol", "knn", "--dataset",
            "ntu60-xsub", "--data-root", str(ntu60_prepared[0]), "--runs-dir", str(tmp_path / "runs"),
            "--results-dir", str(tmp_path / "results"), "--device", "cpu", "--quiet"]  # fmt: skip
    for s in sets:
        argv += ["--set", s]
    result = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    records = list((tmp_path / "results" / "records" / "knn" / "ntu60-xsub" / "toy-masked").glob("*.json"))
    assert len(records) == 1


@pytest.mark.parametrize("name", ["skeletonclr", "aimclr"])
def test_a_gcn_methods_checkpoint_loads_as_its_encoder_with_its_batchnorm_counters(name, tmp_path):
    """A pretraining's checkpoint of a GCN method (laid out as ``PretrainTask.checkpoint_state`` writes it) is
    read back by ``load_encoder`` as ST-GCN: its BatchNorm layers' ``num_batches_tracked`` are integer tensors,
    which the tensor check accepts where the encoder itself holds integers (the smoke reproduction's GCN protocol
    jobs were refused with 'not floating point ... num_batches_tracked' before)."""
    from mamp_bench.checkpoints import save_checkpoint
    from mamp_bench.config import to_dict

    torch.manual_seed(0)
    method = mamp_bench.build_method(name)
    method.encoder.data_bn.num_batches_tracked += 7  # trained: a counter that is not the default
    path = tmp_path / "checkpoint-0.pth"
    save_checkpoint(path, {"kind": "pretrain", "method": name, "method_config": to_dict(method.config),
                           "encoder": {"name": "stgcn", "config": to_dict(method.config.encoder)},
                           "model": method.state_dict(), "epoch": 0})  # fmt: skip
    encoder = mamp_bench.load_encoder(path)
    assert type(encoder).__name__ == "STGCN" and int(encoder.data_bn.num_batches_tracked) == 7
    clips = torch.randn(2, 3, 50, 25, 2)
    with torch.no_grad():
        assert encoder.pooled(clips).shape == (2, encoder.dim)
