"""The suite's version, recorded in every run and record."""

__version__ = "0.1.0"
