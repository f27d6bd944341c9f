"""A researcher's first day: what a fresh clone, the README and the command line promise, tried from
the user's side (the test command's summary, the command line, the Python API)."""

from __future__ import annotations

import os
import subprocess
import sys

from .conftest import REPO, REQUIRE_ENV, SHARED_ENV


def _pytest(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], cwd=REPO,
                          capture_output=True, text=True, env={**os.environ, **env}, timeout=300)  # fmt: skip


def test_tests_needing_the_real_samples_say_so_and_fail_where_they_are_required(tmp_path):
    """Without the shared folder the summary names the tests and the variable; with REQUIRE_ENV they error."""
    selection = ["tests/test_pku.py", "-k", "real_phase2"]
    absent = {SHARED_ENV: str(tmp_path), REQUIRE_ENV: ""}
    skipped = _pytest(absent, *selection)
    assert skipped.returncode == 0, skipped.stdout
    assert "2 skipped" in skipped.stdout
    assert "2 tests need the real samples and skipped" in skipped.stdout and f"set {SHARED_ENV}=DIR" in skipped.stdout
    required = _pytest({**absent, REQUIRE_ENV: "1"}, *selection)
    assert required.returncode == 1 and "2 errors" in required.stdout  # failed in their fixture
    assert f"{REQUIRE_ENV} is set but {tmp_path}/data/real-samples not found" in required.stdout
