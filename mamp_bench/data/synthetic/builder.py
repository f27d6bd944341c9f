"""Materialise the ready-made synthetic datasets: raw files -> the real preparation -> cache.

The sets are generated on first use (seeded, so every machine gets the same files), passed
through the same ``prepare`` code as real data, and cached under
``<cache>/synthetic/<family>-<version>/``. A file lock makes concurrent builders (for example
several DDP ranks) wait for one another instead of racing.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from mamp_bench.data.ntu.prepare import prepare_ntu
from mamp_bench.data.pku.prepare import prepare_pku
from mamp_bench.data.preparation import default_workers
from mamp_bench.data.synthetic.ntu_tree import write_ntu_tree
from mamp_bench.data.synthetic.pku_tree import write_pku_tree
from mamp_bench.data.synthetic.scene import Difficulty
from mamp_bench.settings import cache_dir

#: Bump when the generator changes what it writes, so stale caches are rebuilt.
GENERATOR_VERSION = 1


@dataclass(frozen=True)
class SyntheticRecipe:
    family: str  # ntu60, ntu120, pku1, pku2
    clips_per_class: int = 20  # NTU
    performances: int = 24  # PKU
    actions_per_video: int = 12  # PKU
    seed: int = 0

    @property
    def key(self) -> str:
        return f"{self.family}-v{GENERATOR_VERSION}"


RECIPES = {
    "ntu60": SyntheticRecipe("ntu60", clips_per_class=20),
    "ntu120": SyntheticRecipe("ntu120", clips_per_class=10),
    "pku1": SyntheticRecipe("pku1", performances=24, actions_per_video=12),
    "pku2": SyntheticRecipe("pku2", performances=26, actions_per_video=10),
}


def is_built(family: str, root: Path | None = None) -> bool:
    """Whether the synthetic set of ``family`` is already in the cache (so nothing will be written there)."""
    return ((root or cache_dir()) / "synthetic" / RECIPES[family].key / "recipe.json").is_file()


def synthetic_dir(family: str, root: Path | None = None) -> Path:
    """Folder holding the prepared synthetic ``.npz`` files of one family, built if needed."""
    recipe = RECIPES[family]
    base = (root or cache_dir()) / "synthetic"
    target = base / recipe.key
    marker = target / "recipe.json"
    if marker.is_file():
        return target
    base.mkdir(parents=True, exist_ok=True)
    with open(base / f"{recipe.key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not marker.is_file():
                _build(recipe, target)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return target


def _build(recipe: SyntheticRecipe, target: Path) -> None:
    from rich.console import Console

    Console(stderr=True).print(f"[dim]building synthetic {recipe.family} data in {target} (once)[/dim]")
    staging = Path(tempfile.mkdtemp(prefix=f".{recipe.key}.", dir=target.parent))
    try:
        raw, out = staging / "raw", staging / "prepared"
        workers = min(4, default_workers())
        if recipe.family.startswith("ntu"):
            write_ntu_tree(
                raw, recipe.family, recipe.clips_per_class, recipe.seed, difficulty=Difficulty(), workers=workers
            )
            prepare_ntu(recipe.family, raw, out, workers=workers, quiet=True)
        else:
            phase = int(recipe.family[-1])
            write_pku_tree(raw, phase, recipe.performances, recipe.actions_per_video, recipe.seed)
            prepare_pku(recipe.family, raw, out, workers=workers, quiet=True)
        (out / "recipe.json").write_text(json.dumps({**asdict(recipe), "generator_version": GENERATOR_VERSION}))
        if target.exists():
            shutil.rmtree(target)
        out.rename(target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(staging)
