"""Idle OpenMP threads sleep instead of spinning when the command line starts (``engine/threads.py``),
a user's own choice is kept, and importing the package changes nothing."""

from __future__ import annotations

import os
import subprocess
import sys

from mamp_bench.engine.threads import configure_openmp


def _policy_after(code: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    script = f"{code}\nimport os\nprint(os.environ.get('OMP_WAIT_POLICY', 'unset'))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env={**clean, **env})
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


#: what ``mamp-bench``, ``python -m mamp_bench`` and ``torchrun -m mamp_bench`` run first
COMMAND_LINE = "from mamp_bench.cli import main\ntry:\n    main(['--version'])\nexcept SystemExit:\n    pass"


def test_the_command_line_makes_idle_threads_sleep_and_an_import_does_not():
    assert _policy_after(COMMAND_LINE) == "PASSIVE"
    assert _policy_after("import mamp_bench, mamp_bench.extend, mamp_bench.cli") == "unset"  # no side effect


def test_a_users_choice_is_kept():
    assert _policy_after(COMMAND_LINE, OMP_WAIT_POLICY="ACTIVE") == "ACTIVE"
    assert _policy_after(COMMAND_LINE, GOMP_SPINCOUNT="10000") == "unset"


def test_nothing_changes_once_torch_is_loaded():
    # libgomp has read its environment by then: setting the variable would only mislead
    import torch  # noqa: F401

    environ: dict[str, str] = {}
    assert configure_openmp(environ) is False and environ == {}
