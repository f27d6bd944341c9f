"""The leaderboards: one page per table (the default protocol's is the index), as the paper lays it out, and one
page per column of a table (a benchmark, or a benchmark and a setting), ranked. ``write_pages`` writes these
and the others: a page per measured cell (``row_pages.py``), the comparison of two methods
(``comparison.py``), the figures and the records (``catalogue.py``).

Each table's kinds (real, custom, synthetic) are sections of their own, never mixed; the tables decide which
row goes where (``results/tables.py``). A measured number links to the page of its records."""

from __future__ import annotations

from pathlib import Path

from mamp_bench.registry import PROTOCOLS
from mamp_bench.results.render import GAP, _comparison_rows, _comparison_title, cell_text, gap_text
from mamp_bench.results.reported import reported
from mamp_bench.results.site.catalogue import figures_page, records_page
from mamp_bench.results.site.comparison import comparison_page
from mamp_bench.results.site.contents import Site, table_page
from mamp_bench.results.site.html import el, esc, link, prose, slug, table
from mamp_bench.results.site.layout import HTML, ROW_KINDS, filter_form, section_title, wrap
from mamp_bench.results.site.row_pages import row_page
from mamp_bench.results.tables import METRIC_NAMES, Row, Table, table_names


def write_pages(site: Site, dest: Path) -> list[str]:
    """Every page of the site into ``dest``; their paths from the site's root."""
    pages = {table_page(name): leaderboard_page(site, name) for name in table_names()}
    for name in table_names():
        for column in range(len(site.tables[name][0].columns)):
            path, text = column_page(site, name, column)
            pages[path] = text
    for row in site.rows.values():
        pages[row.path] = row_page(site, row)
    pages["compare.html"] = comparison_page(site)
    pages["figures.html"] = figures_page(site)
    pages["records.html"] = records_page(site)
    for path, text in pages.items():
        (dest / path).parent.mkdir(parents=True, exist_ok=True)
        (dest / path).write_text(text, encoding="utf-8")
    return list(pages)


def column_path(name: str, label: str) -> str:
    return f"columns/{name}/{slug(label)}.html"


class Facets:
    """What the rows and sections of a page carry, for its filter form: facet -> {value: label}."""

    def __init__(self) -> None:
        self.values: dict[str, dict[str, str]] = {"section": {}, "kind": {}, "fidelity": {}, "backbone": {}}

    def add(self, facet: str, value: str | None, label: str | None = None) -> str | None:
        if value:
            self.values.setdefault(facet, {}).setdefault(value, label or value)
        return value or None

    def row(self, site: Site, row: Row) -> dict[str, str | None]:
        """The data attributes of a row: its kind, its records' fidelity (measured), its backbone (when the
        tables give one)."""
        pages = [page for page in map(site.page_of, row.cells) if page is not None]
        fidelities = sorted({str(m.record.get("fidelity", "clean")) for page in pages for m in page.records})
        return {
            "data_kind": self.add("kind", ROW_KINDS.get(row.kind, row.kind)),
            "data_fidelity": self.add("fidelity", "/".join(fidelities)),
            "data_backbone": self.add("backbone", getattr(row, "backbone", None)),
        }


def _years() -> dict[str, int]:
    """A published method's year (``reported.csv`` with ``venues.csv``)."""
    frame = reported().drop_duplicates("method")
    return {str(m): int(y) for m, y in zip(frame["method"], frame["year"], strict=True) if y}


def _notes(table: Table, row: Row, root: str) -> str:
    return "".join(
        el("sup", link(f"{root}{table_page(table.name)}#{_source_id(table, n)}", f"[{n}]")) for n in row.notes
    )


def _source_id(table: Table, n: int) -> str:
    return f"source-{table.name}-{table.kind}-{n}"


def _best_measured(table: Table) -> list[float | None]:
    """The best measured mean of each column of a table (None where no row was measured)."""
    best = []
    for i in range(len(table.columns)):
        means = [row.cells[i].mean for row in table.rows if row.kind == "measured" and row.cells[i].by_seed]
        best.append(max(means) if means else None)
    return best


def measured_cell(site: Site, cell, root: str, text: str) -> str:
    """A measured number as a link to its page (every measured number has one)."""
    page = site.page_of(cell)
    return el("a", text, href=root + page.path, class_="measured") if page else text


