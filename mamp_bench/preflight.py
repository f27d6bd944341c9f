"""Checks a run passes before any work: every output location can be written, and the evaluated data
can be used. Each failure is one line (a ``UserError``), so nothing is found out after an hour of
pretraining, and no run folder is started for a run that cannot finish."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from mamp_bench.data.dataset import SkeletonDataset
from mamp_bench.data.specs import DatasetSpec
from mamp_bench.data.synthetic.builder import is_built
from mamp_bench.errors import UserError
from mamp_bench.fileio import ensure_writable
from mamp_bench.settings import CACHE_ENV, cache_dir


def check_output_locations(runs: Path, results: Path | None, datasets: Iterable[DatasetSpec]) -> None:
    """The runs folder, the results store (when the run writes a record) and, when a synthetic set still
    has to be generated, the cache (under HOME by default): each writable, or one line saying which is not."""
    ensure_writable(runs, "runs folder", "choose another with --runs-dir or MAMP_BENCH_RUNS")
    if results is not None:
        ensure_writable(results, "results folder", "choose another with --results-dir or MAMP_BENCH_RESULTS")
    if any(spec.synthetic and not is_built(spec.family, spec.filename) for spec in datasets):
        ensure_writable(cache_dir(), "cache", f"the synthetic data is generated there; set {CACHE_ENV}")


def check_dataset(spec: DatasetSpec, data_root: str | None) -> int:
    """Open both splits of the evaluated dataset (array headers and labels, not the clips): a file that is
    not usable (no clips, no frames, bad labels, the wrong number of classes) fails now, with its reason.
    Returns the number of training clips."""
    clips = {}
    for split in ("train", "test"):
        data = SkeletonDataset(spec.path(data_root), split)
        if data.num_classes != spec.num_classes:
            raise UserError(
                f"{data.path.name} has {data.num_classes} classes but {spec.name} has {spec.num_classes}; "
                "is the right file under that name?"
            )
        clips[split] = len(data)
    return clips["train"]
