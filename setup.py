"""Packages: ``mamp_bench`` plus the top-level ``baselines/`` and ``protocols/`` folders, which install
inside the suite's namespace (``mamp_bench.baselines``, ``mamp_bench.protocols``) so that their
generic names cannot collide with another project's. Everything else is in pyproject.toml."""

from setuptools import find_packages, setup

PLUGINS = {"mamp_bench.baselines": "baselines", "mamp_bench.protocols": "protocols"}

setup(
    packages=find_packages(include=["mamp_bench", "mamp_bench.*"]) + list(PLUGINS),
    package_dir=PLUGINS,
)
