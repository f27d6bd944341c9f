"""Fault injection for the kill-and-resume tests.

``MAMP_BENCH_KILL_AT=<where>:<n>`` makes the process kill itself with SIGKILL the n-th time it
passes the named point (for example ``pretrain-step:7``): no cleanup, no flush, as a crash or
an out-of-memory kill would. ``MAMP_BENCH_KILL_SIGNAL=INT`` sends SIGINT instead: what Ctrl-C sends.
Unset, this costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

_counts: dict[str, int] = {}


def point(where: str) -> None:
    spec = os.environ.get("MAMP_BENCH_KILL_AT")
    if not spec:
        return
    target, _, count = spec.rpartition(":")
    if target != where:
        return
    _counts[where] = _counts.get(where, 0) + 1
    if _counts[where] == int(count):
        os.kill(os.getpid(), getattr(signal, f"SIG{os.environ.get('MAMP_BENCH_KILL_SIGNAL', 'KILL')}"))
