"""The Dockerfile lints clean and only uses files and commands that CI exercises."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO


def test_hadolint_passes():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    completed = subprocess.run([hadolint, "Dockerfile"], cwd=REPO, capture_output=True, text=True)
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_image_installs_with_the_ci_constraints_and_starts_with_start_sh():
    dockerfile = (REPO / "Dockerfile").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    assert "-c requirements/constraints.txt" in dockerfile and "-c requirements/constraints.txt" in ci
    assert 'CMD ["/app/start.sh"]' in dockerfile
    apt_line = next(line for line in dockerfile.splitlines() if "apt-get install" in line)
    assert "ca-certificates" in apt_line, "a plain Ubuntu base has no CA store: the SDK's HTTPS would fail"
    assert "JAX_PLATFORMS=cuda" in dockerfile, "a worker that cannot reach its GPU must fail, not run on the CPU"
    for name in ("handler.py", "launch.py", "start.sh", "test_input.json", "pyproject.toml"):
        assert name in dockerfile and (REPO / name).exists()
    ignored = (REPO / ".dockerignore").read_text().split()
    assert "tests" in ignored and ".venv" in ignored and "alphafold_msa" not in ignored


def image_pip_arguments() -> list[str]:
    """The arguments of the Dockerfile's `RUN pip install` line."""
    import shlex

    line = next(line for line in (REPO / "Dockerfile").read_text().splitlines() if line.startswith("RUN pip install"))
    return shlex.split(line)[3:]


@pytest.mark.slow
def test_the_image_pip_line_resolves_for_the_image_python_and_platform(tmp_path):
    """pip resolves the image's requirements for CPython 3.12 on glibc 2.39 (Ubuntu 24.04), with the CUDA wheels."""
    import json

    dockerfile = (REPO / "Dockerfile").read_text()
    assert "FROM ubuntu:24.04" in dockerfile, "the platform below is Ubuntu 24.04's: update both together"
    arguments = image_pip_arguments()
    platforms = [f"manylinux_2_{n}_x86_64" for n in range(39, 16, -1)] + ["manylinux2014_x86_64", "manylinux1_x86_64"]
    pip = [sys.executable, "-m", "pip"]
    # pdbfixer is published as a source distribution only: build its (pure-Python) wheel first.
    built = subprocess.run([*pip, "wheel", "-q", "--no-deps", "-w", str(tmp_path / "wheels"),
                            "-c", "requirements/constraints.txt", "pdbfixer"],
                           cwd=REPO, capture_output=True, text=True, timeout=300)
    unreachable = ("NewConnectionError", "Max retries", "timed out")
    if built.returncode != 0 and any(word in built.stderr for word in unreachable):
        pytest.skip(f"the package registry is unreachable: {built.stderr.strip().splitlines()[-1]}")
    assert built.returncode == 0, built.stderr
    report = tmp_path / "report.json"
    resolved = subprocess.run(
        [*pip, "install", "--dry-run", "--ignore-installed", "-q", "--report", str(report),
         "--find-links", str(tmp_path / "wheels"), "--python-version", "3.12", "--implementation", "cp",
         "--abi", "cp312", *[f"--platform={p}" for p in platforms], "--only-binary=:all:",
         "--target", str(tmp_path / "never"), *arguments],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert resolved.returncode == 0, resolved.stderr[-3000:]
    installed = {item["metadata"]["name"].lower(): item["metadata"]["version"]
                 for item in json.loads(report.read_text())["install"]}
    assert installed["jax-cuda12-plugin"] == installed["jax"] == "0.10.2"
    assert installed["openmm-cuda-12"] == installed["openmm"]
    assert {"nvidia-cudnn-cu12", "nvidia-cublas-cu12", "nvidia-cuda-nvcc-cu12"} <= set(installed)
    constraints = {line.split("==")[0].lower(): line.split("==")[1]
                   for line in (REPO / "requirements" / "constraints.txt").read_text().splitlines() if "==" in line}
    unpinned = sorted(name for name in installed if name not in constraints and name != "alphafold-msa")
    assert not unpinned, f"not pinned in requirements/constraints.txt: {unpinned}"