def _sort_value(value: float | None) -> str | None:
    return None if value is None else f"{value:.6g}"


# ---------------------------------------------------------------------------------------------------------
# a table's page


def leaderboard_page(site: Site, name: str) -> str:
    path = table_page(name)
    facets = Facets()
    sections = "".join(board_section(site, t, facets) for t in site.tables[name])
    protocol = PROTOCOLS.get(name)
    columns = ", ".join(link(column_path(name, c.label), c.label) for c in site.tables[name][0].columns)
    content = el("h1", f"{esc(name)}: {esc(protocol.description)}")
    if path == "index.html":
        content += _introduction(site)
    content += el("p", f"One page per column, ranked: {columns}.")
    content += filter_form(facets.values) + _legend() + sections
    return wrap(site, f"{name} leaderboard", content, path)


def _legend() -> str:
    return el(
        "p",
        "<strong>Bold</strong>: the best published number of its column. <u>Underlined</u>: the best "
        "measured mean of its column in its section. Every measured number links to the page of the "
        "records behind it. Click a column's ↕ to sort by it.",
        class_="legend-text",
    )


def _introduction(site: Site) -> str:
    tables = "".join(el("li", link(table_page(n), n) + f": {esc(PROTOCOLS.get(n).description)}") for n in table_names())
    left_out = f", {len(site.left_out)} left out (see {link('records.html', 'records')})" if site.left_out else ""
    return el(
        "p",
        (
            "The leaderboards of this results store beside the published numbers. Each table keeps its kinds apart: "
            "measured rows on data proven to be the benchmark, at the published recipe, sit beside the published rows; "
            "runs with custom settings or on unproven data, and runs on synthetic stand-in data, have sections of "
            f"their own. {len(site.records)} record(s) verify{left_out}; metric: {esc(METRIC_NAMES[site.metric])}."
        ),
        class_="intro",
    ) + el("ul", tables, class_="tables")


def board_section(site: Site, t: Table, facets: Facets) -> str:
    """One kind of a table as a section: caption, the table, the paired differences, what was left out, the
    sources of its published rows."""
    years = _years()
    has_years = any(row.kind == "reported" and row.method in years for row in t.rows)
    backbones = any(getattr(row, "backbone", None) for row in t.rows)
    gap = t.measured and t.kind == "real"
    headers = [("method", {})] + ([("year", {"data_numeric": True})] if has_years else [])
    headers += [("backbone", {})] if backbones else []
    headers += [
        (link(column_path(t.name, c.label), label), {"data_numeric": True})
        for c, label in zip(t.columns, t.column_labels, strict=True)
    ]
    headers += [(esc(GAP), {"data_numeric": True})] if gap else []
    best = _best_measured(t)
    rows = []
    for row in t.rows:
        cells = [el("th", esc(row.label) + _notes(t, row, ""), scope="row")]
        if has_years:
            year = years.get(row.method) if row.kind == "reported" else None
            cells.append(el("td", str(year or ""), data_sort=year))
        if backbones:
            cells.append(el("td", esc(getattr(row, "backbone", None) or "")))
        for i, cell in enumerate(row.cells):
            value = cell.mean if row.kind == "measured" else cell.reported
            text = cell_text(cell, HTML)
            if row.kind == "measured" and cell.by_seed:
                text = measured_cell(site, cell, "", text)
            top = row.kind == "measured" and value is not None and value == best[i]
            cells.append(el("td", text, data_sort=_sort_value(value), class_="best-measured" if top else None))
        if gap:
            gaps = [g for g in row.gaps if g is not None]
            cells.append(el("td", esc(gap_text(row)), data_sort=_sort_value(sum(gaps) / len(gaps) if gaps else None)))
        rows.append(el("tr", "".join(cells), **facets.row(site, row)))
    kind = facets.add("section", t.kind, section_title(t.kind))
    caption_id = f"caption-{t.name}-{t.kind}"
    body = el("h2", esc(section_title(t.kind)) + el("span", esc(t.kind), class_=f"badge {t.kind}"))
    body += el("p", prose(t.caption()), id=caption_id, class_="caption")
    body += table(
        headers,
        rows,
        caption=esc(f"{t.name}: {section_title(t.kind).lower()}"),
        aria_describedby=caption_id,
        class_="board",
    )
    body += comparisons(site, t)
    if t.left_out:
        body += el("p", prose(t.left_out_note()), class_="left-out")
    if t.sources:
        body += el(
            "ol",
            "".join(el("li", esc(s), id=_source_id(t, i)) for i, s in enumerate(t.sources, 1)),
            class_="sources",
            aria_label="Sources of the published rows",
        )
    return el("section", body, id=f"{t.name}-{t.kind}", class_=f"board {t.kind}", data_section=kind)


