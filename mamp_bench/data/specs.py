"""The registered datasets: the real benchmarks and their synthetic stand-ins, as each data chain prepares them.

A dataset name resolves to one prepared ``.npz`` file. Real data is looked up under the data
root (``--data-root`` / ``MAMP_BENCH_DATA``), either flat or in the reference's layout
(``ntu/``, ``ntu120/``, ``pku_v1/``, ``pku_v2/``). Synthetic sets live in the cache; a command that
needs one generates it there (``prepared_file``), finding a path never does.

Each benchmark comes in SGN's chain (``ntu60-xsub``: ``NTU60_XSub.npz``, 300 frames, MAMP's data) and, where the
GCN family prepares it (NTU-60, NTU-120, PKU-MMD I), in the GCN family's (``ntu60-xsub-frame50``:
``NTU60_XSub_frame50.npz``, 50 frames); synthetic stand-ins likewise (``synthetic-ntu60-frame50``). A run reads the
chain of its encoder (``for_chain``): ``--dataset ntu60-xsub`` with an ST-GCN method reads the 50-frame file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mamp_bench import settings
from mamp_bench.data.provenance import DataStatus, check_prepared_folder, data_status, file_provenance
from mamp_bench.data.synthetic.builder import synthetic_file, synthetic_path
from mamp_bench.errors import UserError
from mamp_bench.registry import DATASETS


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    family: str  # ntu60, ntu120, pku1, pku2: which preparation writes it
    split: str  # xsub, xview, xset
    num_classes: int
    filename: str  # the reference's file name
    subdir: str  # the reference's folder for this family
    synthetic: bool = False
    counterpart: str = ""  # the synthetic stand-in of a real set, or the real set of a synthetic one
    description: str = ""
    clips: tuple[int, int] = (0, 0)  # (train, test) clips, approximately: for cost estimates
    #: real benchmarks: the exact official (train, test) clips a complete preparation gives (None: not known
    #: exactly), and the raw files (videos) a complete raw tree holds (None: not known)
    official_clips: tuple[int, int] | None = None
    official_files: int | None = None
    #: the preparation its file comes from (``models/encoder.py`` ``CHAINS``), and for another chain's file the
    #: SGN-chain dataset of the same benchmark
    chain: str = "sgn"
    variant_of: str = ""

    @property
    def manifest_name(self) -> str:
        """The manifest ``prepare`` writes beside the file (``NTU60_XSub.npz`` -> ``NTU60_manifest.json``,
        ``NTU60_XSub_frame50.npz`` -> ``NTU60_frame50_manifest.json``)."""
        from mamp_bench.data.provenance import manifest_file

        prefix = self.filename.split("_")[0]
        return manifest_file(prefix if self.chain == "sgn" else f"{prefix}_{GCN_SUFFIX}")

    @property
    def benchmark(self) -> str:
        """The real benchmark its numbers measure (``ntu60-xsub`` for ``synthetic-ntu60-frame50`` too)."""
        real = get_dataset(self.counterpart) if self.synthetic else self
        return real.variant_of or real.name

    def path(self, data_root: str | Path | None = None) -> Path:
        """Where the prepared ``.npz`` is: a synthetic set's place in the cache (generated or not), or the real
        file found under the data root (a one-line error when it is not there)."""
        if self.synthetic:
            return synthetic_path(self.family, self.filename)
        root = settings.data_root(data_root)
        if root is None:
            raise UserError(
                f"dataset {self.name!r} needs real data: pass --data-root DIR or set {settings.DATA_ENV} "
                f"(or use its synthetic stand-in {self.counterpart!r})"
            )
        for candidate in (root / self.filename, root / self.subdir / self.filename):
            if candidate.is_file():
                return candidate
        chain = "" if self.chain == "sgn" else f" --chain {self.chain}"
        raise UserError(
            f"{self.filename} not found in {root} or {root / self.subdir}; "
            f"prepare it with `mamp-bench prepare {self.family}{chain} --raw RAW --out {root / self.subdir}`"
        )


_FAMILY = {
    "ntu60": (60, "NTU60", "ntu", "NTU RGB+D 60"),
    "ntu120": (120, "NTU120", "ntu120", "NTU RGB+D 120"),
    "pku1": (51, "PKUv1", "pku_v1", "PKU-MMD Phase I"),
    "pku2": (51, "PKUv2", "pku_v2", "PKU-MMD Phase II"),
}
_SPLIT_FILE = {"xsub": "XSub", "xview": "XView", "xset": "XSet"}
_REAL = (
    ("ntu60", "xsub"),
    ("ntu60", "xview"),
    ("ntu120", "xsub"),
    ("ntu120", "xset"),
    ("pku1", "xsub"),
    ("pku1", "xview"),
    ("pku2", "xsub"),
    ("pku2", "xview"),
)
#: (train, test) clips of the real splits, and roughly of the synthetic stand-ins of each family. The NTU counts
#: are exact (recomputed from the official statistics with the official missing-skeleton lists applied,
#: shared/reference/datasets.md); the PKU-MMD ones are the approximate figures papers quote
_CLIPS = {
    "ntu60-xsub": (40091, 16487), "ntu60-xview": (37646, 18932), "ntu120-xsub": (63026, 50919),
    "ntu120-xset": (54468, 59477), "pku1-xsub": (18840, 3220), "pku1-xview": (14000, 8000),
    "pku2-xsub": (5340, 1610), "pku2-xview": (4800, 2100),
}  # fmt: skip
#: the families whose ``_CLIPS`` are the exact official counts
_EXACT_CLIPS = ("ntu60", "ntu120")
#: raw files of a complete raw tree: NTU .skeleton files (56,880 / 114,480, before the missing-skeleton list),
#: PKU-MMD videos (Phase I 1,076; Phase II 1,009 of the 26 x 13 x 3 names), shared/reference/datasets.md
_RAW_FILES = {"ntu60": 56880, "ntu120": 114480, "pku1": 1076, "pku2": 1009}
_SYNTHETIC_CLIPS = {"ntu60": (620, 580), "ntu120": (610, 590), "pku1": (580, 280), "pku2": (520, 260)}
#: the GCN family's chain: its datasets' name and file suffix, and the families it prepares
GCN_SUFFIX = "frame50"
_GCN_FAMILIES = ("ntu60", "ntu120", "pku1")
#: Synthetic stand-in of each real benchmark.
SYNTHETIC_NAME = {
    "ntu60-xsub": "synthetic-ntu60",
    "ntu60-xview": "synthetic-ntu60-xview",
    "ntu120-xsub": "synthetic-ntu120",
    "ntu120-xset": "synthetic-ntu120-xset",
    "pku1-xsub": "synthetic-pku",
    "pku1-xview": "synthetic-pku-xview",
    "pku2-xsub": "synthetic-pku2",
    "pku2-xview": "synthetic-pku2-xview",
}

for _family, _split in _REAL:
    _classes, _prefix, _subdir, _title = _FAMILY[_family]
    _name = f"{_family}-{_split}"
    _file = f"{_prefix}_{_SPLIT_FILE[_split]}.npz"
    DATASETS.add(
        _name,
        DatasetSpec(
            _name,
            _family,
            _split,
            _classes,
            _file,
            _subdir,
            False,
            SYNTHETIC_NAME[_name],
            f"{_title} {_split}",
            _CLIPS[_name],
            _CLIPS[_name] if _family in _EXACT_CLIPS else None,
            _RAW_FILES[_family],
        ),
    )
    _synth = SYNTHETIC_NAME[_name]
    DATASETS.add(
        _synth,
        DatasetSpec(
            _synth,
            _family,
            _split,
            _classes,
            _file,
            _subdir,
            True,
            _name,
            f"synthetic stand-in for {_title} {_split}",
            _SYNTHETIC_CLIPS[_family],
        ),
    )
    if _family in _GCN_FAMILIES:  # the same raw files through the GCN family's chain (``data/gcn/prepare.py``)
        _gcn, _gcn_file = f"{_name}-{GCN_SUFFIX}", _file.replace(".npz", f"_{GCN_SUFFIX}.npz")
        _title_gcn = f"{_title} {_split}, the GCN family's 50-frame clips"
        DATASETS.add(_gcn, DatasetSpec(_gcn, _family, _split, _classes, _gcn_file, _subdir, False,
                                       f"{_synth}-{GCN_SUFFIX}", _title_gcn, _CLIPS[_name], None,
                                       _RAW_FILES[_family], "gcn", _name))  # fmt: skip
        DATASETS.add(f"{_synth}-{GCN_SUFFIX}",
                     DatasetSpec(f"{_synth}-{GCN_SUFFIX}", _family, _split, _classes, _gcn_file, _subdir, True, _gcn,
                                 f"synthetic stand-in for {_title_gcn}", _SYNTHETIC_CLIPS[_family], chain="gcn",
                                 variant_of=_synth))  # fmt: skip


@dataclass(frozen=True)
class DataFile:
    """A dataset resolved to its prepared file, which is read here once: what it is (real, proven by its
    manifest and counts; synthetic; or unverified: ``data_status``), its fingerprint and its origin."""

    spec: DatasetSpec
    path: Path
    status: DataStatus
    provenance: dict[str, Any]  # what the file says of its origin

    @classmethod
    def read(cls, spec: DatasetSpec, path: Path) -> DataFile:
        return cls(spec, path, data_status(path, spec), file_provenance(path))

    @property
    def fingerprint(self) -> str | None:
        """Content identity (names, sizes, CRC-32s of its data members)."""
        return self.status.fingerprint

    @property
    def synthetic(self) -> bool:
        return self.status.kind == "synthetic"

    def describe(self) -> dict[str, Any]:
        """For the record: which file a dataset name resolved to, what it is, its fingerprint and origin."""
        return {"dataset": self.spec.name, "file": str(self.path), "synthetic": self.synthetic,
                "fingerprint": self.fingerprint, "status": self.status.to_record(),
                "provenance": self.provenance}  # fmt: skip


def prepared(spec: DatasetSpec, data_root: str | Path | None = None) -> DataFile:
    """The prepared file of a dataset a command is about to read: a synthetic set is generated into the
    cache first when it is not there yet; a real one is refused when its folder mixes preparations."""
    path = spec.path(data_root)
    if spec.synthetic and not path.is_file():
        path = synthetic_file(spec.family, spec.filename)
    elif not spec.synthetic:
        check_prepared_folder(path, spec)
    return DataFile.read(spec, path)


def found(spec: DatasetSpec, data_root: str | Path | None = None) -> DataFile | None:
    """The prepared file of a dataset if it is there and readable (nothing is generated), else None (a plan
    that only looks, such as ``reproduce --dry-run``, shows it as having no record)."""
    try:
        path = spec.path(data_root)
        return DataFile.read(spec, path) if path.is_file() else None
    except UserError:
        return None


def for_chain(spec: DatasetSpec, chain: str) -> DatasetSpec:
    """The dataset of the same benchmark as the data chain ``chain`` prepares it (``ntu60-xsub`` ->
    ``ntu60-xsub-frame50`` for the GCN chain); a one-line error when that chain does not prepare it, or when a
    dataset of another chain was named explicitly."""
    if spec.chain == chain:
        return spec
    if chain == "gcn" and spec.chain == "sgn":
        name = f"{spec.name}-{GCN_SUFFIX}"
        if name not in DATASETS:
            families = ", ".join(_GCN_FAMILIES)
            raise UserError(f"{spec.name}: the GCN family's 50-frame chain prepares {families} only; this "
                            "encoder reads that chain's clips")  # fmt: skip
        return get_dataset(name)
    raise UserError(f"{spec.name} holds the {spec.chain} chain's clips; this encoder reads the {chain} chain's "
                    f"({spec.variant_of or spec.name} names the benchmark)")  # fmt: skip


def families() -> list[str]:
    """The dataset families, each with its own raw format and preparation."""
    return list(_FAMILY)


def get_dataset(name: str) -> DatasetSpec:
    return DATASETS.get(name)


def stand_in(name: str) -> str:
    """The synthetic stand-in of a real benchmark (a synthetic name is returned as it is)."""
    spec = get_dataset(name)
    return name if spec.synthetic else spec.counterpart


def default_dataset(data_root: str | Path | None = None, chain: str = "sgn") -> str:
    """``ntu60-xsub`` when it is prepared under the data root (as the data chain ``chain`` prepares it), else
    ``synthetic-ntu60`` (the benchmark's name: ``for_chain`` gives the chain's dataset)."""
    root = settings.data_root(data_root)
    if root is not None:
        spec = for_chain(DATASETS.get("ntu60-xsub"), chain)
        if (root / spec.filename).is_file() or (root / spec.subdir / spec.filename).is_file():
            return "ntu60-xsub"
    return "synthetic-ntu60"
