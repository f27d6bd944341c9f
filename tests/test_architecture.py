"""The suite's architecture: the worked examples of docs/architecture.md run as written (a new method
and a new protocol from outside the package, through entry points only), the registries are the
only lists of names, and the lower layers never import the command line."""

from __future__ import annotations

import os
import re
import subprocess
import sys

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "architecture.md"
FILE_BLOCK = re.compile(r"<!-- file: (?P<path>\S+) -->\n```\w+\n(?P<body>.*?)```", re.S)


def doc_files(doc: Path) -> dict[str, str]:
    """The files a document's worked examples consist of (``<!-- file: X -->`` before a code block)."""
    return {m["path"]: m["body"] for m in FILE_BLOCK.finditer(doc.read_text())}


def install_plugin(doc: Path, root: Path) -> dict[str, str]:
    """Write the example package into ``root`` with a dist-info made from its pyproject's entry points
    (what ``pip install`` would do); the environment that finds it."""
    files = doc_files(doc)
    project = tomllib.loads(files.pop("pyproject.toml"))["project"]
    for path, body in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(body)
    (root / Path(next(iter(files))).parent / "__init__.py").touch()
    info = root / f"{project['name']}-{project['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    groups = project["entry-points"]
    (info / "entry_points.txt").write_text(
        "".join(f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()) for group, eps in groups.items())
    )
    return {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "COLUMNS": "250"}


def cli(env, *args):
    result = subprocess.run([sys.executable, "-m", "mamp_bench", *args], capture_output=True, text=True, env=env,
                            timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


TINY = ["--set", "pretrain.epochs=1", "--set", "pretrain.warmup_epochs=0", "--set", "pretrain.batch_size=8",
        "--set", "pretrain.max_clips=32", "--set", "method.encoder.dim=32", "--set", "method.encoder.depth=1",
        "--set", "method.encoder.heads=2", "--set", "method.decoder_dim=32"]  # fmt: skip


def test_a_new_method_and_protocol_slot_in_through_the_registries_alone(tmp_path):
    env = install_plugin(DOC, tmp_path / "plugin")
    where = ["--runs-dir", str(tmp_path / "runs"), "--results-dir", str(tmp_path / "results")]
    listed = cli(env, "list")
    assert "mamp-accel" in listed and "centroid" in listed and "toyplugin" in listed

    plan = cli(env, "reproduce", "--dry-run", "--groups", "centroid,linear", "--methods", "mamp-accel,random-init",
               *where)  # fmt: skip
    jobs = {line.split("│")[2].strip() for line in plan.splitlines() if line.count("│") > 3}
    assert {"centroid mamp-accel synthetic-ntu60 s0", "centroid random-init synthetic-ntu60 s0",
            "linear mamp-accel synthetic-ntu60 s2", "pretrain mamp-accel synthetic-ntu60 s0"} <= jobs  # fmt: skip

    cli(env, "run", "--method", "mamp-accel", "--protocol", "centroid", "--device", "cpu", "--quiet", *TINY, *where)
    table = cli(env, "table", "--protocol", "centroid", "--format", "markdown", "--results-dir", where[-1])
    (row,) = [line for line in table.splitlines() if line.startswith("| mamp-accel")]
    assert re.search(r"\| \d+\.\d \(1\) +\|", row)  # one measured cell (synthetic NTU-60 xsub), one seed


NAMES = {
    "method": ["mamp", "mae", "mamp-random", "mae-motion-aware", "latent", "skeletonclr", "random-init"],
    "protocol": ["linear", "knn", "finetune", "semi", "transfer", "scratch"],
}
CORE = ["mamp_bench/" + p for p in ("pipeline.py", "api.py", "engine", "evaluation", "results", "reproduce", "cli",
                                    "data", "models", "config.py", "scales.py", "checkpoints.py")]  # fmt: skip


@pytest.mark.parametrize("kind", sorted(NAMES))
def test_names_are_written_only_where_they_are_defined(kind):
    """A method's name appears in its own file only; a protocol's name nowhere in the core."""
    roots = CORE if kind == "protocol" else [*CORE, "mamp_bench/methods", "baselines", "protocols"]
    pattern = re.compile("|".join(rf"[\"']{re.escape(name)}[\"']" for name in NAMES[kind]))
    hits = []
    for root in roots:
        path = REPO / root
        for file in [path] if path.is_file() else path.rglob("*.py"):
            for number, line in enumerate(file.read_text().splitlines(), 1):
                if pattern.search(line) and "register(" not in line:
                    hits.append(f"{file.relative_to(REPO)}:{number}: {line.strip()}")
    assert hits == []


def test_the_lower_layers_never_import_the_command_line_or_the_pipeline():
    upward = re.compile(r"^\s*(from|import) mamp_bench(\.cli|\.pipeline|\.api| import (cli|pipeline|api))\b", re.M)
    lower = ["data", "models", "methods", "engine", "evaluation", "results"]
    offenders = [str(f.relative_to(REPO)) for layer in lower for f in (REPO / "mamp_bench" / layer).rglob("*.py")
                 if upward.search(f.read_text())]  # fmt: skip
    assert offenders == []
