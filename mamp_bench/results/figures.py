"""Every figure of a results store and runs folder: the metric figures (``plots.py``) and the t-SNE map
of encoder features (``embedding.py``), written together by ``mamp-bench plot`` and ``reproduce``, with one
colour per method across all of them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mamp_bench.results.drawing import method_colours
from mamp_bench.results.embedding import plot_embeddings
from mamp_bench.results.frame import results_frame
from mamp_bench.results.plots import (
    plot_accuracy_by_epoch,
    plot_label_fraction,
    plot_pretraining_losses,
    pretraining_runs,  # fmt: skip
)
from mamp_bench.results.store import ResultsStore
from mamp_bench.results.verify import check_store


@dataclass
class Figures:
    written: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was not drawn, and why


def write_figures(runs_dir: Path, results_dir: str | Path | None, out: Path, data_root: str | None = None,
                  embedding: bool = True) -> Figures:  # fmt: skip
    """Every figure there is something to draw for, into ``out``."""
    store = ResultsStore(results_dir)
    records = [record for record, _ in check_store(results_dir).passed()]  # what verifies, each measurement once
    figures = Figures()
    colours = method_colours([r["method"] for r in records] + [r["method"] for r in pretraining_runs(runs_dir)])
    drawn = [plot_pretraining_losses(runs_dir, out, colours), plot_label_fraction(results_frame(records), out,
             colours=colours), plot_accuracy_by_epoch(store, out, records, colours)]  # fmt: skip
    if embedding:
        path, notes = plot_embeddings(runs_dir, out, data_root)
        drawn.append(path)
        figures.notes += notes
    figures.written = [path for path in drawn if path is not None]
    return figures
