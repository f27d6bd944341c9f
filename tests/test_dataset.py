"""The Dataset and its transforms: shapes, the reference feeder's numbers, seeding, bad files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mamp_bench.data.dataset import SkeletonDataset
from mamp_bench.data.npzio import NpzStreamWriter, open_npz_array
from mamp_bench.data.transforms import CropResize, RandomRotation, rotation_matrix, train_transform, valid_frame_count
from mamp_bench.errors import DataFormatError


def _write(path, x, y, **extra):
    with NpzStreamWriter(path) as writer:
        writer.write_array("x_train", x)
        writer.write_array("y_train", y)
        writer.write_array("x_test", extra.get("x_test", x))
        writer.write_array("y_test", extra.get("y_test", y))


def _clips(n=4, valid=(120, 90, 64, 300), seed=0):
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 300, 150), np.float32)
    for i, v in enumerate(valid[:n]):
        x[i, :v] = rng.normal(0, 1, size=(v, 150))
    return x, np.eye(5)[np.arange(n) % 5]


def _linear_resize(clip: np.ndarray, window: int) -> np.ndarray:
    """Independent numpy version of the feeder's resize: align_corners=False linear interpolation
    along time, with the source position computed in float32 as PyTorch's CPU kernel does."""
    length = clip.shape[1]
    f32 = np.float32
    scale = f32(length) / f32(window)
    src = np.maximum(scale * (np.arange(window, dtype=f32) + f32(0.5)) - f32(0.5), f32(0))
    lo = np.minimum(np.floor(src).astype(int), length - 1)
    hi = np.minimum(lo + 1, length - 1)
    w = (src - lo.astype(f32))[None, :, None, None]
    return clip[:, lo].astype(f32) * (f32(1) - w) + clip[:, hi].astype(f32) * w


def _reference_test_clip(frames: np.ndarray, window: int = 120) -> np.ndarray:
    """The MAMP feeder's test path, restated: (T, 150) -> reshape (T, M, V, C) -> (C, T, V, M);
    valid frames = frames whose sum over C, M, V is non-zero; centre crop dropping
    int((1 - 0.95) * valid / 2) frames at each end; bilinear F.interpolate of the (C*V*M, T)
    image to (C*V*M, window), align_corners=False."""
    clip = frames.reshape(len(frames), 2, 25, 3).transpose(3, 0, 2, 1)
    valid = int(np.sum(clip.sum(0).sum(-1).sum(-1) != 0))
    bias = int((1 - 0.95) * valid / 2)
    crop = np.ascontiguousarray(clip[:, bias : valid - bias])
    c, t, v, m = crop.shape
    image = torch.tensor(crop).permute(0, 2, 3, 1).reshape(1, 1, c * v * m, t)
    image = torch.nn.functional.interpolate(image, size=(c * v * m, window), mode="bilinear", align_corners=False)
    return image.reshape(c, v, m, window).permute(0, 3, 1, 2).numpy()


def test_test_transform_matches_the_reference_feeder(tmp_path):
    x, y = _clips()
    _write(tmp_path / "d.npz", x, y)
    ds = SkeletonDataset(tmp_path / "d.npz", "test")
    for i, valid in enumerate((120, 90, 64, 300)):
        out, label, _ = ds[i]
        assert out.shape == (3, 120, 25, 2) and out.dtype == torch.float32
        assert label == i % 5
        np.testing.assert_allclose(out.numpy(), _reference_test_clip(x[i]), atol=1e-6, rtol=0)
        # and the maths behind it, computed independently (float32 source positions, as PyTorch)
        clip = x[i].reshape(300, 2, 25, 3).transpose(3, 0, 2, 1)
        bias = int((1 - 0.95) * valid / 2)
        np.testing.assert_allclose(out.numpy(), _linear_resize(clip[:, bias : valid - bias], 120), atol=2e-5)


def test_memory_mapped_member(tmp_path):
    x, y = _clips()
    _write(tmp_path / "d.npz", x, y)
    member = open_npz_array(tmp_path / "d.npz", "x_train")
    assert isinstance(member, np.memmap)
    np.testing.assert_array_equal(member, x)
    ds = SkeletonDataset(tmp_path / "d.npz", "train")
    assert isinstance(ds.data, np.memmap) and len(ds) == 4 and ds.num_classes == 5


