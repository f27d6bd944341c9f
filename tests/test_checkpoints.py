"""Official MAMP checkpoints and suite checkpoints: safe loading, name mapping, conversion."""

from __future__ import annotations

import argparse
import os
import pickle

import pytest
import torch
import torch.nn.functional as F

import mamp_bench
from mamp_bench.checkpoints import load_checkpoint, official_to_suite, save_checkpoint
from mamp_bench.cli import main
from mamp_bench.errors import UserError


def _official_state(method) -> dict:
    """The reference's parameter names for a suite method's weights (the inverse mapping)."""
    state = {}
    for key, value in method.state_dict().items():
        if key.startswith("encoder."):
            state[key[len("encoder.") :]] = value.clone()
        elif key == "decoder.mask_token":
            state["mask_token"] = value.clone()
        else:
            state["decoder_" + key[len("decoder.") :]] = value.clone()
    return state


def _official_checkpoint(path, method, with_optimizer=True):
    state = _official_state(method)
    payload = {"model": state, "epoch": 399}
    if with_optimizer:
        opt = torch.optim.AdamW(method.parameters(), lr=1e-3, betas=(0.9, 0.95))
        method(torch.randn(1, 3, 120, 25, 2)).loss.backward()
        opt.step()
        payload["optimizer"] = opt.state_dict()
        payload["scaler"] = {
            "scale": 65536.0,
            "growth_factor": 2.0,
            "backoff_factor": 0.5,
            "growth_interval": 2000,
            "_growth_tracker": 0,
        }
        payload["args"] = argparse.Namespace(
            model="model_mamp.transformer.Transformer",
            model_args={"dim_feat": 256, "depth": 2, "num_heads": 8, "decoder_depth": 1, "t_patch_size": 4},
            mask_ratio=0.9,
            motion_aware_tau=0.8,
            batch_size=32,
            lr=1e-3,
            output_dir="./output_dir/ntu60_xsub/pretrain_mamp_t120_layer8+3_mask90_tau0.80_ep400_noamp",
        )
    torch.save(payload, path)
    return state


