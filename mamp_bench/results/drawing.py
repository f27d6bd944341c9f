"""Drawing helpers shared by the figures: matplotlib on the file-only backend, panel grids, saving."""

from __future__ import annotations

from pathlib import Path

from mamp_bench.errors import UserError


def pyplot():
    """matplotlib's pyplot on the file-only backend."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UserError("plotting needs matplotlib: pip install matplotlib") from None
    return plt


def save(plt, fig, path: Path) -> Path:
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def panel_grid(plt, count: int, width: float = 5.0, height: float = 3.6):
    """A figure with ``count`` panels, at most three a row; the panels, in reading order."""
    cols = min(3, count)
    rows = -(-count // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    for ax in axes.flat[count:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:count])
