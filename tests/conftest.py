"""Shared fixtures: small synthetic raw trees (generated once a session) and the real samples."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mamp_bench.engine.threads import configure_openmp

configure_openmp()  # before torch, as the command line does: idle OpenMP threads sleep

REPO = Path(__file__).resolve().parents[1]
SHARED_ENV = "MAMP_BENCH_SHARED"
#: set (to 1) where the real samples must be present, as in CI: their tests then fail instead of skipping
REQUIRE_ENV = "MAMP_BENCH_REQUIRE_REAL_SAMPLES"
SHARED = Path(os.environ.get(SHARED_ENV, REPO.parent / "shared"))
REAL_SAMPLES = SHARED / "data" / "real-samples"
NTU_META = SHARED / "data" / "ntu-meta"
SHARED_FIXTURES = ("real_samples", "ntu_meta")
_NEEDS_REAL = pytest.StashKey[int]()


def _shared_folder(path: Path) -> Path:
    """A folder of real sample files: skipped when absent (failed when ``REQUIRE_ENV`` is set)."""
    if path.is_dir():
        return path
    reason = f"{path} not found: set {SHARED_ENV} to the folder holding data/real-samples and data/ntu-meta"
    if os.environ.get(REQUIRE_ENV):
        pytest.fail(f"{REQUIRE_ENV} is set but {reason}", pytrace=False)
    pytest.skip(reason)


def _needs_real_samples(session) -> list:
    return [item for item in session.items if set(SHARED_FIXTURES) & set(getattr(item, "fixturenames", ()))]


def pytest_report_header(config):
    found = "found" if REAL_SAMPLES.is_dir() and NTU_META.is_dir() else "NOT found (those tests skip)"
    return f"real samples: {SHARED}/data ({found}; {SHARED_ENV} names the folder)"


def pytest_collection_finish(session):
    session.config.stash[_NEEDS_REAL] = len(_needs_real_samples(session))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    count = config.stash.get(_NEEDS_REAL, 0)
    if not count:
        return
    if REAL_SAMPLES.is_dir() and NTU_META.is_dir():
        terminalreporter.write_line(f"{count} tests used the real samples in {SHARED}/data")
        return
    mode = "failed" if os.environ.get(REQUIRE_ENV) else "skipped"
    terminalreporter.write_line(
        f"{count} tests need the real samples and {mode}: {SHARED}/data/real-samples and ntu-meta not found; "
        f"set {SHARED_ENV}=DIR (the folder holding data/real-samples and data/ntu-meta) to run them",
        yellow=True,
    )


def shared_cache(tmp_path_factory) -> str:
    """The cache of generated data the tests share (kept out of the user's cache): one per session."""
    return os.environ.get("MAMP_BENCH_TEST_CACHE") or str(tmp_path_factory.getbasetemp() / "cache")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Keep generated data of tests out of the user's cache (shared by the whole session)."""
    monkeypatch.setenv("MAMP_BENCH_CACHE", shared_cache(tmp_path_factory))
    monkeypatch.delenv("MAMP_BENCH_DATA", raising=False)


@pytest.fixture(scope="session")
def real_samples() -> Path:
    return _shared_folder(REAL_SAMPLES)


@pytest.fixture(scope="session")
def ntu_meta() -> Path:
    return _shared_folder(NTU_META)


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


@pytest.fixture
def one_torch_thread():
    """One torch thread for tiny runs: it avoids idle spinning on a loaded machine (for tests that compare
    no numbers across thread counts)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