def _reference_encoder_forward(state: dict, x: torch.Tensor, heads: int = 8) -> torch.Tensor:
    """What the official layout prescribes, computed directly from its tensors (no suite modules):
    conv tokens + pos/temp embeddings, pre-norm blocks with explicit softmax attention, final LN."""
    N, C, T, V, M = x.shape
    seq = x.permute(0, 4, 2, 3, 1).reshape(N * M, T, V, C)
    tok = F.conv2d(
        seq.permute(0, 3, 1, 2), state["joints_embed.proj.weight"], state["joints_embed.proj.bias"], stride=(4, 1)
    )
    tok = tok.permute(0, 2, 3, 1) + state["pos_embed"] + state["temp_embed"]
    D = tok.shape[-1]
    h = tok.reshape(N * M, -1, D)
    depth = len({k.split(".")[1] for k in state if k.startswith("blocks.")})
    for i in range(depth):
        p = {k[len(f"blocks.{i}.") :]: v for k, v in state.items() if k.startswith(f"blocks.{i}.")}
        y = F.layer_norm(h, (D,), p["norm1.weight"], p["norm1.bias"])
        qkv = F.linear(y, p["attn.qkv.weight"], p["attn.qkv.bias"]).reshape(h.shape[0], -1, 3, heads, D // heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        att = ((q @ k.transpose(-2, -1)) * (D // heads) ** -0.5).softmax(-1) @ v
        h = h + F.linear(att.transpose(1, 2).reshape(h.shape), p["attn.proj.weight"], p["attn.proj.bias"])
        y = F.layer_norm(h, (D,), p["norm2.weight"], p["norm2.bias"])
        h = h + F.linear(
            F.gelu(F.linear(y, p["mlp.fc1.weight"], p["mlp.fc1.bias"])), p["mlp.fc2.weight"], p["mlp.fc2.bias"]
        )
    h = F.layer_norm(h, (D,), state["norm.weight"], state["norm.bias"])
    return h.reshape(N, M, -1, D).mean(dim=(1, 2))


@pytest.fixture
def small_method():
    torch.manual_seed(0)
    return mamp_bench.build_method("mamp", encoder__depth=2, decoder_depth=1)


def test_official_checkpoint_forward_matches_its_layout(tmp_path, small_method):
    path = tmp_path / "checkpoint-399.pth"
    state = _official_checkpoint(path, small_method)
    encoder = mamp_bench.load_encoder(path)
    assert encoder.config.depth == 2
    x = torch.randn(2, 3, 120, 25, 2)
    ours = mamp_bench.extract_features(encoder, x)
    assert ours.shape == (2, 256)
    torch.testing.assert_close(ours, _reference_encoder_forward(state, x), atol=1e-4, rtol=1e-4)
    method = mamp_bench.build_method("mamp", checkpoint=path)
    assert method.config.decoder_depth == 1 and method.config.tau == 0.8
    for key, value in official_to_suite(state).items():
        assert torch.equal(method.state_dict()[key], value)


def test_bare_state_dict_and_ddp_prefix(small_method):
    state = {"module." + k: v for k, v in _official_state(small_method).items()}
    encoder = mamp_bench.load_encoder(state)
    assert torch.equal(encoder.pos_embed, small_method.encoder.pos_embed)


def test_convert_checkpoint_command(tmp_path, small_method, capsys):
    state = official_to_suite(_official_checkpoint(tmp_path / "official.pth", small_method))
    assert main(["convert-checkpoint", str(tmp_path / "official.pth"), str(tmp_path / "suite.pth")]) == 0
    converted = load_checkpoint(tmp_path / "suite.pth")
    assert converted["format"] == "mamp-bench" and converted["kind"] == "pretrain" and converted["epoch"] == 399
    rebuilt = mamp_bench.build_method("mamp", checkpoint=tmp_path / "suite.pth")
    assert rebuilt.state_dict().keys() == state.keys()
    for key, value in state.items():
        assert torch.equal(rebuilt.state_dict()[key], value)


def test_code_running_checkpoint_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    path = tmp_path / "evil.pth"
    torch.save({"model": {}, "payload": Evil()}, path)
    with pytest.raises(UserError, match="could run code"):
        load_checkpoint(path)
    assert not (tmp_path / "pwned").exists()
    raw = tmp_path / "raw.pkl"
    raw.write_bytes(pickle.dumps({"x": Evil()}))
    with pytest.raises(UserError):
        load_checkpoint(raw)
    assert not (tmp_path / "pwned").exists()


def test_truncated_empty_and_foreign_files(tmp_path, small_method):
    good = tmp_path / "good.pth"
    save_checkpoint(good, {"model": small_method.state_dict()})
    cut = tmp_path / "cut.pth"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(UserError, match="truncated|not a"):
        load_checkpoint(cut)
    (tmp_path / "empty.pth").write_bytes(b"")
    with pytest.raises(UserError, match="empty"):
        load_checkpoint(tmp_path / "empty.pth")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pth")
    with pytest.raises(UserError, match="not a mamp-bench checkpoint, an official MAMP or AimCLR/SkeletonCLR"):
        mamp_bench.load_encoder(tmp_path / "other.pth")
    with pytest.raises(UserError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pth")


def test_wrong_architecture_names_the_keys(tmp_path, small_method):
    state = _official_state(small_method)
    del state["blocks.1.mlp.fc2.bias"]
    with pytest.raises(
        UserError, match=r"missing encoder\.blocks\.1\.mlp\.fc2\.bias|missing blocks\.1\.mlp\.fc2\.bias"
    ):
        mamp_bench.build_method("mamp", checkpoint={"model": state}, encoder__depth=2, decoder_depth=1)
    with pytest.raises(UserError, match="wrong shape"):
        mamp_bench.load_encoder(
            {"model": _official_state(small_method)}, config=mamp_bench.models.EncoderConfig(dim=128, depth=2)
        )


def test_save_is_atomic(tmp_path, small_method, monkeypatch):
    path = tmp_path / "ckpt.pth"
    save_checkpoint(path, {"model": small_method.state_dict(), "epoch": 1})

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError):
        save_checkpoint(path, {"model": {}, "epoch": 2})
    assert load_checkpoint(path)["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pth"]
