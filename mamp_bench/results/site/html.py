"""HTML text: escaping, elements and the page around every page's content.

Everything that comes from a record or a published row (a method's name, a user's ``--set`` value, a source)
is text: it goes through ``esc``, never into markup. Links are relative, so the site works from the file
system and from any static host; a Content-Security-Policy allows only the site's own files (no request can
leave the machine, and no inline script or style runs)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

#: the page may load only its own scripts, styles and images; nothing else, from nowhere else
CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'"


def esc(text: object) -> str:
    """Text as HTML (quotes too, so it is safe in an attribute)."""
    return html.escape(str(text), quote=True)


def prose(text: object) -> str:
    """Text written for Markdown (a table's caption) as HTML: escaped, its `code` spans as code."""
    return re.sub(r"`([^`<>]+)`", r"<code>\1</code>", esc(text))


def attributes(attrs: dict[str, object]) -> str:
    """`` name="value"`` pairs; None and False leave an attribute out, True writes it bare; ``class_`` is
    ``class`` and ``data_x_y`` is ``data-x-y``."""
    parts = []
    for name, value in attrs.items():
        if value is None or value is False:
            continue
        name = name.rstrip("_").replace("_", "-")
        parts.append(f" {name}" if value is True else f' {name}="{esc(value)}"')
    return "".join(parts)


def el(tag: str, content: str = "", **attrs: object) -> str:
    """An element around ``content`` (already HTML)."""
    return f"<{tag}{attributes(attrs)}>{content}</{tag}>"


def link(href: str, text: str, **attrs: object) -> str:
    """A link with text (escaped here)."""
    return el("a", esc(text), href=href, **attrs)


def join(parts: Iterable[str], sep: str = "") -> str:
    return sep.join(parts)


def slug(text: str) -> str:
    """A file or anchor name from a label: lower-case letters, digits and dashes."""
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-") or "x"


def table(
    headers: list[tuple[str, dict[str, object]]],
    rows: Iterable[str],
    caption: str = "",
    sortable: bool = True,
    **attrs: object,
) -> str:
    """A data table: ``headers`` are (HTML, attributes of its ``th``); ``rows`` are ``<tr>`` elements."""
    head = "".join(el("th", text, scope="col", **extra) for text, extra in headers)
    classes = " ".join(c for c in ("data", "sortable" if sortable else "", str(attrs.pop("class_", ""))) if c)
    body = el("caption", caption) if caption else ""
    body += el("thead", el("tr", head)) + el("tbody", "".join(rows))
    return el("div", el("table", body, class_=classes, **attrs), class_="scroll")


def definitions(items: Iterable[tuple[str, str]]) -> str:
    """A description list of (term, HTML)."""
    return el("dl", "".join(el("dt", esc(term)) + el("dd", value) for term, value in items), class_="facts")


def page(title: str, content: str, depth: int, nav: list[tuple[str, str]], current: str, footer: str) -> str:
    """A whole page. ``depth``: how many folders below the site's root it is (its links climb that many);
    ``nav``: (label, path from the root) of the site's main pages."""
    root = "../" * depth
    items = "".join(
        el("li", el("a", esc(label), href=root + path, aria_current="page" if path == current else None))
        for label, path in nav
    )
    return (
        "<!doctype html>\n"
        f'<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{esc(CSP)}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="generator" content="mamp-bench site">\n'
        f"<title>{esc(title)} · mamp-bench</title>\n"
        f'<link rel="stylesheet" href="{root}assets/site.css">\n'
        f'<script src="{root}assets/site.js" defer></script>\n'
        "</head>\n<body>\n"
        f'<a class="skip" href="#main">Skip to the content</a>\n'
        f"<header>{el('nav', el('ul', items), aria_label='Site')}</header>\n"
        f'<main id="main">\n{content}\n</main>\n'
        f"<footer>{footer}</footer>\n</body>\n</html>\n"
    )
