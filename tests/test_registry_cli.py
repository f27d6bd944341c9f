"""Registry, out-of-tree plugins through entry points, and the CLI's contract with the user."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from mamp_bench.cli import COMMANDS, main
from mamp_bench.errors import UserError
from mamp_bench.registry import DATASETS, Registry


def test_unknown_name_suggests_the_closest():
    with pytest.raises(UserError) as info:
        DATASETS.get("ntu60-xsb")
    message = str(info.value)
    assert "Did you mean 'ntu60-xsub'?" in message and "synthetic-ntu60" in message and "\n" not in message


def test_registering_twice_is_an_error():
    registry: Registry = Registry("thing", "mamp_bench.test-things")
    registry.add("a", 1)
    registry.add("a", 1)  # the same object again is fine
    with pytest.raises(ValueError, match="registered twice"):
        registry.add("a", 2)


def _write_plugin(root):
    package = root / "mbplugin"
    package.mkdir()
    (package / "__init__.py").write_text(
        textwrap.dedent(
            """
            from mamp_bench.data.specs import DatasetSpec
            from mamp_bench.registry import DATASETS

            TOY = DatasetSpec("toy-set", "ntu60", "xsub", 60, "TOY.npz", "toy", description="a plugin dataset")

            @DATASETS.register("toy-registered")
            class Other:
                '''Registered by decorator when the module is imported.'''
            """
        )
    )
    info = root / "mbplugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mbplugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[mamp_bench.datasets]\ntoy-set = mbplugin:TOY\nmore = mbplugin\n")
    (info / "RECORD").write_text("")


def _run_cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "mamp_bench", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_out_of_tree_plugin_is_discovered(tmp_path):
    _write_plugin(tmp_path)
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "COLUMNS": "200"}
    result = _run_cli("list", "datasets", env=env)
    assert result.returncode == 0, result.stderr
    assert "toy-set" in result.stdout and "a plugin dataset" in result.stdout
    assert "toy-registered" in result.stdout and "mbplugin" in result.stdout


def test_broken_plugin_warns_and_the_rest_works(tmp_path):
    _write_plugin(tmp_path)
    (tmp_path / "mbplugin-0.1.dist-info" / "entry_points.txt").write_text(
        "[mamp_bench.datasets]\nbad = nowhere_module\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "COLUMNS": "200"}
    result = _run_cli("list", "datasets", env=env)
    assert result.returncode == 0
    assert "failed to load" in result.stdout and "synthetic-ntu60" in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert "usage: mamp-bench" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["prepare", "ntu60", "--raw", "/no/such/dir", "--out", "/tmp/x"], "does not exist"),
        (["prepare", "pku1", "--raw", "/no/such/dir", "--out", "/tmp/x"], "does not exist"),
        (["prepare", "pku2", "--pyskl", "x.pkl", "--out", "/tmp/x"], "NTU only"),
        (["prepare", "ntu60", "--pyskl", "/no/file.pkl", "--out", "/tmp/x"], "does not exist"),
        (["prepare", "ntu60", "--raw", ".", "--out", "/tmp/x", "--workers", "0"], "at least 1"),
    ],
)
def test_user_errors_are_one_line_with_status_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_wrong_format_folder(tmp_path, capsys):
    (tmp_path / "S001C001P001R001A001.skeleton").write_text("garbage\n")
    assert main(["prepare", "ntu60", "--raw", str(tmp_path), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "no usable sample" in err and err.count("\n") == 1


def test_argparse_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["prepare", "ntu99", "--raw", ".", "--out", "x"])
    assert info.value.code == 2


def test_synth_then_prepare_through_the_cli(tmp_path, capsys):
    assert (
        main(["synth", "pku1", "--out", str(tmp_path / "raw"), "--performances", "2", "--actions-per-video", "3"]) == 0
    )
    assert main(["prepare", "pku1", "--raw", str(tmp_path / "raw"), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "PKUv1_XSub.npz" in out and (tmp_path / "out" / "PKUv1_manifest.json").is_file()
    assert main(["synth", "pku1", "--out", str(tmp_path / "raw")]) == 2  # not empty
