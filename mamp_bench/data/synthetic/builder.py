"""Materialise the ready-made synthetic datasets: raw files -> the real preparation -> cache.

The sets are generated on first use (seeded, so every machine gets the same files), passed
through the same ``prepare`` code as real data (SGN's chain, or the GCN family's for its 50-frame files,
``*_frame50.npz``: the same raw files through ``data/gcn/prepare.py``), and cached under
``<cache>/synthetic/<family>-<version>/``. Only the files asked for are kept (the quick start's
``synthetic-ntu60`` needs ``NTU60_XSub.npz``, not the xview file with the same clips), stored with
compressed members: the same arrays in the reference layout, without the bytes of the zero padding
to 300 frames (``np.load`` and the suite's reader decompress them). A file lock makes concurrent
builders (for example several DDP ranks) wait for one another instead of racing.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from mamp_bench.data.gcn.chain import WINDOW
from mamp_bench.data.gcn.prepare import prepare_gcn
from mamp_bench.data.ntu.prepare import prepare_ntu
from mamp_bench.data.pku.prepare import prepare_pku
from mamp_bench.data.preparation import default_workers
from mamp_bench.data.synthetic.ntu_tree import write_ntu_tree
from mamp_bench.data.synthetic.pku_tree import write_pku_tree
from mamp_bench.data.synthetic.scene import Difficulty
from mamp_bench.fileio import make_temporary, open_own_file
from mamp_bench.settings import cache_dir

#: Bump when the generator changes what it writes, so stale caches are rebuilt.
GENERATOR_VERSION = 2


@dataclass(frozen=True)
class SyntheticRecipe:
    family: str  # ntu60, ntu120, pku1, pku2
    clips_per_class: int = 20  # NTU
    performances: int = 24  # PKU
    actions_per_video: int = 12  # PKU
    seed: int = 0
    difficulty: Difficulty = field(default_factory=Difficulty)  # NTU

    @property
    def key(self) -> str:
        return f"{self.family}-v{GENERATOR_VERSION}"


#: NTU stand-ins are recorded at 15 frames/s (every second rendered frame): half the bytes of 30 frames/s,
#: and still longer than the smoke scale's 40-frame window
RECIPES = {
    "ntu60": SyntheticRecipe("ntu60", clips_per_class=20, difficulty=Difficulty(frame_step=2)),
    "ntu120": SyntheticRecipe("ntu120", clips_per_class=10, difficulty=Difficulty(frame_step=2)),
    "pku1": SyntheticRecipe("pku1", performances=24, actions_per_video=12),
    "pku2": SyntheticRecipe("pku2", performances=26, actions_per_video=10),
}


def is_gcn_chain(filename: str) -> bool:
    """Whether a prepared file is the GCN family's (``NTU60_XSub_frame50.npz``), not SGN's."""
    return filename.endswith(f"_frame{WINDOW}.npz")


def synthetic_path(family: str, filename: str, root: Path | None = None) -> Path:
    """Where that file of the synthetic set of ``family`` is kept in the cache, built or not."""
    return (root or cache_dir()) / "synthetic" / RECIPES[family].key / filename


def is_built(family: str, filename: str, root: Path | None = None) -> bool:
    """Whether that file of the synthetic set of ``family`` is already in the cache (so nothing will be
    written there)."""
    return synthetic_path(family, filename, root).is_file()


def synthetic_file(family: str, filename: str, root: Path | None = None) -> Path:
    """One prepared ``.npz`` of a family's synthetic set (``NTU60_XSub.npz``), built if needed."""
    recipe = RECIPES[family]
    target = synthetic_path(family, filename, root)
    if target.is_file():
        return target
    base = target.parent.parent
    base.mkdir(parents=True, exist_ok=True)
    with open_own_file(base / f"{recipe.key}.lock", "the synthetic data's lock") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not target.is_file():
                _build(recipe, target)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return target


def _build(recipe: SyntheticRecipe, target: Path) -> None:
    """Generate the family's raw files, prepare them, and keep ``target`` (compressed) and the manifest."""
    from rich.console import Console

    Console(stderr=True).print(f"[dim]building synthetic {recipe.family} data: {target} (once)[/dim]")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{recipe.key}.", dir=target.parent.parent))
    try:
        raw, out = staging / "raw", staging / "prepared"
        workers = min(4, default_workers())
        if recipe.family.startswith("ntu"):
            write_ntu_tree(raw, recipe.family, recipe.clips_per_class, recipe.seed, difficulty=recipe.difficulty,
                           workers=workers)  # fmt: skip
        else:
            write_pku_tree(raw, int(recipe.family[-1]), recipe.performances, recipe.actions_per_video, recipe.seed)
        if is_gcn_chain(target.name):
            prepare_gcn(recipe.family, raw, out, workers=workers, quiet=True)
        elif recipe.family.startswith("ntu"):
            prepare_ntu(recipe.family, raw, out, workers=workers, quiet=True)
        else:
            prepare_pku(recipe.family, raw, out, workers=workers, quiet=True)
        for manifest in out.glob("*_manifest.json"):
            shutil.copyfile(manifest, target.parent / manifest.name)
        (target.parent / "recipe.json").write_text(
            json.dumps({**asdict(recipe), "generator_version": GENERATOR_VERSION})
        )
        compress_npz(out / target.name, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(staging)


def compress_npz(source: Path, target: Path) -> None:
    """``target``: the arrays of ``source`` in deflate-compressed members, written atomically."""
    fd, temporary = make_temporary(target)
    with open(fd, "wb") as handle, np.load(source, allow_pickle=False) as arrays:
        with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for key in arrays.files:
                with archive.open(f"{key}.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, arrays[key], allow_pickle=False)
        handle.flush()
        os.fsync(handle.fileno())
    Path(temporary).replace(target)
