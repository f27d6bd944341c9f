"""Errors a user can cause. The CLI prints them as one line and exits with status 2."""

from __future__ import annotations


class UserError(Exception):
    """A mistake in the user's input (a missing folder, a wrong format, an unknown name).

    The message is one line that says what is wrong and, where possible, what to do.
    """


class DataFormatError(UserError):
    """A file is not in the format it claims to be in."""


class StorageError(UserError):
    """Writing a file failed (disk full, no permission, read-only file system); nothing was
    half-written and the previous version of the file, if any, is intact."""


class NonFiniteValue(UserError):
    """A NaN or infinite number where a feature, a prediction, a loss or a result must be finite: the run
    stops and writes no record."""
