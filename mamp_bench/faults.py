"""Fault injection for the kill-and-resume tests and the fault matrix.

Named points sit at every step of a run that matters for recovery: the training steps
(``pretrain-step``, ``protocol-step``), the preparation (``prepare-file``, ``prepare-sample``)
and every write (``<file name>@open``, ``@fsync``, ``@rename``, ``@renamed`` of an atomic write;
``log.jsonl@append`` and ``@appended`` of a log line). Three environment variables use them:

* ``MAMP_BENCH_KILL_AT=<point>:<n>``: the process kills itself with SIGKILL the n-th time it
  passes the point: no cleanup, no flush, as a crash or an out-of-memory kill would
  (``MAMP_BENCH_KILL_SIGNAL=INT`` sends SIGINT instead: what Ctrl-C sends);
* ``MAMP_BENCH_FAIL_AT=<point>:<n>:<errno name>``: the n-th passage raises ``OSError`` with that
  errno (``ENOSPC``: disk full, ``EACCES``: permission lost), at the points where a write can fail
  (``io=True``);
* ``MAMP_BENCH_FAULT_TRACE=<file>``: the name of every point passed is appended to the file (one a
  line, ``*`` after points where a write can fail), which is how the fault matrix lists them.

Unset, a point costs three dictionary lookups.
"""

from __future__ import annotations

import errno
import os
import signal

KILL_ENV = "MAMP_BENCH_KILL_AT"
FAIL_ENV = "MAMP_BENCH_FAIL_AT"
TRACE_ENV = "MAMP_BENCH_FAULT_TRACE"

_counts: dict[str, int] = {}


def point(where: str, io: bool = False) -> None:
    """Pass the fault point ``where`` (``io``: a write there can fail with an ``OSError``)."""
    kill, fail, trace = os.environ.get(KILL_ENV), os.environ.get(FAIL_ENV), os.environ.get(TRACE_ENV)
    if not (kill or fail or trace):
        return
    _counts[where] = _counts.get(where, 0) + 1
    if trace:
        with open(trace, "a") as handle:
            handle.write(f"{where}{' *' if io else ''}\n")
    if kill and _matches(kill, where, 1):
        os.kill(os.getpid(), getattr(signal, f"SIG{os.environ.get('MAMP_BENCH_KILL_SIGNAL', 'KILL')}"))
    if fail and io and _matches(fail, where, 2):
        code = getattr(errno, fail.rsplit(":", 1)[1])
        raise OSError(code, os.strerror(code))


def _matches(spec: str, where: str, fields_after: int) -> bool:
    """Whether ``spec`` (``<point>:<n>[:...]``) names this passage of ``where``."""
    parts = spec.rsplit(":", fields_after)
    return parts[0] == where and _counts[where] == int(parts[1])


class FaultPoints:
    """The training loop's fault point after every step (``<kind>-step``), as a loop service."""

    def __init__(self, name: str):
        self.name = name

    def start(self, first_epoch: int, steps_per_epoch: int) -> None:
        pass

    def step(self, step: int, values: dict[str, float]) -> None:
        point(self.name)

    def epoch(self, step: int, record: dict) -> None:
        pass

    def close(self) -> None:
        pass


def reset() -> None:
    """Forget how often each point was passed (for fault injection in one process, run after run)."""
    _counts.clear()
