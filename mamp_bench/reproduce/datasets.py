"""The prepared datasets a plan needs and does not find under the data root, each family with the
``mamp-bench prepare`` command that writes its files (one preparation writes every split of a family)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from mamp_bench import settings
from mamp_bench.data.specs import get_dataset
from mamp_bench.reproduce.matrix import Job

#: the raw-data arguments of each family's preparation, as the README gives them
RAW_ARGUMENTS = {
    "ntu60": "--raw nturgbd_raw/ --missing-list NTU_RGBD_samples_with_missing_skeletons.txt",
    "ntu120": "--raw nturgbd_raw/ --missing-list NTU_RGBD120_samples_with_missing_skeletons.txt",
    "pku1": "--raw pku_raw/v1",
    "pku2": "--raw pku_raw/v2",
}


@dataclass
class MissingFamily:
    """The missing prepared files of one dataset family and the command that writes them."""

    family: str
    datasets: list[str]
    files: list[str]
    command: str

    def describe(self) -> str:
        return f"{', '.join(self.datasets)} ({', '.join(self.files)}): {self.command}"


def _is_prepared(name: str, root: Path) -> bool:
    spec = get_dataset(name)
    return (root / spec.filename).is_file() or (root / spec.subdir / spec.filename).is_file()


def missing_datasets(jobs: Iterable[Job], data_root: str | None) -> list[MissingFamily]:
    """The real datasets the jobs read (evaluated and pretrained on) that are not prepared under the root."""
    root = settings.data_root(data_root)
    names = {n for job in jobs for n in (job.request.dataset, job.request.source) if n}
    real = sorted(n for n in names if not get_dataset(n).synthetic)
    if root is None or not real:
        return []
    missing: dict[str, MissingFamily] = {}
    for name in (n for n in real if not _is_prepared(n, root)):
        spec = get_dataset(name)
        raw = RAW_ARGUMENTS.get(spec.family, "--raw RAW")
        command = f"mamp-bench prepare {spec.family} {raw} --out {root / spec.subdir}"
        entry = missing.setdefault(spec.family, MissingFamily(spec.family, [], [], command))
        entry.datasets.append(name)
        entry.files.append(spec.filename)
    return list(missing.values())


def print_missing(missing: list[MissingFamily], data_root: str | None) -> None:
    if not missing:
        return
    print(f"not prepared under {settings.data_root(data_root)} (these jobs fail until they are):")
    for family in missing:
        print(f"  {family.describe()}")
