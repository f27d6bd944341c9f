"""NTU RGB+D sample names (``SsssCcccPpppRrrrAaaa``) and the official evaluation splits."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mamp_bench.errors import DataFormatError
from mamp_bench.fileio import read_regular

NAME_RE = re.compile(r"^S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})$")

#: NTU-60 cross-subject training subjects (the other subjects of 1..40 are test).
NTU60_XSUB_TRAIN = (1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38)
#: NTU-120 cross-subject training subjects (the other subjects of 1..106 are test).
NTU120_XSUB_TRAIN = NTU60_XSUB_TRAIN + (
    45, 46, 47, 49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82,
    83, 84, 85, 86, 89, 91, 92, 93, 94, 95, 97, 98, 100, 103,
)  # fmt: skip
#: NTU-60 cross-view: cameras 2 and 3 train, camera 1 tests.
NTU60_XVIEW_TRAIN = (2, 3)
#: The range of each field of a sample name (shared/reference/datasets.md): NTU-60 is setups 1-17, performers
#: 1-40 and actions 1-60; NTU-120 adds setups 18-32, performers 41-106 and actions 61-120. Cameras 1-3 and
#: replications 1-2 in both. A name outside is not a sample of the dataset: its label would be another class.
NTU_RANGES = {
    "ntu60": {"setup": (1, 17), "camera": (1, 3), "subject": (1, 40), "replication": (1, 2), "action": (1, 60)},
    "ntu120": {"setup": (1, 32), "camera": (1, 3), "subject": (1, 106), "replication": (1, 2), "action": (1, 120)},
}


@dataclass(frozen=True, order=True)
class SampleName:
    setup: int
    camera: int
    subject: int
    replication: int
    action: int  # 1-based, as in the file name

    @classmethod
    def parse(cls, name: str) -> SampleName:
        """Parse a stem like ``S001C002P003R001A060`` (a ``.skeleton`` suffix is allowed)."""
        stem = Path(name).name
        if stem.endswith(".skeleton"):
            stem = stem[: -len(".skeleton")]
        match = NAME_RE.match(stem)
        if not match:
            raise DataFormatError(f"{name!r} is not an NTU sample name (expected SsssCcccPpppRrrrAaaa)")
        return cls(*(int(g) for g in match.groups()))

    @property
    def stem(self) -> str:
        return f"S{self.setup:03d}C{self.camera:03d}P{self.subject:03d}R{self.replication:03d}A{self.action:03d}"

    @property
    def label(self) -> int:
        """0-based class index."""
        return self.action - 1

    def out_of_range(self, variant: str) -> str | None:
        """Why this name cannot be a sample of ``variant`` ("ntu60" or "ntu120"): the first field outside
        its range (``NTU_RANGES``), or None when every field is in range."""
        for key, (low, high) in NTU_RANGES[variant].items():
            value = getattr(self, key)
            if not low <= value <= high:
                return f"{key} {value} is outside {low}..{high} of {variant}"
        return None


@dataclass(frozen=True)
class NtuSplit:
    """One official benchmark: which samples train and which test, in the reference's order."""

    name: str  # "XSub", "XView" or "XSet"
    key: str  # "subject", "camera" or "setup"
    train_ids: tuple[int, ...]
    test_ids: tuple[int, ...]

    def is_train(self, sample: SampleName) -> bool | None:
        """True for train, False for test, None when the sample is in neither side."""
        value = getattr(sample, self.key)
        if value in self.train_ids:
            return True
        if value in self.test_ids:
            return False
        return None

    def sort_key(self, sample: SampleName, train: bool) -> tuple[int, str]:
        """Position in the reference's output order: grouped by id in the id list's order.

        The reference concatenates ``np.where(id == k)`` for k in its id list, so samples come
        grouped by subject (or camera, or setup) and in name order within a group.
        """
        ids = self.train_ids if train else self.test_ids
        value = getattr(sample, self.key)
        return (ids.index(value) if value in ids else len(ids), sample.stem)

    def order(self, samples: list[SampleName], train: bool) -> list[int]:
        """Indices of the ``samples`` on one side of the split, in the reference's order."""
        side = [i for i, s in enumerate(samples) if self.is_train(s) is train]
        return sorted(side, key=lambda i: self.sort_key(samples[i], train))


def ntu_splits(variant: str) -> tuple[NtuSplit, ...]:
    """The two benchmarks of NTU-60 (XSub, XView) or NTU-120 (XSub, XSet)."""
    if variant == "ntu60":
        test_subjects = tuple(s for s in range(1, 41) if s not in NTU60_XSUB_TRAIN)
        return (
            NtuSplit("XSub", "subject", NTU60_XSUB_TRAIN, test_subjects),
            NtuSplit("XView", "camera", NTU60_XVIEW_TRAIN, (1,)),
        )
    if variant == "ntu120":
        test_subjects = tuple(s for s in range(1, 107) if s not in NTU120_XSUB_TRAIN)
        return (
            NtuSplit("XSub", "subject", NTU120_XSUB_TRAIN, test_subjects),
            NtuSplit("XSet", "setup", tuple(range(2, 33, 2)), tuple(range(1, 33, 2))),
        )
    raise ValueError(f"unknown NTU variant {variant!r}")


#: Size bound of a missing-skeleton list: at most every NTU-120 sample (114,480) named on a line of up to 64
#: bytes (a name is 20 characters, 29 with ".skeleton"): 7.3 MB; the official lists are 7-12 KB.
MAX_MISSING_LIST_BYTES = 114_480 * 64


def read_missing_list(path: str | Path) -> set[str]:
    """Read an official missing-skeleton list: header lines, then one sample name a line.

    Only lines that are exactly a sample name count, so the 3-line header of the official
    files (and the header-less copies in CTR-GCN/MAMP) both work.
    """
    text = read_regular(path, MAX_MISSING_LIST_BYTES, "missing-skeleton list").decode("utf-8", errors="replace")
    names = set()
    for line in text.splitlines():
        stem = line.strip()
        if stem.endswith(".skeleton"):
            stem = stem[: -len(".skeleton")]
        if NAME_RE.match(stem):
            names.add(stem)
    return names
