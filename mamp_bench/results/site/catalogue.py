"""The figures ``mamp-bench plot`` drew, and every record file of the store with what became of it."""

from __future__ import annotations

from pathlib import Path

from mamp_bench.results.site.contents import Site
from mamp_bench.results.site.html import el, esc, link, table
from mamp_bench.results.site.layout import wrap


def figures_page(site: Site) -> str:
    if site.figures:
        shown = "".join(
            el(
                "figure",
                f'<img src="figures/{esc(name)}" alt="{esc(_described(name))}" loading="lazy">'
                + el("figcaption", el("code", esc(name))),
            )
            for name in site.figures
        )
        intro = (
            "The figures of <code>mamp-bench plot</code> (<code>reproduce</code> writes them beside the tables), "
            "as they were when this site was generated."
        )
    else:
        shown = ""
        intro = (
            "No figures were found: <code>mamp-bench plot --out RESULTS/figures</code> draws them, then "
            "<code>mamp-bench site</code> embeds them (or give their folder with <code>--figures</code>)."
        )
    return wrap(
        site, "figures", el("h1", "Figures") + el("p", intro) + el("div", shown, class_="figures"), "figures.html"
    )


def _described(name: str) -> str:
    return f"Figure {Path(name).stem.replace('_', ' ')}, drawn by mamp-bench plot from the runs and records"


def records_page(site: Site) -> str:
    pages = {m.name: page.path for page in site.rows.values() for m in page.records}
    headers = [(h, {}) for h in ("record", "protocol", "dataset", "method", "seed", "status", "shown on")]
    rows = []
    for m in site.records:
        r = m.record
        shown = link(pages[m.name], "its row") if m.name in pages else "no table column (its setting has none)"
        cells = (
            [el("th", el("code", link(m.rel, m.name)), scope="row")]
            + [el("td", esc(r[k])) for k in ("protocol", "dataset", "method", "seed")]
            + [el("td", "verifies"), el("td", shown)]
        )
        rows.append(el("tr", "".join(cells), data_record=m.name))
    for path, note in sorted(site.repeats.items()):
        rows.append(_other(site, path, f"counted once: {note}"))
    for path, reason in site.left_out:
        rows.append(_other(site, path, f"left out: {reason}"))
    intro = (
        f"Every record file of the results store: {len(site.records)} verify and are copied here with their "
        f"predictions and per-epoch logs (under <code>records/</code>, in the store's layout, so "
        f"<code>mamp-bench verify</code> runs on this folder too); {len(site.repeats)} repeat a measurement "
        f"already counted; {len(site.left_out)} do not verify and are left out of every table, with the "
        "first reason."
    )
    return wrap(site, "records", el("h1", "Records") + el("p", intro) + table(headers, rows), "records.html")


def _other(site: Site, path: Path, status: str) -> str:
    """A record file the site does not copy: where it is in the store, and why."""
    try:
        shown = Path(path).relative_to(site.store_root).as_posix()
    except ValueError:
        shown = Path(path).name
    parts = shown.split("/")
    fields = parts[1:4] if len(parts) == 5 and parts[0] == "records" else ["", "", ""]
    cells = [el("th", el("code", esc(shown)), scope="row")] + [el("td", esc(f)) for f in fields]
    cells += [el("td", ""), el("td", esc(status)), el("td", "")]
    return el("tr", "".join(cells), class_="not-shown")
