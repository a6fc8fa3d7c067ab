"""The linter and the type checker, run with the suite: `ruff check` (pyproject.toml's [tool.ruff]: the package,
tests, benchmarks, launch.py and handler.py) and `mypy` (its [tool.mypy]: the package) must find nothing."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO


def run_module(*args: str, timeout: float) -> subprocess.CompletedProcess:
    """`python -m ARGS` from the repository root, with this interpreter (the virtualenv's tools)."""
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)


def test_ruff_finds_nothing():
    ruff = run_module("ruff", "check", "--no-fix", "--output-format", "concise", timeout=120)
    assert ruff.returncode == 0, f"ruff check (fix with `ruff check --fix` where it can):\n{ruff.stdout}{ruff.stderr}"


def test_mypy_finds_nothing():
    # The first run on a clean clone fills .mypy_cache (about 15 s on 2 cores); later runs read it.
    mypy = run_module("mypy", timeout=600)
    assert mypy.returncode == 0, f"mypy:\n{mypy.stdout}{mypy.stderr}"
