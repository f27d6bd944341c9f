"""mamp-bench: a benchmark and comparison suite for self-supervised 3D skeleton action recognition."""

__version__ = "0.1.0"
