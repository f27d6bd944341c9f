"""docs/extending.md's worked examples run as written: a third-party encoder and the method that trains it,
through linear evaluation, k-NN and fine-tuning; a dataset plugin registered through the
``mamp_bench.datasets`` entry point, its file written from arrays, listed, and run on."""

from __future__ import annotations

import json
import subprocess
import sys

from mamp_bench.results.store import ResultsStore

from .test_architecture import REPO, TINY, cli, install_plugin

DOC = REPO / "docs" / "extending.md"

#: the example encoder's pretraining and protocols at their tiniest (one epoch of 32 clips; one protocol epoch)
TINY_CONV = {"pretrain.epochs": "1", "pretrain.warmup_epochs": "0", "pretrain.batch_size": "8",
             "pretrain.max_clips": "32", "method.encoder.width": "16"}  # fmt: skip
PROTOCOL_SETTINGS = {"linear": {"epochs": "2", "batch_size": "16"}, "knn": {},
                     "finetune": {"epochs": "1", "batch_size": "16"}}  # fmt: skip


def test_a_third_party_encoder_runs_through_linear_knn_and_finetune(tmp_path):
    env = install_plugin(DOC, tmp_path / "plugin", "tinyconv")
    doc = DOC.read_text()
    listed = [line for line in cli(env, "list", "methods").splitlines() if "tinyconv-ae" in line]
    assert listed and "tinyconv" in listed[0].split("tinyconv-ae", 1)[1]  # its encoder, beside its name
    where = {"runs_dir": str(tmp_path / "runs"), "results_dir": str(tmp_path / "results"), "device": "cpu",
             "quiet": True}  # fmt: skip
    for protocol in PROTOCOL_SETTINGS:
        assert f"mamp-bench run --method tinyconv-ae --protocol {protocol}" in doc
    # the three runs in one process (one interpreter start): the documented commands, through the Python API
    script = ("import json, sys\nfrom mamp_bench.api import run\nfor protocol, settings in json.loads(sys.argv[1]):"
              "\n    run('tinyconv-ae', protocol, overrides=settings, **json.loads(sys.argv[2]))\n")  # fmt: skip
    jobs = [(protocol, {**TINY_CONV, **settings}) for protocol, settings in PROTOCOL_SETTINGS.items()]
    done = subprocess.run([sys.executable, "-c", script, json.dumps(jobs), json.dumps(where)], env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr
    records = {r["protocol"]: r for r in ResultsStore(tmp_path / "results").records()}
    assert set(records) == set(PROTOCOL_SETTINGS)
    for record in records.values():
        assert record["encoder"]["name"] == "tinyconv" and record["encoder"]["config"]["width"] == 16
        assert record["recipe"] == "gcn" and record["metrics"]["test_clips"] > 0
    assert records["knn"]["metrics"]["features_dim"] == 16  # the encoder's pooled features, nothing else
    assert records["finetune"]["protocol_config"]["head"] == "plain"  # the recipe it declares
    (pretraining,) = {r["encoder"]["pretrain_hash"] for r in records.values()}  # one pretraining, reused
    table = cli(env, "table", "--protocol", "linear", "--format", "markdown", "--results-dir", where["results_dir"])
    assert "| tinyconv-ae (TinyConv)" in table


def test_a_new_dataset_slots_in_through_its_entry_point(tmp_path):
    env = install_plugin(DOC, tmp_path / "plugin", "labdata")
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