def test_valid_frame_count_and_train_crop_bounds():
    rng = np.random.default_rng(0)
    clip = np.zeros((3, 300, 25, 2), np.float32)
    clip[:, :80] = 1.0
    assert valid_frame_count(clip) == 80
    crop = CropResize(120, (0.5, 1.0))
    for _ in range(50):
        out = crop(clip, rng)
        assert out.shape == (3, 120, 25, 2) and (out == 1).all()  # never reaches the padding
    short = np.zeros((3, 300, 25, 2), np.float32)
    short[:, :40] = np.arange(1, 41, dtype=np.float32)[None, :, None, None]
    out = crop(short, rng)  # fewer than 64 valid frames: the whole clip is used
    assert out[0, 0, 0, 0] == 1 and out[0, -1, 0, 0] == 40


def test_rotation_is_a_rotation_and_seeded():
    rng = np.random.default_rng(1)
    rot = rotation_matrix(rng.uniform(-0.3, 0.3, 3))
    np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-12)
    clip = np.random.default_rng(2).normal(size=(3, 120, 25, 2)).astype(np.float32)
    out = RandomRotation(0.3)(clip, np.random.default_rng(5))
    np.testing.assert_allclose(np.linalg.norm(out, axis=0), np.linalg.norm(clip, axis=0), rtol=1e-5)
    again = RandomRotation(0.3)(clip, np.random.default_rng(5))
    np.testing.assert_array_equal(out, again)


def test_augmentation_depends_on_seed_epoch_and_index_only(tmp_path):
    x, y = _clips()
    _write(tmp_path / "d.npz", x, y)
    a = SkeletonDataset(tmp_path / "d.npz", "train", train_transform(), seed=3)
    b = SkeletonDataset(tmp_path / "d.npz", "train", train_transform(), seed=3)
    assert torch.equal(a[1][0], b[1][0])
    b.set_epoch(1)
    assert not torch.equal(a[1][0], b[1][0])
    assert torch.equal(a[(1, 42)][0], b[(1, 42)][0]) and a[(1, 42)][2] == 42


@pytest.mark.parametrize(
    "problem, make, message",
    [
        ("wrong keys", lambda x, y: {"data": x}, "no array 'x_train'"),
        ("wrong shape", lambda x, y: {"x_train": x[:, :, :75], "y_train": y}, "expected (N, T, 150)"),
        ("wrong dtype", lambda x, y: {"x_train": x.astype(np.float64), "y_train": y}, "dtype float64"),
        ("label not one-hot", lambda x, y: {"x_train": x, "y_train": y + np.roll(y, 1, axis=1)}, "positive entries"),
        ("labels count", lambda x, y: {"x_train": x, "y_train": y[:2]}, "labels"),
        ("NaN label", lambda x, y: {"x_train": x, "y_train": y * np.nan}, "NaN"),
    ],
)
def test_bad_prepared_files_name_the_problem(tmp_path, problem, make, message):
    x, y = _clips()
    path = tmp_path / "bad.npz"
    np.savez(path, **make(x, y))
    with pytest.raises(DataFormatError, match=message.replace("(", r"\(").replace(")", r"\)")):
        SkeletonDataset(path, "train")


def test_nan_clip_is_reported_with_its_index(tmp_path):
    x, y = _clips()
    x[2, 5, 7] = np.nan
    _write(tmp_path / "d.npz", x, y)
    ds = SkeletonDataset(tmp_path / "d.npz", "train")
    ds[1]
    with pytest.raises(DataFormatError, match=r"x_train\[2\]"):
        ds[2]


def test_not_a_zip_and_missing_file(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(DataFormatError, match="not a readable"):
        SkeletonDataset(tmp_path / "junk.npz")
    with pytest.raises(DataFormatError, match="does not exist"):
        SkeletonDataset(tmp_path / "none.npz")


def test_interrupted_writer_leaves_nothing(tmp_path):
    x, y = _clips()
    with pytest.raises(RuntimeError), NpzStreamWriter(tmp_path / "d.npz") as writer:  # noqa: SIM117
        with writer.array("x_train", np.float32, x.shape) as stream:
            stream.write(x[:2])
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="declared rows"), NpzStreamWriter(tmp_path / "e.npz") as writer:  # noqa: SIM117
        with writer.array("x_train", np.float32, x.shape) as stream:
            stream.write(x[:2])
    assert list(tmp_path.iterdir()) == []
