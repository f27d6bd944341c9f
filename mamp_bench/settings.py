"""Where things live: the real-data root and the cache of generated data and runs.

Both are configured once, never hard-coded:

* real data: ``--data-root DIR`` or the ``MAMP_BENCH_DATA`` environment variable;
* generated data (the synthetic defaults) and shared pretrainings: ``MAMP_BENCH_CACHE``,
  else ``$XDG_CACHE_HOME/mamp-bench``, else ``~/.cache/mamp-bench``.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "MAMP_BENCH_DATA"
CACHE_ENV = "MAMP_BENCH_CACHE"


def data_root(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The real-data root, or None when none is configured."""
    value = explicit if explicit is not None else os.environ.get(DATA_ENV)
    return Path(value).expanduser() if value else None


def cache_dir() -> Path:
    value = os.environ.get(CACHE_ENV)
    if value:
        return Path(value).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "mamp-bench"


RUNS_ENV = "MAMP_BENCH_RUNS"


def runs_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Where runs (pretrainings, protocol runs) are written: ``--runs-dir``, ``MAMP_BENCH_RUNS``
    or ``./runs``."""
    value = explicit or os.environ.get(RUNS_ENV) or "runs"
    return Path(value).expanduser()
