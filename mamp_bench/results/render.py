"""Tables as text: Markdown (GitHub, with footnotes), LaTeX (booktabs, escaped, compiles), CSV (long
form) and the terminal (rich, folded to the terminal's width, never cut).

A row's label comes from records (a method's name, a user's settings), which are input: in every format it
is text, never structure. Markdown escapes what would open a cell, a link, a footnote, an emphasis or HTML;
LaTeX its special characters; CSV a leading character that makes a spreadsheet evaluate a formula; control
characters (a newline would start a new row) become spaces everywhere."""

from __future__ import annotations

import io
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from mamp_bench.errors import UserError
from mamp_bench.results.tables import DASH, METRIC_NAMES, Cell, Comparison, Row, Table, fmt_number

FORMATS = ("markdown", "latex", "csv", "rich")
GAP = "Δ vs reported"


def render(tables: list[Table], fmt: str = "markdown") -> str:
    """Every table in one format (rich: plain text of what the terminal shows)."""
    if fmt == "markdown":
        return "\n".join(markdown(t) for t in tables)
    if fmt == "latex":
        return "\n".join(latex(t) for t in tables)
    if fmt == "csv":
        return long_form(tables).to_csv(index=False)
    if fmt == "rich":
        return "\n".join(rich_text(t) for t in tables)
    raise UserError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")


_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")
_MARKDOWN_SPECIAL = re.compile(r"([\\|`\[\]<>])")


def plain(text: str) -> str:
    """Control characters (newlines, tabs, escapes) as spaces: one line of text."""
    return _CONTROL.sub(" ", str(text))


def escape_markdown(text: str) -> str:
    """Text inside a GitHub table cell: ``|`` cannot open a cell, ``[ ]`` a link or a footnote, a backtick code,
    ``< >`` HTML; a newline cannot start a row."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", plain(text))


def escape_csv(value: object) -> object:
    """A text cell that a spreadsheet would evaluate (``=HYPERLINK(...)``, ``+``, ``-``, ``@`` first) gets a
    leading ``'``, which shows it as text; numbers are left alone."""
    if not isinstance(value, str):
        return value
    value = plain(value)
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


@dataclass(frozen=True)
class Style:
    """How a format writes plain text, a best published number, a note marker and ±."""

    text: Callable[[str], str] = escape_markdown
    bold: Callable[[str], str] = lambda s: f"**{s}**"
    note: Callable[[int], str] = lambda n: f"[^{n}]"
    pm: str = "±"


MARKDOWN = Style()
RICH = Style(lambda s: plain(s).replace("[", r"\["), lambda s: f"[bold]{s}[/bold]", lambda n: rf"\[{n}]")


def cell_text(cell: Cell, style: Style = MARKDOWN) -> str:
    if cell.reported is not None:
        text = f"{cell.reported:.1f}"
        return style.bold(text) if cell.best else text
    if not cell.by_seed:
        return style.text(DASH)
    if len(cell.by_seed) == 1:
        return f"{cell.mean:.1f} (1)"
    return f"{cell.mean:.1f} {style.pm} {cell.std:.1f} ({len(cell.by_seed)})"


def gap_text(row: Row) -> str:
    if row.kind == "reported":
        return ""
    gaps = [g for g in row.gaps if g is not None]
    if not gaps:
        return DASH if row.gaps else "n/a"
    return f"{sum(gaps) / len(gaps):+.1f} ({len(gaps)})"


def grid(table: Table, style: Style = MARKDOWN) -> tuple[list[str], list[list[str]]]:
    """(headers, rows of cell texts) of a table in a style."""
    gap = table.measured and table.kind == "real"
    headers = ["method", *table.column_labels] + ([GAP] if gap else [])
    body = []
    for row in table.rows:
        label = style.text(row.label) + "".join(style.note(n) for n in row.notes)
        cells = [cell_text(c, style) for c in row.cells]
        body.append([label, *cells] + ([style.text(gap_text(row))] if gap else []))
    return [style.text(h) for h in headers], body


def _comparison_rows(comparisons: list[Comparison], style: Style = MARKDOWN) -> list[list[str]]:
    return [[style.text(text) for text in (c.row, c.column, str(c.n), fmt_number(c.mean_difference, "+.2f"),
             fmt_number(c.std_difference, ".2f"), fmt_number(c.p, ".3g"))] for c in comparisons]  # fmt: skip


def _comparison_title(table: Table) -> tuple[str, list[str]]:
    """The title and column headers of a table's paired differences (in every format that shows them)."""
    title = (f"Paired differences against `{table.reference}` over the seeds both rows were run with "
             f"(metric: {METRIC_NAMES[table.metric]}):")  # fmt: skip
    return title, ["row", "column", "paired seeds", f"mean Δ vs {table.reference}", "std", "p (paired t-test)"]


def markdown(table: Table) -> str:
    from tabulate import tabulate

    headers, body = grid(table)
    text = f"{table.caption()}\n\n" + tabulate(body, headers, tablefmt="github", disable_numparse=True) + "\n"
    if table.comparisons:
        title, columns = _comparison_title(table)
        rows = _comparison_rows(table.comparisons)
        text += f"\n{title}\n\n" + tabulate(rows, columns, tablefmt="github", disable_numparse=True) + "\n"
    if table.left_out:
        text += f"\n{escape_markdown(table.left_out_note())}\n"
    if table.sources:
        text += "\n" + "".join(f"[^{i}]: {source}\n" for i, source in enumerate(table.sources, 1))
    return text


def escape_latex(text: str) -> str:
    """Text safe in LaTeX: the ten special characters escaped, Δ and ± as math, the dash as --."""
    special = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
               "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}  # fmt: skip
    out = "".join(special.get(char, char) for char in plain(text))
    return out.replace("Δ", r"$\Delta$").replace("±", r"$\pm$").replace(DASH, "--")


