"""docs/extending.md's worked example runs as written: a dataset plugin registered through the
``mamp_bench.datasets`` entry point, its file written from arrays, listed, and run on."""

from __future__ import annotations

import subprocess
import sys

from mamp_bench.results.store import ResultsStore

from .test_architecture import REPO, TINY, cli, install_plugin

DOC = REPO / "docs" / "extending.md"


def test_a_new_dataset_slots_in_through_its_entry_point(tmp_path):
    env = install_plugin(DOC, tmp_path / "plugin")
    doc = DOC.read_text()
    data, where = tmp_path / "data", ["--runs-dir", str(tmp_path / "runs"), "--results-dir", str(tmp_path / "results")]
    assert "python -m labdata.make_example DATA" in doc
    made = subprocess.run([sys.executable, "-m", "labdata.make_example", str(data)], env=env, capture_output=True,
                          text=True, timeout=600)  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "mamp-bench list datasets" in doc
    listed = [line for line in cli(env, "list", "datasets").splitlines() if "lab-actions" in line]
    assert listed and "labdata" in listed[0]
    assert "mamp-bench run --method mamp --protocol linear --dataset lab-actions --data-root DATA" in doc
    cli(env, "run", "--method", "mamp", "--protocol", "linear", "--dataset", "lab-actions", "--data-root", str(data),
        "--device", "cpu", "--quiet", "--set", "epochs=2", "--set", "batch_size=16", *TINY, *where)  # fmt: skip
    (record,) = ResultsStore(tmp_path / "results").records()
    assert record["dataset"] == "lab-actions" and record["family"] == "ntu60" and record["synthetic"] is True
    assert record["metrics"]["test_clips"] > 0 and len(record["metrics"]["per_class_final"]) == 10
