"""Skipping absent (all-zero) persons: exact in evaluation, documented change in pretraining."""

import torch

import mamp_bench
from mamp_bench.engine.features import encode_in_chunks
from mamp_bench.models.transformer import EncoderConfig, SkeletonEncoder


def clips_with_absent_persons() -> torch.Tensor:
    x = torch.randn(5, 3, 120, 25, 2, generator=torch.Generator().manual_seed(0))
    x[1:4, ..., 1] = 0  # three single-person clips
    x[4, :, 60:] = 0  # a person who leaves half-way is present, not skipped
    return x


def test_eval_features_are_unchanged_when_absent_persons_are_skipped():
    encoder = SkeletonEncoder(EncoderConfig(dim=64, depth=2, heads=4)).eval()
    x = clips_with_absent_persons()
    with torch.no_grad():
        full = encode_in_chunks(encoder, x, chunk=2)
        skipped = encode_in_chunks(encoder, x, chunk=2, skip_empty=True)
        only_absent = encode_in_chunks(encoder, torch.zeros(2, 3, 120, 25, 2), skip_empty=True)
    assert skipped.shape == full.shape == (5, 2, 30, 25, 64)
    torch.testing.assert_close(skipped, full, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(only_absent[0, 0], full[1, 1], atol=1e-5, rtol=1e-5)


def test_gradients_through_the_shared_absent_person_equal_the_full_computation():
    encoder = SkeletonEncoder(EncoderConfig(dim=64, depth=2, heads=4)).train()  # drop_path 0
    x = clips_with_absent_persons()
    grads = []
    for skip in (False, True):
        encoder.zero_grad()
        features = encode_in_chunks(encoder, x, skip_empty=skip)
        (features.mean(dim=(2, 3)) ** 2).sum().backward()
        grads.append(encoder.pos_embed.grad.clone())
    torch.testing.assert_close(grads[1], grads[0], atol=1e-5, rtol=1e-4)


def test_pretraining_with_skip_averages_over_present_persons_only():
    small = dict(encoder__dim=64, encoder__depth=2, encoder__heads=4, decoder_dim=64, decoder_depth=1)
    plain = mamp_bench.build_method("mamp", **small)
    skipping = mamp_bench.build_method("mamp", skip_empty_persons=True, **small)
    skipping.load_state_dict(plain.state_dict())
    seeds = torch.arange(5)
    both = torch.randn(5, 3, 120, 25, 2, generator=torch.Generator().manual_seed(1))
    assert plain(both, seeds).loss.item() == skipping(both, seeds).loss.item()
    x = clips_with_absent_persons()
    out_plain, out_skip = plain(x, seeds), skipping(x, seeds)
    masked = 750 - int(750 * (1 - 0.9))  # 676 masked tokens a person (the reference's int())
    assert out_plain.weight == 10 * masked  # the reference counts absent persons in the denominator
    assert out_skip.weight == 7 * masked
    assert out_skip.loss.item() != out_plain.loss.item()
