"""Drawing helpers shared by the figures: matplotlib on the file-only backend, panel grids with their legends
outside the data, one colour per method for every panel and figure, panel titles that name the data, saving."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from mamp_bench.data.specs import DATASETS, get_dataset
from mamp_bench.errors import UserError
from mamp_bench.registry import METHODS

#: how the lines of one method's settings in a panel differ (its colour is the method's)
LINE_STYLES = ("-", "--", ":", "-.")


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
    """Write ``fig`` as a PNG (the legends outside the panels included) and close it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def panel_grid(plt, count: int, width: float = 5.0, height: float = 3.6, columns: int = 2):
    """A figure with ``count`` panels, at most ``columns`` a row, room beside each for its legend; the panels,
    in reading order."""
    cols = min(columns, count)
    rows = -(-count // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False, layout="constrained")
    for ax in axes.flat[count:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:count])


def legend_outside(ax, **kwargs) -> None:
    """The panel's legend to the right of its axes, never over the data; one entry per label."""
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    ax.legend(unique.values(), unique.keys(), loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0,
              fontsize="small", **kwargs)  # fmt: skip


def method_order(methods: Iterable[str] = ()) -> list[str]:
    """The registered methods in the tables' order (their ``table_rank``, then name), then any other method
    named (records of a plugin that is not installed here), by name."""
    from mamp_bench.results.tables import method_rank

    registered = sorted(METHODS.names(), key=method_rank)
    return registered + sorted(set(methods) - set(registered))


def method_colours(methods: Iterable[str] = ()) -> dict[str, str]:
    """One colour per method, the same in every panel and every figure of a ``plot``: matplotlib's
    qualitative palette (tab10; tab20 beyond 10 methods) in ``method_order``."""
    order = method_order(methods)
    palette = "tab10" if len(order) <= 10 else "tab20"
    import matplotlib

    colours = matplotlib.colormaps[palette].colors
    return {method: matplotlib.colors.to_hex(colours[i % len(colours)]) for i, method in enumerate(order)}


def is_synthetic(dataset: str) -> bool:
    """Whether a dataset name is one of the synthetic stand-ins."""
    return dataset in DATASETS and get_dataset(dataset).synthetic


def data_title(datasets: Iterable[str], synthetic: bool | None = None) -> str:
    """What a title says about the data: the datasets, and "synthetic data" when it is (``synthetic`` given:
    as the records say; else by the datasets' names)."""
    names = sorted(set(datasets))
    marked = any(is_synthetic(name) for name in names) if synthetic is None else synthetic
    return ", ".join(names) + (" (synthetic data)" if marked else "")