LATEX = Style(escape_latex, lambda s: rf"\textbf{{{s}}}", lambda n: rf"\textsuperscript{{{n}}}", r"$\pm$")


def latex(table: Table) -> str:
    """A booktabs table in a ``table`` float, the caption and the source notes escaped."""
    headers, body = grid(table, LATEX)
    lines = [r"\begin{table}[t]", r"\centering", rf"\caption{{{escape_latex(table.caption())}}}",
             rf"\begin{{tabular}}{{l{'r' * (len(headers) - 1)}}}", r"\toprule", " & ".join(headers) + r" \\",
             r"\midrule"]  # fmt: skip
    for i, (row, cells) in enumerate(zip(table.rows, body, strict=True)):
        if i and row.kind != table.rows[i - 1].kind:
            lines.append(r"\midrule")
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if table.comparisons:
        title, columns = _comparison_title(table)
        lines += [r"\par\medskip\footnotesize", escape_latex(title.replace("`", "")), r"\par\smallskip",
                  r"\begin{tabular}{llrrrr}", r"\toprule", " & ".join(escape_latex(c) for c in columns) + r" \\",
                  r"\midrule", *(" & ".join(row) + r" \\" for row in _comparison_rows(table.comparisons, LATEX)),
                  r"\bottomrule", r"\end{tabular}"]  # fmt: skip
    if table.left_out:
        lines += [r"\par\footnotesize", escape_latex(table.left_out_note())]
    if table.sources:
        notes = [rf"\textsuperscript{{{i}}}~{escape_latex(s)}" for i, s in enumerate(table.sources, 1)]
        lines += [r"\par\footnotesize", " \\\\\n".join(notes)]
    return "\n".join([*lines, r"\end{table}"]) + "\n"


def print_rich(tables: list[Table], console=None) -> None:
    """Print to the terminal at its width: long text folds inside its cell, nothing is cut."""
    from rich.console import Console
    from rich.table import Table as RichTable

    console = console or Console(width=shutil.get_terminal_size((120, 24)).columns)
    for table in tables:
        headers, body = grid(table, RICH)
        # the caption at the terminal's width: as the table's title it would wrap at the table's
        console.print(plain(table.caption()), markup=False, highlight=False, overflow="fold")
        out = RichTable()
        for i, header in enumerate(headers):
            out.add_column(header, overflow="fold", min_width=None if i else 14)
        for row, cells in zip(table.rows, body, strict=True):
            out.add_row(*cells, style="dim" if row.kind == "reported" else None)
        console.print(out)
        if table.comparisons:
            title, columns = _comparison_title(table)
            console.print(plain(title), markup=False, highlight=False, overflow="fold")
            paired = RichTable()
            for column in columns:
                paired.add_column(RICH.text(column), overflow="fold")
            for cells in _comparison_rows(table.comparisons, RICH):
                paired.add_row(*cells)
            console.print(paired)
        if table.left_out:
            console.print(plain(table.left_out_note()), markup=False, highlight=False, overflow="fold")
        for i, source in enumerate(table.sources, 1):
            console.print(f"[{i}] {source}", markup=False, highlight=False, overflow="fold")


def rich_text(table: Table, width: int = 120) -> str:
    """What ``print_rich`` shows for a table at a terminal ``width``, as plain text."""
    from rich.console import Console

    console = Console(width=width, file=io.StringIO(), color_system=None)
    print_rich([table], console)
    return console.file.getvalue()


LONG_FORM_COLUMNS = ["table", "data", "metric", "row", "kind", "column", "mean", "std", "n", "best_published",
                     "gap_vs_reported", "p", "sources"]  # fmt: skip


def long_form(tables: list[Table]) -> pd.DataFrame:
    """One line per (table, row, column): mean, std, n, published value, gap, sources; then one line per paired
    difference (kind ``paired difference vs <method>``: the mean and std of the differences, the paired seeds
    and the paired t-test's p)."""
    records = []
    for table in tables:
        for row in table.rows:
            sources = "; ".join(table.sources[n - 1] for n in row.notes)
            for i, (label, cell) in enumerate(zip(table.column_labels, row.cells, strict=True)):
                records.append({
                    "table": table.name, "data": table.kind, "metric": table.metric,
                    "row": escape_csv(row.label), "kind": row.kind, "column": label,
                    "mean": cell.mean if row.kind == "measured" else cell.reported,
                    "std": cell.std if row.kind == "measured" and cell.by_seed else None,
                    "n": len(cell.by_seed) if row.kind == "measured" else None,
                    "best_published": cell.best if row.kind == "reported" else None,
                    "gap_vs_reported": row.gaps[i] if row.gaps else None, "sources": escape_csv(sources),
                })  # fmt: skip
        records += [{"table": table.name, "data": table.kind, "metric": table.metric, "row": escape_csv(c.row),
                     "kind": f"paired difference vs {table.reference}", "column": c.column, "mean": c.mean_difference,
                     "std": c.std_difference, "n": c.n, "p": c.p} for c in table.comparisons]  # fmt: skip
    return pd.DataFrame(records, columns=LONG_FORM_COLUMNS)


def render_comparison(rows: list[Comparison], a: str, b: str) -> str:
    from tabulate import tabulate

    body = [[r.column, str(r.n), fmt_number(r.mean_difference, "+.2f"), fmt_number(r.std_difference, ".2f"),
             fmt_number(r.t, ".2f"), fmt_number(r.p, ".3g")] for r in rows]  # fmt: skip
    headers = ["column", "paired seeds", f"mean {a} - {b}", "std", "t", "p (paired t-test)"]
    return tabulate(body, headers, tablefmt="github", disable_numparse=True) + "\n"