def comparisons(site: Site, t: Table, only: str | None = None, root: str = "") -> str:
    """The paired differences under a table (``only``: of one column label), each row linked to its page
    (``root``: the way from the page to the site's root)."""
    chosen = [c for c in t.comparisons if only is None or c.column == only]
    if not chosen:
        return ""
    title, headers = _comparison_title(t)
    pages = site.pages_by_label(t)
    rows = []
    for comparison, texts in zip(chosen, _comparison_rows(chosen, HTML), strict=True):
        page = pages.get((comparison.row, comparison.column))
        label = el("a", texts[0], href=root + page.path) if page else texts[0]
        cells = [el("th", label, scope="row")] + [el("td", text) for text in texts[1:]]
        rows.append(el("tr", "".join(cells)))
    head = [(esc(h), {"data_numeric": True} if i >= 2 else {}) for i, h in enumerate(headers)]
    return el("h3", prose(title)) + table(head, rows, class_="comparisons")


# ---------------------------------------------------------------------------------------------------------
# a column's page


def column_page(site: Site, name: str, column: int) -> tuple[str, str]:
    """The rows of every kind of a table that have a number in one column, best first."""
    target = site.tables[name][0].columns[column]
    path = column_path(name, target.label)
    root = "../../"
    facets = Facets()
    years = _years()
    sections = []
    for t in site.tables[name]:
        if target not in t.columns:
            continue
        i = t.columns.index(target)
        label = t.column_labels[i]
        ranked = [row for row in t.rows if row.cells[i].by_seed or row.cells[i].reported is not None]
        ranked.sort(key=lambda row: -(row.cells[i].mean if row.kind == "measured" else row.cells[i].reported))
        gap = t.measured and t.kind == "real"
        headers = [
            ("#", {"data_numeric": True}),
            ("method", {}),
            ("year", {"data_numeric": True}),
            (esc(label), {"data_numeric": True}),
            ("seeds", {"data_numeric": True}),
        ]
        headers += [(esc(GAP), {"data_numeric": True})] if gap else []
        rows = []
        for rank, row in enumerate(ranked, 1):
            cell = row.cells[i]
            value = cell.mean if row.kind == "measured" else cell.reported
            text = cell_text(cell, HTML)
            if row.kind == "measured":
                text = measured_cell(site, cell, root, text)
            year = years.get(row.method) if row.kind == "reported" else None
            cells = [
                el("td", str(rank), data_sort=rank),
                el("th", esc(row.label) + _notes(t, row, root), scope="row"),
                el("td", str(year or ""), data_sort=year),
                el("td", text, data_sort=_sort_value(value)),
                el("td", str(len(cell.by_seed)) if row.kind == "measured" else ""),
            ]
            if gap:
                delta = row.gaps[i] if row.gaps else None
                cells.append(el("td", "" if delta is None else f"{delta:+.1f}", data_sort=_sort_value(delta)))
            rows.append(el("tr", "".join(cells), **facets.row(site, row)))
        kind = facets.add("section", t.kind, section_title(t.kind))
        body = el("h2", esc(section_title(t.kind)) + el("span", esc(t.kind), class_=f"badge {t.kind}"))
        body += el("p", prose(t.caption()), class_="caption")
        body += table(headers, rows, caption=esc(f"{label}: {section_title(t.kind).lower()}"), class_="board")
        body += comparisons(site, t, only=label, root=root)
        sections.append(el("section", body, id=f"{t.name}-{t.kind}", class_=f"board {t.kind}", data_section=kind))
    content = el("h1", f"{esc(target.label)} · {esc(name)}")
    content += el(
        "p", f"{esc(PROTOCOLS.get(name).description)}. The whole table: {link(root + table_page(name), name)}."
    )
    content += filter_form(facets.values) + "".join(sections)
    return path, wrap(site, f"{target.label} · {name}", content, path)
