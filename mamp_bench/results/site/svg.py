"""Inline SVG charts drawn by hand: lines over epochs, a confusion matrix, bars per class.

A few kilobytes each, no image files, no library; colours come from the stylesheet (``series-N``,
``heat``), text in the page's colour, so they follow a dark theme. Every chart has a title for screen
readers and the numbers it draws sit beside it in a table (the pages put them in ``<details>``)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mamp_bench.results.site.html import el, esc

#: how many colours the stylesheet defines (``.series-0`` ... ``.series-7``)
SERIES_COLOURS = 8


@dataclass
class Series:
    label: str
    x: list[float]
    y: list[float]


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round values covering [low, high] (steps of 1, 2, 2.5 or 5 times a power of ten)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return []
    if high <= low:
        high = low + 1.0
    raw = (high - low) / count
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 2.5, 5, 10) if raw <= step * m)
    first = math.floor(low / step) * step
    return [round(first + i * step, 10) for i in range(int(math.ceil((high - first) / step)) + 1)]


def _number(value: float) -> str:
    return f"{value:g}"


def line_chart(series: list[Series], title: str, xlabel: str, ylabel: str, width: int = 640, height: int = 280) -> str:
    """Lines (a dot at each point) on shared axes; the legend is HTML below the chart."""
    points = [(x, y) for s in series for x, y in zip(s.x, s.y, strict=True) if math.isfinite(y)]
    if not points:
        return ""
    left, right, top, bottom = 52, 12, 12, 40
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    xticks, yticks = nice_ticks(min(xs), max(xs), 6), nice_ticks(min(ys), max(ys), 5)
    x0, x1, y0, y1 = xticks[0], xticks[-1], yticks[0], yticks[-1]

    def sx(x: float) -> float:
        return left + (x - x0) / ((x1 - x0) or 1) * (width - left - right)

    def sy(y: float) -> float:
        return height - bottom - (y - y0) / ((y1 - y0) or 1) * (height - top - bottom)

    parts = [el("title", esc(title))]
    for t in yticks:
        parts.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{sy(t):.1f}" y2="{sy(t):.1f}"/>')
        parts.append(f'<text x="{left - 6}" y="{sy(t) + 4:.1f}" text-anchor="end">{_number(t)}</text>')
    for t in xticks:
        parts.append(f'<text x="{sx(t):.1f}" y="{height - bottom + 16}" text-anchor="middle">{_number(t)}</text>')
    parts.append(f'<line class="axis" x1="{left}" x2="{width - right}" y1="{height - bottom}" y2="{height - bottom}"/>')
    parts.append(
        f'<text x="{(left + width - right) / 2:.0f}" y="{height - 6}" text-anchor="middle">{esc(xlabel)}</text>'
    )
    parts.append(
        f'<text transform="rotate(-90)" x="{-(top + height - bottom) / 2:.0f}" y="14" '
        f'text-anchor="middle">{esc(ylabel)}</text>'
    )
    for i, s in enumerate(series):
        coords = [(sx(x), sy(y)) for x, y in zip(s.x, s.y, strict=True) if math.isfinite(y)]
        colour = f"series-{i % SERIES_COLOURS}"
        if len(coords) > 1:
            path = "M" + "L".join(f"{x:.1f} {y:.1f}" for x, y in coords)
            parts.append(f'<path class="line {colour}" d="{path}"/>')
        if len(coords) <= 40:
            parts += [f'<circle class="dot {colour}" cx="{x:.1f}" cy="{y:.1f}" r="2.5"/>' for x, y in coords]
    svg = (
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{esc(title)}">' + "".join(parts) + "</svg>"
    )
    legend = "".join(
        el("li", el("span", "", class_=f"swatch series-{i % SERIES_COLOURS}") + esc(s.label))
        for i, s in enumerate(series)
    )
    return el("figure", svg + el("ul", legend, class_="legend"), class_="chart")


def confusion_chart(confusion: np.ndarray, title: str, size: int = 420) -> str:
    """A heat map of a confusion matrix (rows: true class, columns: prediction), each row normalised to
    its total; eight shades, one path per shade."""
    classes = confusion.shape[0]
    margin = 34
    cell = (size - margin) / classes
    totals = confusion.sum(axis=1, keepdims=True)
    share = np.divide(confusion, totals, out=np.zeros(confusion.shape, dtype=float), where=totals > 0)
    shades: dict[int, list[str]] = {}
    for i, j in zip(*np.nonzero(share), strict=True):
        shade = min(8, int(math.ceil(share[i, j] * 8)))
        shades.setdefault(shade, []).append(
            f"M{margin + j * cell:.2f} {margin + i * cell:.2f}h{cell:.2f}v{cell:.2f}h-{cell:.2f}z"
        )
    parts = [
        el("title", esc(title)),
        f'<rect class="frame" x="{margin}" y="{margin}" width="{size - margin}" height="{size - margin}"/>',
    ]
    parts += [
        f'<path class="heat" fill-opacity="{shade / 8:.3f}" d="{"".join(cells)}"/>'
        for shade, cells in sorted(shades.items())
    ]
    step = max(1, int(nice_ticks(0, classes, 6)[1]))
    for k in range(0, classes, step):
        centre = margin + (k + 0.5) * cell
        parts.append(f'<text x="{centre:.1f}" y="{margin - 4}" text-anchor="middle">{k}</text>')
        parts.append(f'<text x="{margin - 4}" y="{centre + 4:.1f}" text-anchor="end">{k}</text>')
    parts.append(f'<text x="{margin + (size - margin) / 2:.0f}" y="11" text-anchor="middle">predicted class</text>')
    parts.append(
        f'<text transform="rotate(-90)" x="{-(margin + (size - margin) / 2):.0f}" y="11" '
        'text-anchor="middle">true class</text>'
    )
    return (
        f'<svg class="chart square" viewBox="0 0 {size} {size}" width="{size}" height="{size}" role="img" '
        f'aria-label="{esc(title)}">' + "".join(parts) + "</svg>"
    )


def bar_chart(values: list[float | None], title: str, ylabel: str, width: int = 640, height: int = 180) -> str:
    """One bar per class (0-100); a class without a test clip has no bar."""
    left, right, top, bottom = 40, 8, 8, 30
    count = max(len(values), 1)
    step = (width - left - right) / count

    def sy(y: float) -> float:
        return height - bottom - y / 100 * (height - top - bottom)

    bars = "".join(
        f"M{left + k * step + step * 0.1:.2f} {sy(0):.1f}V{sy(v):.1f}h{step * 0.8:.2f}V{sy(0):.1f}z"
        for k, v in enumerate(values)
        if v is not None
    )
    parts = [el("title", esc(title))]
    for t in (0, 25, 50, 75, 100):
        parts.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{sy(t):.1f}" y2="{sy(t):.1f}"/>')
        parts.append(f'<text x="{left - 4}" y="{sy(t) + 4:.1f}" text-anchor="end">{t}</text>')
    parts.append(f'<path class="bar" d="{bars}"/>')
    tick = max(1, int(nice_ticks(0, count, 6)[1]))
    parts += [
        f'<text x="{left + (k + 0.5) * step:.1f}" y="{height - bottom + 14}" text-anchor="middle">{k}</text>'
        for k in range(0, count, tick)
    ]
    parts.append(f'<text x="{(left + width - right) / 2:.0f}" y="{height - 3}" text-anchor="middle">class</text>')
    parts.append(
        f'<text transform="rotate(-90)" x="{-(top + height - bottom) / 2:.0f}" y="11" '
        f'text-anchor="middle">{esc(ylabel)}</text>'
    )
    return (
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{esc(title)}">' + "".join(parts) + "</svg>"
    )
