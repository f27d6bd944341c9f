"""The batched training transform (``data/batched_transform.py``) equals the per-sample reference
transform (``data/transforms.py``): the same draws from each sample's seed, the same resize and
rotation arithmetic; a pretraining with it reaches the same weights."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch.utils.data import default_collate

from mamp_bench.checkpoints import load_checkpoint
from mamp_bench.cli import main
from mamp_bench.data.batched_transform import DeferredTrainSet, apply_train, crop_resize_batch
from mamp_bench.data.dataset import SkeletonDataset
from mamp_bench.data.transforms import resize_frames, train_transform

# PyTorch's CPU resize kernel fuses its multiply-adds where the CPU has FMA (AVX2, AVX-512); the
# batched transform reproduces that rounding, so there the two agree bit for bit. Elsewhere the
# reference rounds each product, and the two may differ in the last bits: 4 float32 ulps of the
# largest value (a resize is 2 products and a sum, the rotation 3 products and 2 sums).
FUSED = torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512")


def assert_matches(batched: torch.Tensor, reference: torch.Tensor) -> None:
    difference = (batched - reference).abs().max().item()
    bound = 0.0 if FUSED else 4 * torch.finfo(torch.float32).eps * reference.abs().max().item()
    assert batched.shape == reference.shape
    assert difference <= bound, f"max abs difference {difference:.3g} > {bound:.3g}"


def test_batched_resize_equals_the_reference_resize_for_every_crop_length():
    rng = np.random.default_rng(0)
    clip = rng.normal(size=(3, 300, 25, 2)).astype(np.float32)
    for window in (120, 40):
        lengths = np.arange(1, 301)
        starts = rng.integers(0, 301 - lengths)  # one random valid start per length
        reference = torch.stack(
            [torch.from_numpy(resize_frames(clip[:, s : s + n], window)) for s, n in zip(starts, lengths, strict=True)]
        )
        clips = torch.from_numpy(clip).expand(len(lengths), -1, -1, -1, -1)
        batched = crop_resize_batch(clips, torch.from_numpy(starts), torch.from_numpy(lengths), window)
        assert_matches(batched, reference)


@pytest.mark.parametrize(("window", "rotate"), [(120, True), (40, False)])
def test_batched_transform_equals_the_per_sample_transform_on_prepared_clips(ntu60_prepared, window, rotate):
    """Every clip of the edge-case tree (short clips, clips shorter than the minimum crop, two
    actors), with seeds from the sampler's range: draws and values are the reference's."""
    path = ntu60_prepared[0] / "NTU60_XSub.npz"
    reference = SkeletonDataset(path, "train", train_transform(window, rotate), seed=0)
    deferred = DeferredTrainSet(SkeletonDataset(path, "train", seed=0), window, rotate)
    items = [(i, 2**40 + 7919 * i) for i in range(len(reference))]
    expected = [reference[item] for item in items]
    inputs, labels, seeds = default_collate([deferred[item] for item in items])
    assert inputs["clip"].shape[2] == reference.data.shape[1]  # raw clips: every stored frame
    assert labels.tolist() == [label for _, label, _ in expected] and seeds.tolist() == [s for _, s in items]
    assert_matches(apply_train(inputs, window), torch.stack([x for x, _, _ in expected]))
    if not rotate:
        assert torch.equal(inputs["rotation"], torch.eye(3).expand(len(items), 3, 3))


def test_pretraining_with_the_batched_transform_reaches_the_same_weights(ntu60_prepared, tmp_path):
    base = ["pretrain", "--dataset", "ntu60-xsub", "--data-root", str(ntu60_prepared[0]), "--device", "cpu",
            "--quiet", "--set", "method.encoder.dim=32", "--set", "method.encoder.depth=1",
            "--set", "method.encoder.heads=2", "--set", "method.decoder_dim=32", "--set", "method.decoder_depth=1",
            "--set", "window=40", "--set", "epochs=2", "--set", "warmup_epochs=1", "--set", "batch_size=8",
            "--set", "max_clips=32"]  # fmt: skip
    assert main([*base, "--output-dir", str(tmp_path / "per-sample")]) == 0
    assert main([*base, "--output-dir", str(tmp_path / "batched"), "--set", "batched_transform=true"]) == 0
    a = load_checkpoint(tmp_path / "per-sample" / "checkpoint-1.pth")["model"]
    b = load_checkpoint(tmp_path / "batched" / "checkpoint-1.pth")["model"]
    for key in a:
        if FUSED:
            assert torch.equal(a[key], b[key]), key
        else:
            torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5, msg=key)
    losses = [[json.loads(line)["loss"] for line in (tmp_path / run / "log.jsonl").read_text().splitlines()]
              for run in ("per-sample", "batched")]  # fmt: skip
    assert losses[0] == pytest.approx(losses[1], rel=0 if FUSED else 1e-5)
    config = json.loads((tmp_path / "batched" / "config.json").read_text())
    assert "batched_transform" not in config["pretrain"]  # a runtime setting: the same pretraining
