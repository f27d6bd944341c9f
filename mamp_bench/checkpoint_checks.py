"""Checks of a checkpoint file before its weights are trusted: the archive first (nothing read into memory),
then the tensors against the architecture they claim to be.

* ``check_archive``: a PyTorch checkpoint is a zip archive whose members are stored, not compressed
  (``torch.save`` writes them so): the zip directory is read (the end of the file only), and refused are a
  file that is neither a zip archive nor a legacy pickle (a sparse file of zeros is refused without reading
  it), a compressed member (a small file that would expand to gigabytes), members whose sizes add up to more
  than the bound (the architecture's expected size, see ``expected_bytes``), a pickle larger than its bound.
* ``check_tensors``: the tensors of a state dict against the shapes of the module they are for: no key the
  module lacks, none missing (a missing block), floating-point values only (integer or boolean weights
  would be copied into the parameters silently), every shape the one the declared configuration gives.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Collection, Mapping
from typing import Any

from mamp_bench.errors import DataFormatError
from mamp_bench.fileio import check_regular, open_regular

#: Size bound of a checkpoint's pickle (``data.pkl``): the names, shapes and configuration of the weights, plus
#: an optimizer's step counts; the paper's MAMP with its AdamW state has 300 KB; 16 MiB.
MAX_PICKLE_BYTES = 16 << 20
#: Bytes a checkpoint may hold per parameter: float32 weights and AdamW's two moments (12 bytes), and as much
#: again for the extras a checkpoint may carry (an EMA copy, a scaler); beyond that it is not this model.
BYTES_PER_PARAMETER = 24
#: What a checkpoint holds besides its tensors' bytes: per-member zip headers and alignment, the pickle.
ARCHIVE_SLACK = MAX_PICKLE_BYTES + (4 << 20)
_PICKLE_PROTOCOL = b"\x80"  # the first byte of a legacy (pre-zip) torch.save file: a pickle's PROTO opcode


def expected_bytes(shapes: Mapping[str, tuple[int, ...]]) -> int:
    """The most bytes a checkpoint of a model with these parameter shapes can hold (``BYTES_PER_PARAMETER``
    per parameter, plus ``ARCHIVE_SLACK``)."""
    parameters = 0
    for shape in shapes.values():
        count = 1
        for n in shape:
            count *= int(n)
        parameters += count
    return parameters * BYTES_PER_PARAMETER + ARCHIVE_SLACK


def check_archive(path: str | os.PathLike[str], limit: int, what: str = "checkpoint") -> None:
    """``DataFormatError`` (one line) unless ``path`` is a regular file of at most ``limit`` bytes that is a
    PyTorch zip archive of stored members adding up to at most ``limit`` bytes with a pickle within its bound,
    or a legacy pickle file; only the zip directory (or the first byte) is read."""
    check_regular(path, limit, what)
    with open_regular(path, limit, what) as handle:
        head = handle.read(4)
        if head[:2] != b"PK":
            if head[:1] == _PICKLE_PROTOCOL:
                return  # a legacy torch.save file: bounded by its size, unpickled with weights_only
            raise DataFormatError(f"{what} {path} is not a PyTorch checkpoint (neither a zip archive nor a pickle)")
        handle.seek(0)
        try:
            members = zipfile.ZipFile(handle).infolist()
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise DataFormatError(f"{what} {path} is not a readable checkpoint archive ({exc})") from None
    compressed = [m.filename for m in members if m.compress_type != zipfile.ZIP_STORED]
    if compressed:
        raise DataFormatError(f"{what} {path} holds compressed members ({compressed[0]}), which torch.save never "
                              "writes; refused before decompressing them")  # fmt: skip
    total = sum(m.file_size for m in members)
    if total > limit:
        raise DataFormatError(f"{what} {path} holds {total:,} bytes of members, more than the {limit:,} bytes its "
                              "architecture allows; not loaded")  # fmt: skip
    pickles = [m for m in members if m.filename.endswith(".pkl") and m.file_size > MAX_PICKLE_BYTES]
    if pickles:
        raise DataFormatError(f"{what} {path}: {pickles[0].filename} is {pickles[0].file_size:,} bytes, more than "
                              f"the {MAX_PICKLE_BYTES:,} a checkpoint's pickle needs; not loaded")  # fmt: skip


def check_tensors(state: Mapping[str, Any], expected: Mapping[str, tuple[int, ...]], what: str,
                  counters: Collection[str] = ()) -> None:  # fmt: skip
    """``DataFormatError`` naming the first few offenders unless ``state`` holds exactly the keys of ``expected``,
    each a floating-point tensor of the expected shape; ``counters`` name the keys the model itself holds as
    integers (a BatchNorm's ``num_batches_tracked``), which must be integer tensors (not booleans) instead."""
    import torch

    unexpected = [k for k in state if k not in expected]
    missing = [k for k in expected if k not in state]
    tensors = {k: v for k, v in state.items() if k in expected and isinstance(v, torch.Tensor)}
    not_tensors = [k for k in state if k in expected and k not in tensors]
    not_float = [f"{k} ({v.dtype})" for k, v in tensors.items() if k not in counters and not v.is_floating_point()]
    not_int = [f"{k} ({v.dtype})" for k, v in tensors.items()
               if k in counters and (v.is_floating_point() or v.is_complex() or v.dtype == torch.bool)]  # fmt: skip
    shapes = [f"{k} {tuple(v.shape)} vs {tuple(expected[k])}" for k, v in tensors.items()
              if tuple(v.shape) != tuple(expected[k])]  # fmt: skip
    parts = [(unexpected, "unexpected"), (missing, "missing"), (not_tensors, "not tensors"),
             (not_float, "not floating point"), (not_int, "not an integer counter"),
             (shapes, "wrong shape")]  # fmt: skip
    found = [f"{label} {_few(items)}" for items, label in parts if items]
    if found:
        raise DataFormatError(f"{what} is not the declared architecture: {'; '.join(found)}")


def _few(items: list[str], limit: int = 3) -> str:
    return ", ".join(items[:limit]) + (f" (+{len(items) - limit} more)" if len(items) > limit else "")
