"""The README's examples are written by ``scripts/readme_examples.py`` from real runs and the committed results,
never typed (issue 24: the zoo listing the README showed was not what a newcomer gets). Each marked block is
checked against what the script writes from the committed results, without running the quick start: the
excerpt of the linear table, the tables themselves, the zoo's listing after a quick start and its export, and
the figures drawn from that quick start's checkpoint."""

from __future__ import annotations

import hashlib
import importlib.util
import re
import shutil

from .conftest import REPO

README = REPO / "README.md"


def _script():
    spec = importlib.util.spec_from_file_location("readme_examples", REPO / "scripts" / "readme_examples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_excerpt_of_the_linear_table_is_the_committed_table():
    script = _script()
    committed = (REPO / "results" / "linear.md").read_text()
    assert script.block(README.read_text(), "linear") == script.linear_excerpt(committed)


def test_the_committed_tables_are_what_the_committed_records_render(tmp_path):
    script = _script()
    shutil.copytree(REPO / "results" / "records", tmp_path / "results" / "records")
    written = script.write_tables(tmp_path / "results")
    assert len(written) >= 7
    for path in written:
        assert path.read_text() == (REPO / "results" / path.name).read_text(), path.name


def test_the_zoo_listing_and_the_figures_come_from_one_quick_start_as_the_committed_records_give_it():
    script = _script()
    text = README.read_text()
    figures = script.block(text, "quickstart-figures")
    sha = re.search(r"from the quick start's checkpoint ([0-9a-f]{64});", figures).group(1)
    committed = script.quick_start_record(REPO / "results")
    expected = script.zoo_block(committed["encoder"]["pretrain_run"],
                                script.expected_zoo(REPO / "results", sha, committed))  # fmt: skip
    assert script.block(text, "zoo") == expected
    shown = re.findall(r"\(docs/figures/([\w.]+)\)", figures)
    assert shown == [name for _, name in script.QUICKSTART_FIGURES]
    for name in shown:  # the files are the ones the script drew, not replaced since
        digest = hashlib.sha256((REPO / "docs" / "figures" / name).read_bytes()).hexdigest()
        assert f"{name} {digest[:12]}" in figures
