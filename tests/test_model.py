"""The MAMP model: parameter counts, target, masking maths, loss, and SDPA = explicit attention."""

from __future__ import annotations

import math

import pytest
import torch

import mamp_bench
from mamp_bench.methods.losses import masked_mse
from mamp_bench.methods.masking import MotionAwareMasking, RandomMasking, keep_count
from mamp_bench.methods.targets import TokenTarget, motion, normalize_per_token, patchify
from mamp_bench.models.transformer import EncoderConfig, MaskedDecoder, SkeletonEncoder
from mamp_bench.seeding import seeded_uniform


def count(module):
    return sum(p.numel() for p in module.parameters())


def test_parameter_counts_match_the_paper_model():
    encoder = SkeletonEncoder()
    assert count(encoder) == 6_336_000
    assert count(encoder) + count(MaskedDecoder(encoder.config, 256, 3)) == 8_789_004
    assert count(encoder) + count(MaskedDecoder(encoder.config, 256, 5)) == 10_368_524
    assert count(mamp_bench.build_method("mamp")) == 8_789_004


def test_initialisation_follows_the_reference():
    encoder = SkeletonEncoder()
    block = encoder.blocks[0]
    assert torch.all(block.attn.qkv.bias == 0) and torch.all(block.norm1.weight == 1)
    bound = math.sqrt(6 / (256 + 768))  # xavier-uniform of the 256 -> 768 qkv projection
    assert block.attn.qkv.weight.abs().max() <= bound and block.attn.qkv.weight.abs().max() > 0.9 * bound
    assert 0.015 < encoder.pos_embed.std() < 0.025 and encoder.pos_embed.abs().max() <= 2.0
    conv = encoder.joints_embed.proj.weight  # PyTorch default (kaiming-uniform, a=sqrt(5)): bound 1/sqrt(12)
    assert conv.abs().max() <= 1 / math.sqrt(12)


def test_still_skeleton_gives_zero_motion_target():
    x = torch.randn(1, 1, 25, 3).expand(2, 120, 25, 3).contiguous()  # the same pose in every frame
    assert torch.all(motion(x) == 0)
    target = TokenTarget("motion", norm="patch")(x)
    assert target.shape == (2, 750, 12) and torch.all(target == 0)


def test_motion_target_and_patch_layout():
    x = torch.arange(2 * 8 * 3 * 3, dtype=torch.float32).reshape(2, 8, 3, 3)  # NM, T, V, C
    m = motion(x)
    assert torch.all(m[:, -1] == 0) and torch.all(m[:, :-1] == 9)  # frame t+1 - frame t, last zero
    patches = patchify(x, 4)  # (NM, 2*3, 12): token t*V + v holds frames 4t..4t+3 of joint v, xyz inner
    assert patches.shape == (2, 6, 12)
    assert torch.equal(patches[0, 4], torch.cat([x[0, 4 + u, 1] for u in range(4)]))
    norm = normalize_per_token(torch.tensor([[[1.0, 2.0, 3.0, 4.0]]]))
    assert torch.allclose(norm, (torch.tensor([1.0, 2, 3, 4]) - 2.5) / math.sqrt(5 / 3 + 1e-6))


def test_masking_keeps_the_reference_count():
    assert keep_count(750, 0.9) == 74  # int(750 * (1 - 0.9)) in floating point
    noise = seeded_uniform(torch.arange(3), 750)
    mask = RandomMasking(0.9)(torch.zeros(3, 750, 12), noise)
    assert mask.ids_keep.shape == (3, 74) and torch.all(mask.mask.sum(1) == 676)
    assert torch.all(mask.mask.gather(1, mask.ids_keep) == 0)


