"""A researcher's first day: what a fresh clone, the README and the command line promise, tried from
the user's side (the test command's summary, the command line, the Python API)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mamp_bench.cli import build_parser, main

from .conftest import REPO, REQUIRE_ENV, SHARED_ENV


def _pytest(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], cwd=REPO,
                          capture_output=True, text=True, env={**os.environ, **env}, timeout=300)  # fmt: skip


def test_tests_needing_the_real_samples_say_so_and_fail_where_they_are_required(tmp_path):
    """Without the shared folder the summary names the tests and the variable; with REQUIRE_ENV they error."""
    selection = ["tests/test_pku.py", "-k", "real_phase2"]
    absent = {SHARED_ENV: str(tmp_path), REQUIRE_ENV: ""}
    skipped = _pytest(absent, *selection)
    assert skipped.returncode == 0, skipped.stdout
    assert "2 skipped" in skipped.stdout
    assert "2 tests need the real samples and skipped" in skipped.stdout and f"set {SHARED_ENV}=DIR" in skipped.stdout
    required = _pytest({**absent, REQUIRE_ENV: "1"}, *selection)
    assert required.returncode == 1 and "2 errors" in required.stdout  # failed in their fixture
    assert f"{REQUIRE_ENV} is set but {tmp_path}/data/real-samples not found" in required.stdout


def test_verbose_is_accepted_before_and_after_the_command(tmp_path, capsys):
    missing = ["prepare", "ntu60", "--raw", str(tmp_path / "nope"), "--out", str(tmp_path / "out")]
    for argv in (["--verbose", *missing], [*missing, "--verbose"], [*missing, "-v"]):
        assert main(argv) == 2
        assert "Traceback" in capsys.readouterr().err  # the traceback --verbose promises
    assert main(missing) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1


def test_extract_features_writes_the_labels_file_its_help_names(ntu60_prepared, tiny_checkpoint, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["extract-features", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())  # unwrapped
    features_name, labels_name = re.search(r"\((\S+\.npy) -> (\S+\.npy)\)", help_text).groups()
    data = ntu60_prepared[0] / "NTU60_XSub.npz"
    argv = ["extract-features", "--checkpoint", str(tiny_checkpoint), "--data", str(data), "--out",
            str(tmp_path / features_name), "--device", "cpu"]  # fmt: skip
    assert main(argv) == 0
    assert str(tmp_path / labels_name) in capsys.readouterr().out
    features, labels = np.load(tmp_path / features_name), np.load(tmp_path / labels_name)
    assert features.shape == (len(labels), 32) and labels.dtype == np.int64


def test_the_plan_tells_semi_jobs_apart_by_their_label_fraction(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    where = ["--runs-dir", str(tmp_path / "runs"), "--results-dir", str(tmp_path / "results")]
    assert main(["reproduce", "--dry-run", "--groups", "semi", "--methods", "mamp", *where]) == 0
    jobs = [line.split("│")[2].strip() for line in capsys.readouterr().out.splitlines() if line.count("│") > 3]
    assert {"semi mamp synthetic-ntu60 s0 (fraction=0.01)", "semi mamp synthetic-ntu60 s0 (fraction=0.1)"} <= set(jobs)


def test_the_paper_plan_names_the_missing_datasets_and_the_command_that_prepares_each(tmp_path, capsys):
    data = tmp_path / "data"
    (data / "pku_v2").mkdir(parents=True)
    (data / "pku_v2" / "PKUv2_XSub.npz").write_bytes(b"")  # only PKU-II is prepared
    where = ["--runs-dir", str(tmp_path / "runs"), "--results-dir", str(tmp_path / "results")]
    argv = ["reproduce", "--scale", "paper", "--data-root", str(data), "--dry-run", "--groups", "linear",
            "--methods", "mamp", *where]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    commands = {line.split(": ", 1)[0].strip(): line.split(": ", 1)[1] for line in out.splitlines()
                if ": mamp-bench prepare" in line}  # fmt: skip
    assert set(commands) == {"ntu60-xsub, ntu60-xview (NTU60_XSub.npz, NTU60_XView.npz)",
                             "ntu120-xset, ntu120-xsub (NTU120_XSet.npz, NTU120_XSub.npz)",
                             "pku1-xsub (PKUv1_XSub.npz)"}  # fmt: skip
    ntu60 = commands["ntu60-xsub, ntu60-xview (NTU60_XSub.npz, NTU60_XView.npz)"]
    assert f"--out {data / 'ntu'}" in ntu60 and "--missing-list" in ntu60
    for command in commands.values():  # each is a valid command line
        args = build_parser().parse_args(shlex.split(command)[1:])
        assert args.command == "prepare" and Path(args.out).parent == data


def _readme_python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), re.S)


def test_the_readme_api_example_runs_as_written(tmp_path, monkeypatch):
    (example,) = [block for block in _readme_python_blocks() if "load_encoder" in block]
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(example, "README.md", "exec"), namespace)  # noqa: S102 - the README's own example
    assert namespace["features"].shape == (2, 256)


def test_load_encoder_takes_state_dicts_and_names_the_shape_it_expects(tiny_checkpoint):
    import torch

    import mamp_bench
    from mamp_bench.checkpoints import load_checkpoint
    from mamp_bench.errors import UserError
    from mamp_bench.models.transformer import EncoderConfig

    from_file = mamp_bench.load_encoder(tiny_checkpoint)  # 32 wide, 2 heads, a 40-frame window
    clips = torch.randn(3, 3, 40, 25, 2)
    expected = mamp_bench.extract_features(from_file, clips)
    state = load_checkpoint(tiny_checkpoint)["model"]  # what method.state_dict() gives
    heads = EncoderConfig(dim=32, depth=2, heads=2, frames=40)
    for source in (state, from_file.state_dict(), {"model": state}):
        encoder = mamp_bench.load_encoder(source, heads)
        torch.testing.assert_close(mamp_bench.extract_features(encoder, clips), expected, rtol=0, atol=0)
    assert mamp_bench.load_encoder(state).config.frames == 40  # the window is read from the shapes
    for wrong in (torch.randn(2, 3, 120, 25, 2), torch.randn(2, 3, 40, 17, 2), torch.randn(2, 40, 25, 2)):
        with pytest.raises(UserError) as info:
            mamp_bench.extract_features(from_file, wrong)
        assert "(N, 3, 40, 25, M)" in str(info.value) and "\n" not in str(info.value)
