"""The installed distribution: its `alphafold-msa` command is launch.py's entry point, and the package is
marked as typed (PEP 561)."""

from __future__ import annotations

import runpy
import subprocess
import sysconfig
from importlib.metadata import distribution
from pathlib import Path

import pytest
from conftest import REPO, run_launcher

import alphafold_msa

COMMAND = "alphafold-msa"


def _pyproject() -> dict:
    tomllib = pytest.importorskip("tomllib")
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def test_the_console_script_is_declared_and_installed_as_launch_pys_main():
    declared = _pyproject()["project"]["scripts"]
    assert declared == {COMMAND: "alphafold_msa.launcher.cli:main"}
    installed = {entry.name: entry for entry in distribution("alphafold-msa").entry_points
                 if entry.group == "console_scripts"}
    assert {name: entry.value for name, entry in installed.items()} == declared, (
        "the installed metadata is stale: reinstall with pip install -e '.[worker,test]'")
    launch_py = runpy.run_path(str(REPO / "launch.py"))  # not as __main__: defines `main`, runs nothing
    assert installed[COMMAND].load() is launch_py["main"]


def test_the_command_checks_an_alignment_as_launch_py_does(small_msa_path, tmp_path):
    script = Path(sysconfig.get_path("scripts")) / COMMAND
    assert script.is_file(), f"{script} is missing: reinstall with pip install -e '.[worker,test]'"
    command = subprocess.run([str(script), "--check", "--msa", str(small_msa_path)], cwd=tmp_path,
                             capture_output=True, text=True, timeout=120)
    reference = run_launcher("--check", "--msa", str(small_msa_path), timeout=120)
    assert command.returncode == reference.returncode == 0, command.stderr
    assert command.stdout == reference.stdout and '"query_length": 13' in command.stdout
    bad = subprocess.run([str(script), "--models", "7"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "--models" in bad.stderr, "main()'s exit code is the command's"


def test_the_package_is_marked_typed():
    assert (Path(alphafold_msa.__file__).parent / "py.typed").is_file()
    assert "py.typed" in _pyproject()["tool"]["setuptools"]["package-data"]["alphafold_msa"]
