"""Issue 24, what a newcomer sees must be true: the small things, each from the user's side. One epoch numbering
(from 1, as the log prints it) in the run's output, the record and its per-epoch log; the run says where its
record and folders are, under a heading that never wraps; ``table`` writes Markdown into a pipe or a file and
documents ``--format``; paired differences under every format; published rows in one stated order; errors
that name the key the user sets (``pretrain.batch_size``)."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from mamp_bench.cli import main
from mamp_bench.results.frame import load_results
from mamp_bench.results.reported import reported
from mamp_bench.results.store import ResultsStore
from mamp_bench.results.tables import build_table
from tests.test_results import fixed_store

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny runs; no numbers are compared across runs


def _where(data_root, tmp_path) -> list[str]:
    return ["--dataset", "ntu60-xsub", "--data-root", str(data_root), "--runs-dir", str(tmp_path / "runs"),
            "--results-dir", str(tmp_path / "results"), "--device", "cpu"]  # fmt: skip


def test_the_run_counts_epochs_from_1_and_says_where_its_record_and_folders_are(
    ntu60_prepared, tiny_checkpoint, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("COLUMNS", "60")  # a narrow terminal: the heading is one line, the paths whole
    argv = ["run", "--protocol", "linear", "--checkpoint", str(tiny_checkpoint), *_where(ntu60_prepared[0], tmp_path),
            "--set", "epochs=3", "--set", "batch_size=16"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    store = ResultsStore(tmp_path / "results")
    (record,) = store.records()
    lines = out.splitlines()
    assert "linear | mamp | ntu60-xsub | seed 0 | smoke" in lines
    assert f"record: {store.path_for(record)}" in lines and f"run folder: {record['run_dir']}" in lines
    log = pd.read_csv(store.log_path(record))
    best = record["metrics"]["best_epoch"]
    assert list(log["epoch"]) == [1, 2, 3] and best == int(log["epoch"][log["top1"].idxmax()])
    assert any(line.startswith("│ best_epoch") and f"{best} of 3" in line for line in lines)


def test_table_writes_markdown_into_a_pipe_and_documents_its_formats(tmp_path, capsys):
    fixed_store(tmp_path)
    assert main(["table", "--protocol", "linear", "--results-dir", str(tmp_path)]) == 0  # stdout is not a terminal
    out = capsys.readouterr().out
    assert "| method " in out and "|---" in out and "┃" not in out and "│" not in out
    assert main(["table", "--protocol", "linear", "--results-dir", str(tmp_path), "--out", str(tmp_path / "t")]) == 0
    assert (tmp_path / "t").read_text() == out
    with pytest.raises(SystemExit):
        main(["table", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "markdown,latex,csv,rich" in help_text
    assert "Default: rich on a terminal, markdown when the output is a file (--out) or a pipe" in help_text


@pytest.mark.parametrize("fmt", ["markdown", "latex", "csv", "rich"])
def test_paired_differences_sit_under_the_table_in_every_format(fmt, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    fixed_store(tmp_path)  # mae is 6.0 points under mamp on each of the 3 seeds they share
    assert main(["table", "--protocol", "linear", "--format", fmt, "--results-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    if fmt == "csv":
        frame = pd.read_csv(io.StringIO(out))
        (paired,) = frame[frame["kind"] == "paired difference vs mamp"].itertuples()
        assert (paired.row, paired.column, paired.n) == ("mae (Transformer)", "NTU-60 xsub", 3)
        assert paired.mean == pytest.approx(-6.0, abs=0.01)
        return
    assert "Paired differences against" in out and "mamp" in out
    (line,) = [line for line in out.splitlines() if "-6.00" in line]
    assert "mae" in line and "NTU-60 xsub" in line and "3" in line


def test_published_rows_are_ordered_by_year_then_the_stated_column(tmp_path):
    table = build_table("linear", load_results(tmp_path))  # no records: the published rows only
    first = table.columns[0].label
    assert f"ordered by year, then by their {first} figure, lowest first" in table.caption()
    years = reported().groupby("method")["year"].first()
    keys = [(int(years[row.method]), row.cells[0].reported is None, row.cells[0].reported or 0.0)
            for row in table.rows]  # fmt: skip
    assert len(keys) > 10 and keys == sorted(keys)


@pytest.mark.parametrize(("command", "sets", "message"), [
    ("run", ["pretrain.batch_size=0"], "pretrain.batch_size must be in [1, "),
    ("run", ["batch_size=16", "pretrain.batch_size=5000"], "pretrain.batch_size 5000 is larger than the "),
    ("run", ["batch_size=2", "pretrain.batch_size=0"], "pretrain.batch_size must be"),
    ("run", ["pretrain.batch_sise=8"], "unknown setting 'pretrain.batch_sise'. Did you mean 'pretrain.batch_size'?"),
    ("run", ["batch_size=0"], "linear: batch_size must be in [1, "),  # the protocol's own key
    ("run", ["batch_size=5000"], "linear batch_size 5000 is larger than its "),
    ("run", ["method.encoder.depth=0"], "method.encoder.depth must be in [1, "),
    ("run", ["method.encoder.dimm=8"], "Did you mean 'method.encoder.dim'?"),
    ("pretrain", ["batch_size=0"], "pretrain.batch_size must be in [1, "),
    ("pretrain", ["beta2=1"], "pretrain.beta2 must be in [0, 1), got 1.0"),
])  # fmt: skip
def test_errors_name_the_key_the_user_sets(command, sets, message, ntu60_prepared, tmp_path, capsys):
    argv = [command, *(["--protocol", "linear"] if command == "run" else []), *_where(ntu60_prepared[0], tmp_path)]
    if command == "pretrain":
        argv = [arg for arg in argv if arg != "--results-dir" and not arg.endswith("results")]
    assert main([*argv, *(item for s in sets for item in ("--set", s))]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
