"""``build_site``: the results store and the published rows as a static site (``mamp-bench site``).

What it shows is gathered by ``contents.py`` (the records that verify and the suite's tables), the pages are
written by ``pages.py``, and the figures are those ``mamp-bench plot`` wrote.

The site is written into a temporary folder beside ``out`` and put in place when complete. ``out`` is taken
only when it does not exist, is empty, or holds a site this command wrote and nothing else (its marker and
``site.json`` name every file); a user's files are never overwritten or removed.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from mamp_bench.errors import UserError
from mamp_bench.fileio import FOLDER_MARKER, read_json, same_file, storage_error
from mamp_bench.results.site.contents import GENERATOR, MANIFEST, Site, gather
from mamp_bench.results.site.pages import write_pages
from mamp_bench.results.store import RECORD_FILES, ResultsStore
from mamp_bench.version import __version__


@dataclass
class SiteSummary:
    out: Path
    pages: int
    records: int
    left_out: int
    bytes: int


def build_site(
    results_dir: str | os.PathLike[str] | None,
    out: str | os.PathLike[str],
    figures_dir: str | os.PathLike[str] | None = None,
    metric: str = "top1_best",
) -> SiteSummary:
    """Write the site of a results store into ``out`` (see the module's docstring); ``figures_dir``: the PNG
    figures to embed (default: ``<results>/figures``, where ``reproduce`` writes them)."""
    out = Path(out)
    root = ResultsStore(results_dir).root
    figures = Path(figures_dir) if figures_dir else root / "figures"
    if figures_dir and not figures.is_dir():
        raise UserError(f"--figures {figures} is not a folder (the PNG files of `mamp-bench plot --out DIR`)")
    _check_output(out, root, figures)
    site = gather(results_dir, metric)
    staging = out.parent / f".{out.name}.building-{uuid.uuid4().hex[:8]}"
    try:
        staging.mkdir(parents=True)
        files = _copy_records(site, staging) + _copy_figures(site, figures, staging) + _copy_assets(staging)
        files += write_pages(site, staging)
        manifest = {
            "generator": GENERATOR,
            "version": __version__,
            "metric": metric,
            "records": [m.rel for m in site.records],
            "left_out": len(site.left_out),
            "files": sorted(files),
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
        (staging / FOLDER_MARKER).write_text("This folder was written by `mamp-bench site`; it is replaced whole.\n")
        _replace(out, staging)
    except OSError as exc:
        raise storage_error(out, exc) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return SiteSummary(out, sum(1 for f in files if f.endswith(".html")), len(site.records), len(site.left_out), size)


def _check_output(out: Path, results_root: Path, figures: Path) -> None:
    """``UserError`` before any work when ``out`` is an input or holds files this command did not write."""
    for name, path in (
        ("the results store", results_root),
        ("its records", results_root / "records"),
        ("the figures folder", figures),
    ):
        if same_file(out, path) or _inside(path, out):
            raise UserError(f"--out {out} would replace {name} ({path}); choose another folder")
    if _inside(out, results_root / "records"):
        raise UserError(f"--out {out} is inside the records of the results store; choose another folder")
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file, not a folder; choose a folder")
    foreign = _foreign_files(out)
    if foreign:
        shown = ", ".join(foreign[:4]) + (f" and {len(foreign) - 4} more" if len(foreign) > 4 else "")
        raise UserError(
            f"--out {out} holds files `mamp-bench site` did not write ({shown}); choose an empty or new folder"
        )


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def _foreign_files(out: Path) -> list[str]:
    """Files in ``out`` that no previous site written there names (everything, when it holds no site)."""
    if not out.is_dir():
        return []
    present = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if not p.is_dir())
    if not present:
        return []
    try:
        manifest = read_json(out / MANIFEST, "site manifest")
    except UserError:
        return present
    if not isinstance(manifest, dict) or manifest.get("generator") != GENERATOR:
        return present
    ours = {*map(str, manifest.get("files", [])), MANIFEST, FOLDER_MARKER}
    return [p for p in present if p not in ours]


def _replace(out: Path, staging: Path) -> None:
    """Put the new site in place of the old one (two renames; the old one is then removed)."""
    if not out.exists():
        staging.rename(out)
        return
    old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
    out.rename(old)
    staging.rename(out)
    shutil.rmtree(old, ignore_errors=True)


def _copy_records(site: Site, dest: Path) -> list[str]:
    """Each record that verifies, with the files it names (predictions, log, class scores), in the store's layout
    under ``records/``."""
    files = []
    for m in site.records:
        for rel in (m.rel, *(m.beside(kind) for kind in RECORD_FILES)):
            if rel is None:
                continue
            source = m.source.with_name(rel.rsplit("/", 1)[1])
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, dest / rel)
            files.append(rel)
    return files


def _copy_figures(site: Site, folder: Path, dest: Path) -> list[str]:
    """The PNG figures of ``mamp-bench plot`` found in ``folder`` (regular files only)."""
    found = sorted(p for p in folder.glob("*.png") if p.is_file() and not p.is_symlink()) if folder.is_dir() else []
    if found:
        (dest / "figures").mkdir()
    for path in found:
        shutil.copyfile(path, dest / "figures" / path.name)
    site.figures = [p.name for p in found]
    return [f"figures/{p.name}" for p in found]


ASSETS = ("site.css", "site.js")


def _copy_assets(dest: Path) -> list[str]:
    """The stylesheet and the script, shipped inside the package."""
    (dest / "assets").mkdir()
    folder = resources.files("mamp_bench.results.site").joinpath("assets")
    for name in ASSETS:
        (dest / "assets" / name).write_bytes(folder.joinpath(name).read_bytes())
    return [f"assets/{name}" for name in ASSETS]
