"""The suite's architecture: the worked examples of docs/architecture.md run as written (a new method
and a new protocol from outside the package, through entry points and ``mamp_bench.extend`` only), the
registries are the only lists of names, and the package's imports follow the layer order that
docs/architecture.md writes down, with no cycle."""

from __future__ import annotations

import ast
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


def doc_packages(doc: Path) -> list[dict[str, str]]:
    """The example packages of a document's worked examples: its files (``<!-- file: X -->`` before a code
    block) in order, each package closed by its ``pyproject.toml``."""
    packages: list[dict[str, str]] = [{}]
    for match in FILE_BLOCK.finditer(doc.read_text()):
        packages[-1][match["path"]] = match["body"]
        if match["path"] == "pyproject.toml":
            packages.append({})
    return [package for package in packages if package]


def doc_files(doc: Path) -> dict[str, str]:
    """Every Python file of a document's worked examples."""
    return {path: body for package in doc_packages(doc) for path, body in package.items() if path.endswith(".py")}


def install_plugin(doc: Path, root: Path, name: str | None = None) -> dict[str, str]:
    """Write an example package (the one whose project is ``name``; the first by default) into ``root`` with a
    dist-info made from its pyproject's entry points (what ``pip install`` would do); the environment that finds
    it."""
    packages = doc_packages(doc)
    files = next(p for p in packages if name is None or tomllib.loads(p["pyproject.toml"])["project"]["name"] == name)
    files = dict(files)
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


# slow: the worked examples of docs/architecture.md installed and run end to end (about a minute on 2 cores);
# test_extending.py and test_baselines.py keep the plugin path in the default suite
@pytest.mark.slow
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
    "method": [
        "mamp",
        "mae",
        "mamp-random",
        "mae-motion-aware",
        "latent",
        "skeletonclr",
        "aimclr",
        "moco-transformer",
        "random-init",
    ],
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


PACKAGE_ROOTS = {"mamp_bench": REPO / "mamp_bench", "mamp_bench.baselines": REPO / "baselines",
                 "mamp_bench.protocols": REPO / "protocols"}  # fmt: skip


def package_modules() -> dict[str, Path]:
    """Every module of the installed package by its dotted name (``baselines/`` and ``protocols/`` install
    inside it)."""
    modules = {}
    for prefix, root in PACKAGE_ROOTS.items():
        for file in root.rglob("*.py"):
            parts = list(file.relative_to(root).with_suffix("").parts)
            modules[".".join([prefix, *parts[: -1 if parts[-1] == "__init__" else None]])] = file
    return modules


def imported_modules(name: str, file: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules ``name`` imports: ``import`` statements anywhere in it (inside functions too),
    ``from X import Y`` (Y itself when it is a module) and ``importlib.import_module("...")`` calls; not the
    imports under ``if TYPE_CHECKING:``, which run only in a type checker."""
    package = name if file.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    tree = ast.parse(file.read_text())
    typing_only = {id(inner) for node in ast.walk(tree) if isinstance(node, ast.If)
                   and getattr(node.test, "id", getattr(node.test, "attr", None)) == "TYPE_CHECKING"
                   for inner in ast.walk(node)}  # fmt: skip
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        targets = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) in (
            "import_module",
            "__import__",
        ):
            targets = [
                arg.value for arg in node.args[:1] if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
            ]
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def documented_layers() -> list[list[str]]:
    """docs/architecture.md's layer table: each layer's module prefixes, lowest first."""
    text = DOC.read_text().split("<!-- layers:", 1)[1]
    rows = re.findall(r"^\| (\w+) \| (.+) \|$", text, re.M)
    return [[f"mamp_bench.{m}" if m != "mamp_bench" else m for m in re.findall(r"`([\w.]+)`", modules)]
            for layer, modules in rows if layer != "layer"]  # fmt: skip


def layer_of(module: str, layers: list[list[str]]) -> int:
    """The layer of the longest documented prefix of ``module``."""
    matches = [(len(prefix), i) for i, prefixes in enumerate(layers) for prefix in prefixes
               if module == prefix or module.startswith(prefix + ".")]  # fmt: skip
    assert matches, f"{module} is in no layer of docs/architecture.md"
    return max(matches)[1]


def test_imports_run_down_the_documented_layers_and_never_in_a_cycle():
    modules, layers = package_modules(), documented_layers()
    assert len(layers) >= 10 and layers[0][0] == "mamp_bench.errors"
    graph = {name: imported_modules(name, file, modules) for name, file in modules.items()}
    upward = [f"{a} ({layer_of(a, layers)}) imports {b} ({layer_of(b, layers)})" for a, targets in graph.items()
              for b in targets if layer_of(b, layers) > layer_of(a, layers)]  # fmt: skip
    assert upward == []
    cycles = [component for component in strongly_connected(graph) if len(component) > 1]
    assert cycles == []


def test_the_import_walk_sees_run_time_and_importlib_imports(tmp_path):
    """The walk finds what would hide an upward import: one inside a function, one through importlib."""
    file = tmp_path / "mod.py"
    file.write_text("def f():\n    from mamp_bench import pipeline\n    import importlib\n"
                    "    importlib.import_module('mamp_bench.cli')\n")  # fmt: skip
    modules = package_modules()
    assert imported_modules("mamp_bench.data.mod", file, modules) == {"mamp_bench.pipeline", "mamp_bench.cli"}


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of a directed graph."""
    index, low, stack, on_stack, components = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            components.append(component)

    for node in graph:
        if node not in index:
            visit(node)
    return components


@pytest.mark.parametrize("doc", ["architecture.md", "extending.md"])
def test_the_documented_plugins_import_only_the_public_extension_module(doc):
    imported = set()
    for path, body in doc_files(REPO / "docs" / doc).items():
        if path.endswith(".py"):
            for node in ast.walk(ast.parse(body)):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mamp_bench"):
                    imported.add(node.module)
                elif isinstance(node, ast.Import):
                    imported |= {a.name for a in node.names if a.name.startswith("mamp_bench")}
    assert imported == {"mamp_bench.extend"}


def test_the_extension_module_exports_what_it_lists_and_the_package_is_typed():
    import mamp_bench.extend as extend

    assert all(hasattr(extend, name) for name in extend.__all__)
    assert (REPO / "mamp_bench" / "py.typed").is_file()