def test_motion_aware_masking_favours_moving_tokens_by_the_expected_ratio():
    """Two kinds of tokens: half move (motion m), half are still. With tau, the masking weight of a
    moving token is e^(1/tau) times that of a still one; measured over many draws, the share of
    moving tokens among the masked ones must follow the Gumbel-top-k (sampling without
    replacement) prediction for that ratio."""
    tau, draws = 0.8, 4000
    masking = MotionAwareMasking(0.9, tau, grid=(30, 25))
    x = torch.zeros(1, 120, 25, 3)
    x[:, :, :12, 0] = torch.arange(120, dtype=torch.float32)[:, None]  # joints 0-11 move, 12-24 stay still
    patches = patchify(x, 4).expand(draws, -1, -1)
    probs = masking.probabilities(patches[:1])[0].reshape(30, 25)
    assert torch.allclose(probs[:, 0] / probs[:, 20], torch.tensor(math.exp(1 / tau)), rtol=1e-5)
    mask = masking(patches, seeded_uniform(torch.arange(draws), 750)).mask.reshape(draws, 30, 25)
    kept_moving = (1 - mask[:, :, :12]).sum((1, 2)).mean().item()
    kept_still = (1 - mask[:, :, 12:]).sum((1, 2)).mean().item()
    # visible tokens are those the Gumbel-top-k leaves out: the still (low-weight) ones dominate
    assert kept_still > kept_moving
    # exact expectation by simulation with independent torch.rand noise (not the seeded generator)
    g = torch.Generator().manual_seed(0)
    weights = probs.reshape(1, 750).expand(draws, -1)
    u = torch.rand(draws, 750, generator=g)
    scores = torch.log(weights) - torch.log(-torch.log(u + 1e-10) + 1e-10)
    order = scores.argsort(dim=1)[:, :74]
    expected_moving = (order % 25 < 12).float().sum(1).mean().item()
    assert abs(kept_moving - expected_moving) < 0.5, (kept_moving, expected_moving)


def test_tau_zero_means_random_masking():
    method = mamp_bench.build_method("mamp", tau=0.0, encoder__depth=1, decoder_depth=1)
    assert isinstance(method.masking, RandomMasking)


def test_loss_averages_over_masked_tokens_only():
    pred = torch.zeros(1, 4, 2)
    target = torch.tensor([[[1.0, 1.0], [2.0, 2.0], [3.0, 3.0], [100.0, 100.0]]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    assert masked_mse(pred, target, mask).item() == pytest.approx((1 + 4 + 9) / 3)


def test_sdpa_and_explicit_attention_agree():
    torch.manual_seed(0)
    fast = mamp_bench.build_method("mamp", encoder__depth=2, decoder_depth=1)
    plain = mamp_bench.build_method("mamp", encoder__depth=2, decoder_depth=1, encoder__attention="explicit")
    plain.load_state_dict(fast.state_dict())
    x = torch.randn(3, 3, 120, 25, 2)
    seeds = torch.tensor([5, 6, 7])
    a, b = fast(x, seeds), plain(x, seeds)
    assert torch.equal(a.mask, b.mask)
    assert torch.allclose(a.loss, b.loss, rtol=1e-5) and torch.allclose(a.pred, b.pred, atol=1e-4)


def test_forward_contract_and_seeded_noise():
    method = mamp_bench.build_method("mamp", encoder__depth=1, decoder_depth=1)
    x = torch.randn(2, 3, 120, 25, 2)
    out = method(x, torch.tensor([1, 2]))
    assert out[0].ndim == 0 if isinstance(out, tuple) else out.loss.ndim == 0
    assert out.pred.shape == (4, 750, 12) and out.mask.shape == (4, 750)
    # a sample's mask does not depend on its batch
    alone = method(x[1:], torch.tensor([2]))
    assert torch.equal(alone.mask, out.mask[2:])


def test_seeded_uniform_is_uniform_and_reproducible():
    u = seeded_uniform(torch.arange(200), 1000)
    assert u.min() >= 0 and u.max() < 1 and abs(u.mean().item() - 0.5) < 0.01
    assert torch.equal(u, seeded_uniform(torch.arange(200), 1000))
    assert not torch.equal(u[0], u[1])


def test_bad_method_settings_fail_early():
    from mamp_bench.errors import UserError

    with pytest.raises(UserError, match="mask_ratio"):
        mamp_bench.build_method("mamp", mask_ratio=1.5)
    with pytest.raises(UserError, match="unknown setting"):
        mamp_bench.build_method("mamp", mask_ratoi=0.5)
    with pytest.raises(UserError, match="expected float"):
        mamp_bench.build_method("mamp", mask_ratio="high")


def test_encoder_config_grid():
    assert EncoderConfig().grid == (30, 25)
