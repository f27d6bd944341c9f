"""Read pyskl's 3D annotation pickle (``ntu60_3danno.pkl`` / ``ntu120_3danno.pkl``).

Layout: ``{'split': {'xsub_train': [names], 'xsub_val': [...], 'xview_train', ...},
'annotations': [{'frame_dir': 'S001C001P001R001A001', 'label': int, 'keypoint': (M, T, 25, 3)
float16, 'total_frames': T}, ...]}``.

pyskl already denoised the bodies (same recipe) and trimmed empty frames, but keeps raw camera
coordinates; ``prepare --pyskl`` applies the reference translation and padding so the arrays
match the SGN pipeline's layout. Values are float16 in the pickle (about 1 mm resolution at 2 m),
so they differ from a preparation of the raw files in the last digits.

Pickles can run code when loaded; this reader allows only the NumPy array constructors and
plain containers a pyskl annotation file contains, and refuses anything else.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from mamp_bench.data.kinect import check_coordinates
from mamp_bench.data.ntu.denoise import translate_sequence
from mamp_bench.data.ntu.names import SampleName, ntu_splits
from mamp_bench.data.ntu.prepare import NTU_VARIANTS
from mamp_bench.data.preparation import Manifest, Timer, refuse_overlap, write_split_npz
from mamp_bench.data.provenance import manifest_file, raw_provenance
from mamp_bench.errors import DataFormatError, UserError
from mamp_bench.fileio import open_regular

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
    ("collections", "OrderedDict"),
}


class _Refused(pickle.UnpicklingError):
    pass


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise _Refused(f"refused to load {module}.{name}: a pyskl annotation file does not contain it")


#: Size bound of a pyskl annotation pickle: every NTU-120 sample (114,480) at its largest, 2 persons x 300
#: frames x 25 joints x 3 float16 values (90 KB), plus 1 KB of names and dict structure each: 10.4 GB (pyskl's
#: real ntu120_3danno.pkl is a few GB). Read as a stream, not into memory first.
MAX_PICKLE_BYTES = 114_480 * (2 * 300 * 25 * 3 * 2 + 1024)


def safe_load_pickle(path: str | Path) -> Any:
    """A pyskl pickle loaded with the restricted unpickler (regular files within the size bound only)."""
    with open_regular(path, MAX_PICKLE_BYTES, "pyskl annotation file") as handle:
        return _unpickle(handle, path)


def _unpickle(handle: io.BufferedIOBase, path: str | Path) -> Any:
    try:
        return _SafeUnpickler(handle).load()
    except OSError as exc:
        raise DataFormatError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except _Refused as exc:
        raise DataFormatError(f"{path}: {exc}") from None
    except _UNREADABLE as exc:
        raise DataFormatError(f"{path}: not a readable pickle ({type(exc).__name__}: {str(exc)[:160]})") from None


#: what a malformed pickle raises (a declared length beyond the file, a missing memo entry, deep nesting)
_UNREADABLE = (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
               MemoryError, OverflowError, RecursionError)  # fmt: skip


_SPLIT_KEYS = {"XSub": "xsub", "XView": "xview", "XSet": "xset"}


def prepare_from_pyskl(variant_key: str, pkl: str | Path, out: str | Path, single_actor: str | None = None) -> Manifest:
    variant = NTU_VARIANTS[variant_key]
    pkl, out = Path(pkl), Path(out)
    try:
        content = safe_load_pickle(pkl)
    except DataFormatError as exc:
        raise UserError(str(exc)) from None
    if not isinstance(content, dict) or "split" not in content or "annotations" not in content:
        raise UserError(f"{pkl}: not a pyskl annotation file (expected a dict with 'split' and 'annotations')")
    single_actor = single_actor or variant.single_actor
    manifest = Manifest(variant.key, str(pkl), {"source": "pyskl", "single_actor": single_actor},
                        provenance=raw_provenance(Path(pkl).parent))  # fmt: skip
    with Timer() as timer:
        samples: dict[str, np.ndarray] = {}
        annotations = content["annotations"]
        manifest.files_found = len(annotations)
        for ann in annotations:
            name = str(ann.get("frame_dir", "?")) if isinstance(ann, dict) else "?"
            try:
                outside = SampleName.parse(name).out_of_range(variant.key)
                if outside:
                    manifest.skip(name, outside)
                    continue
                samples[name] = _annotation_joints(ann)
            except (DataFormatError, KeyError, ValueError, TypeError) as exc:
                manifest.skip(name, f"bad annotation: {exc}")
        names = sorted(samples)
        parsed = {n: SampleName.parse(n) for n in names}
        manifest.samples = len(names)
        out.mkdir(parents=True, exist_ok=True)
        for split in ntu_splits(variant.key):
            key = _SPLIT_KEYS[split.name]
            lists = content["split"]
            if f"{key}_train" not in lists or f"{key}_val" not in lists:
                raise UserError(f"{pkl}: split {key}_train / {key}_val missing")
            refuse_overlap(set(lists[f"{key}_train"]), set(lists[f"{key}_val"]), f"{pkl} {key}", "sample")
            sides = {}
            for side, listed in ((True, lists[f"{key}_train"]), (False, lists[f"{key}_val"])):
                chosen = sorted((n for n in set(listed) if n in samples), key=lambda n: split.sort_key(parsed[n], side))  # noqa: B023
                sides[side] = ([samples[n] for n in chosen], [parsed[n].label for n in chosen])
            manifest.splits[split.name] = write_split_npz(
                out / f"{variant.prefix}_{split.name}.npz",
                *sides[True],
                *sides[False],
                variant.num_classes,
                single_actor,
                manifest.provenance,
            )
    manifest.seconds = timer.seconds
    manifest.write(out / manifest_file(variant.prefix))
    return manifest


def _annotation_joints(ann: dict) -> np.ndarray:
    keypoint = np.asarray(ann["keypoint"], dtype=np.float32)
    if keypoint.ndim != 4 or keypoint.shape[0] not in (1, 2) or keypoint.shape[2:] != (25, 3):
        raise DataFormatError(f"keypoint shape {keypoint.shape}, expected (1|2, T, 25, 3)")
    check_coordinates(keypoint, lambda index: f"keypoint of person {index // keypoint[0].size + 1}")
    persons, frames = keypoint.shape[:2]
    joints = keypoint.transpose(1, 0, 2, 3).reshape(frames, persons * 75)
    return translate_sequence(joints)
