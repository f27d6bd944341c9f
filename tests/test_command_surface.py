"""The whole command surface under hostile settings (issue 17), property-based.

Every registered method and protocol and every one of their settings (read from the registries and
the configuration dataclasses, never listed here), set to hostile values (NaN, +-inf, 0, negative,
huge, the wrong type, the empty string): the command either runs or exits with status 2 and one line
on stderr; never a traceback, never a record holding NaN, never a run folder left holding nothing to
resume from. Most values are refused while the request is resolved, so that step is checked over
hundreds of examples (everything up to the first piece of work, outputs and data checks included);
a smaller sample of the values that pass runs for real, on tiny settings.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mamp_bench import pipeline
from mamp_bench.cli import main
from mamp_bench.config import flat_keys
from mamp_bench.engine.pretrain import PretrainConfig
from mamp_bench.fileio import non_finite_key
from mamp_bench.registry import METHODS, PROTOCOLS

# `nox -s stress` sets MAMP_BENCH_FUZZ_EXAMPLES=3000: 6000 resolved examples, 120 real runs
EXAMPLES = int(os.environ.get("MAMP_BENCH_FUZZ_EXAMPLES", "150"))
RESOLVED = settings(max_examples=2 * EXAMPLES, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
RUNS = settings(max_examples=max(6, EXAMPLES // 25), deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip

HUGE = ["1" + "0" * 30, "-" + "9" * 25, "1e30", "-1e30", "1e308", "65537", "1000001", "4294967296"]
HOSTILE = ["nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1e999", "-1e999", "0", "-0", "0.0", "-1", "-0.5",
           "-1e-30", *HUGE, "", " ", "abc", "1.5", "true", "none", "[1, 2]", "0x10", "1_0", "1e-320"]  # fmt: skip
#: values that may pass validation and still keep a real run to seconds (no huge counts or widths)
SMALL = ["0", "1", "2", "3", "-1", "0.5", "0.99", "1.0", "1e-30", "1e30", "true", "false", "", "x", "none"]


@dataclass(frozen=True)
class Setting:
    """One setting of the command surface: ``mamp-bench <command> --method M [--protocol P] --set key=...``
    (``key`` starting with ``--`` is a command-line option instead)."""

    command: str
    method: str
    protocol: str | None
    key: str


def method_keys(method: str) -> list[str]:
    return [f"method.{key}" for key in flat_keys(METHODS.get(method).Config)]


def surface() -> list[Setting]:
    """Every (command, method, protocol, setting) the command line accepts, from the registries."""
    pretrain_keys = flat_keys(PretrainConfig)
    found = []
    for method in METHODS.names():
        if METHODS.get(method).pretrainable:
            for key in [*pretrain_keys, *method_keys(method), "--seed"]:
                found.append(Setting("pretrain", method, None, key))
        for protocol in PROTOCOLS.names():
            protocol_keys = flat_keys(PROTOCOLS.get(protocol).Config)
            keys = [*protocol_keys, *(f"pretrain.{k}" for k in pretrain_keys), *method_keys(method)]
            for key in [*keys, "--seed", "--pretrain-seed"]:
                found.append(Setting("run", method, protocol, key))
    return found


SURFACE = surface()


def test_the_surface_covers_every_registered_setting():
    """The property below draws from all of it: every method, protocol and configuration field."""
    assert {s.method for s in SURFACE} == set(METHODS.names())
    assert {s.protocol for s in SURFACE} - {None} == set(PROTOCOLS.names())
    for name in PROTOCOLS.names():
        assert set(flat_keys(PROTOCOLS.get(name).Config)) <= {s.key for s in SURFACE if s.protocol == name}
    assert {f"pretrain.{k}" for k in flat_keys(PretrainConfig)} <= {s.key for s in SURFACE}
    print(f"\ncommand surface: {len(SURFACE)} (command, method, protocol, setting) combinations, "
          f"{len({s.key for s in SURFACE})} distinct settings, {len(HOSTILE)} hostile values each")  # fmt: skip


def setting_argv(setting: Setting, value: str) -> list[str]:
    if setting.key.startswith("--"):
        return [f"{setting.key}={value}"]
    return ["--set", f"{setting.key}={value}"]


def base_argv(setting: Setting, data_root: Path, folder: Path) -> list[str]:
    argv = [setting.command, "--method", setting.method, "--dataset", "ntu60-xsub", "--data-root", str(data_root),
            "--device", "cpu", "--quiet", "--runs-dir", str(folder / "runs")]  # fmt: skip
    if setting.command == "run":
        argv += ["--protocol", setting.protocol, "--results-dir", str(folder / "results")]
    else:
        argv += ["--output-dir", str(folder / "runs" / "pretraining")]
    return argv


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # runs here are tiny; no numbers are compared


class WorkStarts(Exception):
    """Raised where the first piece of work (a pretraining, or the encoder a protocol evaluates) would start."""


def one_line_error(err: str) -> None:
    assert err.count("\n") == 1 and err.startswith("mamp-bench: error: "), err
    assert "Traceback" not in err


def invoke(argv: list[str], capsys) -> tuple[int, str]:
    """(exit status, stderr) of the command line in this process; a traceback fails the test."""
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own checks (``--seed=abc``)
        code = exc.code
    return code, capsys.readouterr().err


def unresumable_folders(runs: Path) -> list[Path]:
    """Run folders that hold files but no checkpoint and no log line: nothing a resume could use."""
    folders = {p.parent for p in runs.rglob("*") if p.is_file()} if runs.exists() else set()
    return sorted(f for f in folders if not (f / "log.jsonl").exists() and not list(f.glob("*.pth")))


@pytest.fixture
def stop_before_work(monkeypatch):
    """Stop where the work would start: once a run's plan is made (every check passed), or a pretraining's."""
    planned = pipeline.plan_run

    def plan_then_stop(*args, **kwargs):
        planned(*args, **kwargs)
        raise WorkStarts

    def stop(*args, **kwargs):
        raise WorkStarts

    monkeypatch.setattr(pipeline, "plan_run", plan_then_stop)
    monkeypatch.setattr(pipeline, "run_pretraining", stop)


@RESOLVED
@given(setting=st.sampled_from(SURFACE), value=st.sampled_from(HOSTILE) | st.floats().map(repr))
def test_hostile_values_are_refused_with_one_line_before_any_work(
    setting, value, ntu60_prepared, tmp_path, capsys, stop_before_work
):
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    argv = [*base_argv(setting, ntu60_prepared[0], folder), *setting_argv(setting, value)]
    try:
        code, err = invoke(argv, capsys)
    except WorkStarts:  # every check passed: the value is valid, the work would start here
        code, err = 0, capsys.readouterr().err
    assert code in (0, 2), (argv, err)
    if code == 2:
        one_line_error(err)
    assert not (folder / "runs").exists() or not any(p.is_file() for p in (folder / "runs").rglob("*")), argv
    assert not (folder / "results").exists(), argv


TINY_METHOD = {"encoder.dim": "32", "encoder.depth": "1", "encoder.heads": "2", "decoder_dim": "32",
               "decoder_depth": "1", "queue_size": "64"}  # fmt: skip
TINY_PRETRAIN = {"epochs": "1", "warmup_epochs": "0", "batch_size": "8", "max_clips": "16", "window": "40",
                 "workers": "0"}  # fmt: skip
TINY_PROTOCOL = {"epochs": "1", "batch_size": "16", "eval_batch_size": "64", "hidden_dim": "32", "workers": "0"}


def tiny_sets(setting: Setting) -> list[str]:
    """``--set`` pairs that make a run of this setting take seconds (only keys its command accepts)."""
    keys = set(method_keys(setting.method))
    pairs = [(f"method.{k}", v) for k, v in TINY_METHOD.items() if f"method.{k}" in keys]
    prefix = "pretrain." if setting.command == "run" else ""
    pairs += [(f"{prefix}{k}", v) for k, v in TINY_PRETRAIN.items()]
    if setting.command == "run":
        protocol_keys = set(flat_keys(PROTOCOLS.get(setting.protocol).Config))
        pairs += [(k, v) for k, v in TINY_PROTOCOL.items() if k in protocol_keys]
    return [item for key, value in pairs for item in ("--set", f"{key}={value}")]


def records_of(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in (folder / "results").rglob("*.json")]


@RUNS
@given(setting=st.sampled_from(SURFACE), value=st.sampled_from(SMALL))
def test_values_that_pass_validation_run_or_stop_with_one_line(setting, value, ntu60_prepared, tmp_path, capsys):
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    argv = [*base_argv(setting, ntu60_prepared[0], folder), *tiny_sets(setting), *setting_argv(setting, value)]
    code, err = invoke(argv, capsys)
    assert code in (0, 2), (argv, err)
    if code == 2:
        one_line_error(err)
        assert unresumable_folders(folder / "runs") == [], argv
    for record in records_of(folder):
        assert non_finite_key(record) is None, (argv, non_finite_key(record))
    if code == 0 and setting.command == "run":
        assert len(records_of(folder)) == 1, argv
    assert list(folder.rglob(".*.tmp")) == []
