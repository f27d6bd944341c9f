"""Development sessions: ``nox -s tests`` (the default suite), ``nox -s lint``, and the slow suites.

Every session installs the suite with ``torch==2.13.0``: on a CPU machine with the local wheel
(see the README) that is the CPU build; elsewhere pip takes the default (CUDA) build. Set
``MAMP_BENCH_TORCH`` to another requirement (for example ``torch==2.5.1``) to test against it.
"""

from __future__ import annotations

import os

import nox

nox.options.sessions = ["tests", "lint"]
nox.options.reuse_existing_virtualenvs = True

TORCH = os.environ.get("MAMP_BENCH_TORCH", "torch==2.13.0")
RUFF = "ruff==0.17.6"


def install_suite(session: nox.Session, extras: str = "dev") -> None:
    session.install(TORCH)
    session.install("-e", f".[{extras}]")


@nox.session
def tests(session: nox.Session) -> None:
    """The default test suite (fast: a few minutes on 2 cores)."""
    install_suite(session)
    session.run("pytest", "-q", *session.posargs)


@nox.session
def slow(session: nox.Session) -> None:
    """The slow tests (marked ``slow``), excluded from the default suite."""
    install_suite(session)
    session.run("pytest", "-q", "-m", "slow", *session.posargs)


@nox.session
def stress(session: nox.Session) -> None:
    """Every test, the slow fault injections included, with 3000 fuzzing examples a property."""
    install_suite(session)
    session.env["MAMP_BENCH_FUZZ_EXAMPLES"] = "3000"
    session.run("pytest", "-q", "-m", "slow or not slow", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install(RUFF)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def site(session: nox.Session) -> None:
    """The leaderboard site of the committed ``results/`` (``results/site/``, opened from the file system);
    ``nox -s site -- --out DIR`` elsewhere."""
    install_suite(session)
    session.run("mamp-bench", "site", "--results-dir", "results", "--out", "results/site", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Throughput benchmarks; prints tables (medians and spreads, the machine named)."""
    install_suite(session)
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session
def readme(session: nox.Session) -> None:
    """The README's examples, written from real runs (scripts/readme_examples.py): the tables from the committed
    records, then a quick start in a scratch clone for the zoo listing and the figures; ``-- --only tables``
    skips the run."""
    install_suite(session)
    session.run("python", "scripts/readme_examples.py", *session.posargs)


@nox.session
def reproduce(session: nox.Session) -> None:
    """The paper's matrix: smoke scale on the synthetic data by default (regenerates results/*.md and
    results/figures/); ``nox -s reproduce -- --scale paper --data-root DIR`` for the published recipe on
    real data; ``nox -s reproduce -- --dry-run`` prints the plan and writes nothing."""
    install_suite(session)
    session.run("mamp-bench", "reproduce", *session.posargs)
