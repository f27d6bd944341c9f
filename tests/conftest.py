"""Shared fixtures: small synthetic raw trees (generated once a session) and the real samples."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mamp_bench.engine import threads as _threads  # noqa: F401  before torch: idle OpenMP threads sleep

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MAMP_BENCH_SHARED", REPO.parent / "shared"))
REAL_SAMPLES = SHARED / "data" / "real-samples"
NTU_META = SHARED / "data" / "ntu-meta"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Keep generated data of tests out of the user's cache (shared by the whole session)."""
    cache = os.environ.get("MAMP_BENCH_TEST_CACHE") or str(tmp_path_factory.getbasetemp() / "cache")
    monkeypatch.setenv("MAMP_BENCH_CACHE", cache)
    monkeypatch.delenv("MAMP_BENCH_DATA", raising=False)


@pytest.fixture(scope="session")
def real_samples() -> Path:
    if not REAL_SAMPLES.is_dir():
        pytest.skip(f"real samples not available at {REAL_SAMPLES}")
    return REAL_SAMPLES


@pytest.fixture(scope="session")
def ntu60_tree(tmp_path_factory):
    """A small NTU-60 raw tree with every edge case, and what was written into it."""
    from mamp_bench.data.synthetic.ntu_tree import write_ntu_tree

    root = tmp_path_factory.mktemp("ntu60_raw")
    truths = write_ntu_tree(root, "ntu60", clips_per_class=2, seed=1, edge_cases=True, workers=2)
    return root, truths


@pytest.fixture(scope="session")
def ntu60_prepared(ntu60_tree, tmp_path_factory):
    from mamp_bench.data.ntu.prepare import prepare_ntu

    root, truths = ntu60_tree
    out = tmp_path_factory.mktemp("ntu60_out")
    manifest = prepare_ntu("ntu60", root, out, workers=2, quiet=True)
    return out, manifest, truths


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """A suite checkpoint of a tiny untrained MAMP (dim 32, depth 2, 40-frame window)."""
    import torch

    import mamp_bench
    from mamp_bench.checkpoints import save_checkpoint
    from mamp_bench.config import to_dict

    torch.manual_seed(0)
    method = mamp_bench.build_method(
        "mamp", encoder__dim=32, encoder__depth=2, encoder__heads=2, encoder__frames=40, decoder_dim=32, decoder_depth=1
    )
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pth"
    save_checkpoint(path, {"kind": "pretrain", "method": "mamp", "method_config": to_dict(method.config),
                           "model": method.state_dict()})  # fmt: skip
    return path
