"""mamp-bench: a benchmark and comparison suite for self-supervised 3D skeleton action recognition.

Python API: ``build_method``, ``load_encoder``, ``extract_features``, ``run`` (imported on first use);
plugins import from ``mamp_bench.extend``. Importing the package does nothing else.
"""

from mamp_bench.version import __version__

__all__ = ["build_method", "load_encoder", "extract_features", "run", "__version__"]


def __getattr__(name: str):
    if name in ("build_method", "load_encoder", "extract_features", "run"):
        from mamp_bench import api

        return getattr(api, name)
    raise AttributeError(f"module 'mamp_bench' has no attribute {name!r}")
