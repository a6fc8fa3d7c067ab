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
    assert "ca-certificates" in apt_line, "a slim Debian base has no CA store: the SDK's HTTPS would fail"
    assert "JAX_PLATFORMS=cuda" in dockerfile, "a worker that cannot reach its GPU must fail, not run on the CPU"
    assert "ARG JAX_CUDA=cuda12" in dockerfile, "CUDA 12 by default: it runs on the most drivers"
    assert dockerfile.index("pip install -c requirements/constraints.txt") < dockerfile.index("COPY alphafold_msa"), (
        "the dependencies are installed before the code is copied, so a code change rebuilds only the last layers")
    for name in ("handler.py", "launch.py", "start.sh", "test_input.json", "pyproject.toml"):
        assert name in dockerfile and (REPO / name).exists()
    ignored = (REPO / ".dockerignore").read_text().split()
    assert "tests" in ignored and ".venv" in ignored and "alphafold_msa" not in ignored


def dependency_step(jax_cuda: str) -> tuple[str, list[str]]:
    """The Dockerfile's dependency step with JAX_CUDA=`jax_cuda`: the Python code that writes the requirements
    file from pyproject.toml, and the arguments of its `pip install`."""
    import shlex

    dockerfile = (REPO / "Dockerfile").read_text().replace("${JAX_CUDA}", jax_cuda)
    step = dockerfile[dockerfile.index("RUN --mount=type=secret"):].split("\n\n")[0].replace("\\\n", " ")
    commands = [shlex.split(command) for command in step.split(" && ")]
    code = next(command[2] for command in commands if command[:2] == ["python", "-c"])
    pip = next(command for command in commands if command[:2] == ["pip", "install"])
    return code, pip[2:]


def python_313_dependencies(report: dict) -> set[str]:
    """Packages that the resolved ones require only on Python 3.13 (pip, run by another Python, evaluates
    the markers for that one): pdbfixer's legacy-cgi, for instance."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    environment = {"python_version": "3.13", "python_full_version": "3.13.5", "implementation_name": "cpython",
                   "platform_python_implementation": "CPython", "sys_platform": "linux", "platform_system": "Linux",
                   "platform_machine": "x86_64", "os_name": "posix", "extra": ""}
    needed = set()
    for item in report["install"]:
        for text in item["metadata"].get("requires_dist", []):
            requirement = Requirement(text)
            if requirement.marker is not None and requirement.marker.evaluate(environment):
                needed.add(canonicalize_name(requirement.name))
    return needed


@pytest.mark.slow
@pytest.mark.parametrize("jax_cuda, cuda_wheels", [
    ("cuda12", {"nvidia-cudnn-cu12", "nvidia-cublas-cu12", "nvidia-cuda-nvcc-cu12"}),
    ("cuda13", {"nvidia-cudnn-cu13", "nvidia-cublas", "nvidia-cuda-nvcc"}),
])
def test_the_image_dependencies_resolve_for_the_image_python_and_platform(tmp_path, jax_cuda, cuda_wheels):
    """pip resolves the image's dependency step for CPython 3.13 on glibc 2.41 (Debian trixie), with either set of
    CUDA wheels, every package pinned."""
    import json

    from packaging.utils import canonicalize_name

    dockerfile = (REPO / "Dockerfile").read_text()
    assert "FROM debian:trixie-slim" in dockerfile, "the platform below is Debian trixie's: update both together"
    code, arguments = dependency_step(jax_cuda)
    requirements = tmp_path / "worker-requirements.txt"
    requirements.write_text(subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                                           check=True).stdout)
    arguments[arguments.index("/tmp/worker-requirements.txt")] = str(requirements)
    platforms = [f"manylinux_2_{n}_x86_64" for n in range(41, 16, -1)] + ["manylinux2014_x86_64", "manylinux1_x86_64"]
    pip = [sys.executable, "-m", "pip"]
    # pdbfixer is published as a source distribution only: build its (pure-Python) wheel first.
    built = subprocess.run([*pip, "wheel", "-q", "--no-deps", "-w", str(tmp_path / "wheels"),
                            "-c", "requirements/constraints.txt", "pdbfixer"],
                           cwd=REPO, capture_output=True, text=True, timeout=300)
    unreachable = ("NewConnectionError", "Max retries", "timed out")
    if built.returncode != 0 and any(word in built.stderr for word in unreachable):
        pytest.skip(f"the package registry is unreachable: {built.stderr.strip().splitlines()[-1]}")
    assert built.returncode == 0, built.stderr
    report_path = tmp_path / "report.json"
    resolved = subprocess.run(
        [*pip, "install", "--dry-run", "--ignore-installed", "-q", "--report", str(report_path),
         "--find-links", str(tmp_path / "wheels"), "--python-version", "3.13", "--implementation", "cp",
         "--abi", "cp313", *[f"--platform={p}" for p in platforms], "--only-binary=:all:",
         "--target", str(tmp_path / "never"), *arguments],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert resolved.returncode == 0, resolved.stderr[-3000:]
    report = json.loads(report_path.read_text())
    installed = {item["metadata"]["name"].lower(): item["metadata"]["version"] for item in report["install"]}
    assert installed[f"jax-{jax_cuda}-plugin"] == installed["jax"] == "0.10.2"
    assert installed[f"openmm-cuda-{jax_cuda.removeprefix('cuda')}"] == installed["openmm"]
    assert cuda_wheels <= set(installed)
    constraints = {line.split("==")[0].lower(): line.split("==")[1]
                   for line in (REPO / "requirements" / "constraints.txt").read_text().splitlines() if "==" in line}
    unpinned = sorted(name for name in installed if name not in constraints)
    assert not unpinned, f"not pinned in requirements/constraints.txt: {unpinned}"
    pinned = {canonicalize_name(name) for name in constraints}
    assert python_313_dependencies(report) <= pinned, "a dependency that only Python 3.13 installs is not pinned"
    if jax_cuda == "cuda12":
        # The default image's CUDA release (NVRTC, ptxas) is the oldest driver CUDA version the Hub may pick.
        hub = json.loads((REPO / ".runpod" / "hub.json").read_text())
        release = ".".join(installed["nvidia-cuda-nvrtc-cu12"].split(".")[:2])
        assert min(hub["config"]["allowedCudaVersions"], key=lambda v: tuple(map(int, v.split(".")))) == release
