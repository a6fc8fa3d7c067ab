"""The Dockerfile lints clean and only uses files and commands that CI exercises."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

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
    for name in ("handler.py", "launch.py", "start.sh", "test_input.json", "pyproject.toml"):
        assert name in dockerfile and (REPO / name).exists()
    ignored = (REPO / ".dockerignore").read_text().split()
    assert "tests" in ignored and ".venv" in ignored and "alphafold_msa" not in ignored
