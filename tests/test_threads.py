"""Idle OpenMP threads sleep instead of spinning when the suite is imported before torch
(``engine/threads.py``), and a user's own choice is kept."""

from __future__ import annotations

import os
import subprocess
import sys

from mamp_bench.engine.threads import configure_openmp


def _policy_after(code: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    script = f"{code}; import os; print(os.environ.get('OMP_WAIT_POLICY', 'unset'))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env={**clean, **env})
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_importing_the_suite_first_makes_idle_threads_sleep():
    assert _policy_after("import mamp_bench") == "PASSIVE"
    assert _policy_after("import mamp_bench.cli") == "PASSIVE"  # what the command line imports first


def test_a_users_choice_is_kept():
    assert _policy_after("import mamp_bench", OMP_WAIT_POLICY="ACTIVE") == "ACTIVE"
    assert _policy_after("import mamp_bench", GOMP_SPINCOUNT="10000") == "unset"


def test_nothing_changes_once_torch_is_loaded():
    # libgomp has read its environment by then: setting the variable would only mislead
    import torch  # noqa: F401

    environ: dict[str, str] = {}
    assert configure_openmp(environ) is False and environ == {}
