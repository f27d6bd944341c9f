"""``mamp-bench prepare ntu60|ntu120``: raw ``.skeleton`` trees -> the reference ``.npz`` files.

Outputs (in ``--out``): ``NTU60_XSub.npz`` and ``NTU60_XView.npz``, or ``NTU120_XSub.npz`` and
``NTU120_XSet.npz``, plus ``NTU60_manifest.json`` / ``NTU120_manifest.json``.

Differences from the reference scripts, all deliberate:

* the sample list is every ``.skeleton`` file found under ``--raw`` (recursively, so NTU-120's
  two raw folders can sit side by side) minus ``--missing-list``, instead of a shipped
  ``skes_available_name.txt``; files that fail to parse are skipped with their reason instead
  of stopping the run;
* sequences longer than 300 frames are cut to 300 (the reference sizes its output by the longest
  sample, which is 300 on the real data, so this changes nothing there).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mamp_bench.data.ntu.denoise import skeleton_to_joints
from mamp_bench.data.ntu.names import NTU_RANGES, SampleName, ntu_splits, read_missing_list
from mamp_bench.data.ntu.reader import read_ntu_skeleton
from mamp_bench.data.preparation import MAX_FRAMES, Manifest, Timer, parallel_map, write_split_npz
from mamp_bench.data.provenance import manifest_file, raw_provenance
from mamp_bench.errors import DataFormatError, UserError


@dataclass(frozen=True)
class NtuVariant:
    key: str  # "ntu60" or "ntu120"
    prefix: str  # output file prefix
    num_classes: int
    single_actor: str  # reference default for one-actor samples


NTU_VARIANTS = {
    "ntu60": NtuVariant("ntu60", "NTU60", 60, "zeros"),
    "ntu120": NtuVariant("ntu120", "NTU120", 120, "duplicate"),
}


@dataclass
class _Result:
    stem: str
    joints: np.ndarray | None
    reason: str | None
    notes: list[str]


def _process(path: Path) -> _Result:
    stem = path.name[: -len(".skeleton")]
    try:
        joints, notes = skeleton_to_joints(read_ntu_skeleton(path))
    except DataFormatError as exc:
        return _Result(stem, None, str(exc), [])
    if len(joints) > MAX_FRAMES:
        notes.append(f"{len(joints)} frames cut to {MAX_FRAMES}")
    return _Result(stem, joints, None, notes)


def find_skeleton_files(raw: Path, variant: NtuVariant, manifest: Manifest, missing: set[str]) -> list[Path]:
    if not raw.is_dir():
        raise UserError(f"raw folder {raw} does not exist or is not a folder")
    files = sorted(raw.rglob("*.skeleton"), key=lambda p: (p.name, str(p)))
    if not files:
        raise UserError(f"no .skeleton files found under {raw}")
    manifest.files_found = len(files)
    chosen: dict[str, Path] = {}
    for path in files:
        stem = path.name[: -len(".skeleton")]
        try:
            sample = SampleName.parse(stem)
        except DataFormatError:
            manifest.skip(str(path.relative_to(raw)), "file name does not match SsssCcccPpppRrrrAaaa")
            continue
        outside = sample.out_of_range("ntu120")
        if outside:  # not a sample of either NTU: skipped with the reason, never prepared as another class
            manifest.skip(str(path.relative_to(raw)), outside)
            continue
        if sample.setup > NTU_RANGES[variant.key]["setup"][1] or sample.action > variant.num_classes:
            manifest.ignore(f"not part of {variant.key}")  # an NTU-120 sample in an NTU-60 preparation
            continue
        outside = sample.out_of_range(variant.key)
        if outside:
            manifest.skip(str(path.relative_to(raw)), outside)
            continue
        if stem in chosen:
            manifest.skip(str(path.relative_to(raw)), f"duplicate sample, {chosen[stem].relative_to(raw)} is used")
            continue
        if stem in missing:
            manifest.skip(stem, "listed in the missing-skeleton list")
            continue
        chosen[stem] = path
    return [chosen[stem] for stem in sorted(chosen)]


def prepare_ntu(
    variant_key: str,
    raw: str | Path,
    out: str | Path,
    workers: int = 1,
    missing_list: str | Path | None = None,
    single_actor: str | None = None,
    quiet: bool = False,
) -> Manifest:
    """Prepare NTU-60 or NTU-120; returns the manifest that was written beside the outputs."""
    variant = NTU_VARIANTS[variant_key]
    raw, out = Path(raw), Path(out)
    single_actor = single_actor or variant.single_actor
    if single_actor not in ("zeros", "duplicate"):
        raise UserError(f"--single-actor must be 'zeros' or 'duplicate', got {single_actor!r}")
    missing = read_missing_list(missing_list) if missing_list else set()
    manifest = Manifest(
        variant.key,
        str(raw),
        {"missing_list": str(missing_list) if missing_list else None, "single_actor": single_actor},
        provenance=raw_provenance(raw),
    )
    with Timer() as timer:
        files = find_skeleton_files(raw, variant, manifest, missing)
        samples: dict[str, np.ndarray] = {}
        for result in parallel_map(_process, files, workers, f"reading {variant.prefix}", quiet):
            if result.joints is None:
                manifest.skip(result.stem, result.reason or "unreadable")
                continue
            samples[result.stem] = result.joints
            if result.notes:
                manifest.notes[result.stem] = result.notes
        if not samples:
            raise UserError(
                f"no usable sample under {raw} ({len(manifest.skipped)} skipped, see the reasons with --verbose)"
            )
        names = sorted(samples)
        parsed = [SampleName.parse(n) for n in names]
        manifest.samples = len(names)
        out.mkdir(parents=True, exist_ok=True)
        for split in ntu_splits(variant.key):
            train = split.order(parsed, train=True)
            test = split.order(parsed, train=False)
            entry = write_split_npz(
                out / f"{variant.prefix}_{split.name}.npz",
                [samples[names[i]] for i in train],
                [parsed[i].label for i in train],
                [samples[names[i]] for i in test],
                [parsed[i].label for i in test],
                variant.num_classes,
                single_actor,
                manifest.provenance,
            )
            manifest.splits[split.name] = entry
    manifest.seconds = timer.seconds
    manifest.write(out / manifest_file(variant.prefix))
    return manifest
