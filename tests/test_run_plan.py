"""A run is planned once and then runs in a straight line (docs/architecture.md): a run that reuses a
finished pretraining hashes its checkpoint once, fingerprints each data file once and sets up its runtime
once; followed call by call, it enters few modules and rarely returns to a higher layer."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest

import mamp_bench
from mamp_bench.data import provenance
from mamp_bench.engine import distributed
from mamp_bench.fileio import sha256_file
from mamp_bench.pipeline import run
from mamp_bench.plan import Options, Request
from mamp_bench.registry import PROTOCOLS

from .conftest import shared_cache
from .test_architecture import REPO, documented_layers, layer_of

TINY = {"pretrain.epochs": "1", "pretrain.warmup_epochs": "0", "pretrain.batch_size": "8", "pretrain.max_clips": "32",
        "method.encoder.dim": "32", "method.encoder.depth": "1", "method.encoder.heads": "2",
        "method.decoder_dim": "32", "epochs": "1", "batch_size": "16"}  # fmt: skip
#: the utilities every layer may use (errors, config, files, ...): a call into one is not a walk through the suite
BASE = 0


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Options:
    """The options of a runs folder holding a finished tiny pretraining (and the linear run that made it)."""
    root = tmp_path_factory.mktemp("plan")
    options = Options(runs_dir=str(root / "runs"), results_dir=str(root / "results"), device="cpu", quiet=True)
    with pytest.MonkeyPatch.context() as patch:  # the cache the tests share (a module fixture comes first)
        patch.setenv("MAMP_BENCH_CACHE", shared_cache(tmp_path_factory))
        run(Request("mamp", "linear", overrides=TINY), options)
    return options


def reusing(finished: Options) -> Request:
    """Another seed of the linear probe on the same (finished) pretraining."""
    return Request("mamp", "linear", seed=1, pretrain_seed=0, overrides=TINY)


def profiled(call, on_call) -> None:
    """Run ``call()`` with ``on_call(frame)`` told of every Python function it enters."""

    def profile(frame, event, arg):
        if event == "call":
            on_call(frame)

    sys.setprofile(profile)
    try:
        call()
    finally:
        sys.setprofile(None)


def test_a_run_that_reuses_a_pretraining_hashes_fingerprints_and_sets_up_once(finished):
    hashed, fingerprinted, statuses, runtimes = Counter(), Counter(), Counter(), Counter()

    def on_call(frame):
        code = frame.f_code
        if code is sha256_file.__code__:
            hashed[Path(frame.f_locals["path"]).name] += 1
        elif code is provenance.fingerprint.__code__:
            fingerprinted[str(frame.f_locals["path"])] += 1
        elif code is provenance.data_status.__code__:
            statuses[str(frame.f_locals["path"])] += 1
        elif code is distributed.init_runtime.__code__:
            runtimes["init_runtime"] += 1

    provenance._fingerprint.cache_clear()  # as in a new process: nothing known of the data yet
    provenance._status.cache_clear()
    profiled(lambda: run(reusing(finished), finished), on_call)
    assert statuses and set(statuses.values()) == {1}  # each data file's status (real, synthetic) read once
    checkpoints = {name: n for name, n in hashed.items() if name.endswith(".pth")}
    assert checkpoints == {"checkpoint-0.pth": 1}  # the final checkpoint of the 1-epoch pretraining, once
    assert len(fingerprinted) == 1 and set(fingerprinted.values()) == {1}  # one data file, read once
    assert runtimes == {"init_runtime": 1}


def module_of(filename: str) -> str | None:
    """The package module a code object belongs to (``baselines/`` and ``protocols/`` install inside it)."""
    path = Path(filename).resolve()
    roots = {"mamp_bench": Path(mamp_bench.__file__).resolve().parent, "mamp_bench.baselines": REPO / "baselines",
             "mamp_bench.protocols": REPO / "protocols"}  # fmt: skip
    for prefix, root in roots.items():
        if path.is_relative_to(root):
            parts = list(path.relative_to(root).with_suffix("").parts)
            return ".".join([prefix, *parts[: -1 if parts[-1] == "__init__" else None]])
    return None


def walk(request: Request, options: Options) -> list[str]:
    """The modules a run enters, in order, outside the base layer and outside the protocol's own ``run`` (its
    room: the training it does), consecutive repeats merged."""
    layers, room = documented_layers(), PROTOCOLS.get("linear").run.__code__
    entered: list[str] = []
    depth = [0]

    def profile(frame, event, arg):
        if frame.f_code is room:
            depth[0] += 1 if event == "call" else -1 if event == "return" else 0
            return
        if event != "call" or depth[0] or frame.f_code.co_name == "<module>":
            return
        module = module_of(frame.f_code.co_filename)
        if module and layer_of(module, layers) != BASE and (not entered or entered[-1] != module):
            entered.append(module)

    sys.setprofile(profile)
    try:
        run(request, options)
    finally:
        sys.setprofile(None)
    return entered


def test_followed_call_by_call_a_run_walks_a_short_straight_line(finished):
    layers = documented_layers()
    entered = walk(reusing(finished), finished)
    climbs = [(a, b) for a, b in zip(entered, entered[1:], strict=False) if layer_of(b, layers) > layer_of(a, layers)]
    assert entered[0] == "mamp_bench.pipeline" and "mamp_bench.plan" in entered
    assert len(set(entered)) <= 18, sorted(set(entered))
    assert len(climbs) <= 10, climbs


def test_the_walk_counts_a_return_to_a_higher_layer(finished, monkeypatch):
    """The measurement is not blind: a plan that calls back into the pipeline's layer (a function compiled as
    part of pipeline.py, standing in for such a call) climbs more."""
    from mamp_bench import pipeline
    from mamp_bench import plan as plan_module

    layers = documented_layers()

    def climbs(entered: list[str]) -> int:
        return sum(layer_of(b, layers) > layer_of(a, layers) for a, b in zip(entered, entered[1:], strict=False))

    baseline = climbs(walk(reusing(finished), finished))
    namespace = {"original": plan_module.prepared}
    exec(compile("def prepared(*args, **kwargs):\n    return original(*args, **kwargs)\n", pipeline.__file__, "exec"),
         namespace)  # fmt: skip
    monkeypatch.setattr(plan_module, "prepared", namespace["prepared"])
    assert climbs(walk(reusing(finished), finished)) > baseline
