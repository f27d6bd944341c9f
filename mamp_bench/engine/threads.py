"""How idle CPU threads wait: set by the command line before torch is first imported (``cli.main``).

torch's CPU build runs its parallel regions on GNU OpenMP (libgomp). By default a libgomp thread
that reaches the end of a region spins (up to 300,000 turns, about a millisecond) before it sleeps,
so that the next region starts without a wake-up. On a machine whose cores are shared with other
work, that spinning burns the time slice that the thread it waits for needs: the step of the smoke
model took 6x longer, and the paper model's micro-batched step (many short regions) lost more than
the reference's whole-batch step (few long ones). ``OMP_WAIT_POLICY=PASSIVE`` makes idle threads
sleep at once; it costs a wake-up per region, which the measurements in ``benchmarks/cpu_profile.py``
(README, Performance) put within the noise on an otherwise idle machine.

libgomp reads the variable once, when it is loaded (``import torch``), so it is set where the process
starts: the command line (``mamp-bench``, ``python -m mamp_bench``, ``torchrun -m mamp_bench``) calls
``configure_openmp`` first; a script calls it before ``import torch`` (importing the package sets nothing).
A value the user set, for ``OMP_WAIT_POLICY`` or libgomp's own ``GOMP_SPINCOUNT``, is kept.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping

#: what the suite sets unless the user chose a waiting behaviour
WAIT_POLICY = "PASSIVE"


def configure_openmp(environ: MutableMapping[str, str] = os.environ) -> bool:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` if torch is not loaded yet and the user set no waiting
    behaviour; whether it was set."""
    if "torch" in sys.modules or "OMP_WAIT_POLICY" in environ or "GOMP_SPINCOUNT" in environ:
        return False
    environ["OMP_WAIT_POLICY"] = WAIT_POLICY
    return True
