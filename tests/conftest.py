"""Shared fixtures and helpers: the real test data beside the repo, generated reduced-size weights, the
worker's environment, and small builders (gzip+base64 payloads, results archives, free ports)."""

from __future__ import annotations

import base64
import gzip
import io
import os
import socket
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Tests talk to 127.0.0.1 only: a code path that would fetch the official weights fails fast here.
os.environ["PARAMS_URL"] = "http://127.0.0.1:9/no-weights-in-tests.tar"
os.environ["ALPHAFOLD_MSA_DOWNLOAD_RETRIES"] = "0"
# ... and directly: a proxy named by the machine's environment would be another address to talk to.
for _proxy in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy", "all_proxy"):
    os.environ.pop(_proxy, None)
# Amber relaxation takes seconds to a minute per model on a CPU: tests relax only where they test it.
os.environ["ALPHAFOLD_MSA_RELAX"] = "none"
TESTDATA = REPO.parent / "shared" / "testdata"
# One persistent XLA compilation cache for the test run and every process it starts (the launcher and
# worker subprocesses compile the same reduced networks): each network compiles once, later processes
# load it. Kept between runs under the user's cache folder; set JAX_COMPILATION_CACHE_DIR to move it.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "alphafold-msa" / "test-compilation-cache"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
# An endpoint on this machine (nothing listens there): results links to 127.0.0.1 (moto's bucket) are allowed.
LOCAL_API = "http://127.0.0.1:9/v2/ep1"
# A one-atom model, as a worker returns `structure`.
PDB = "ATOM      1  N   MET A   1       0.000   0.000   0.000  1.00 80.00           N  \nEND\n"


@pytest.fixture(scope="session")
def testdata() -> Path:
    if not TESTDATA.is_dir():
        pytest.fail(f"test data not found at {TESTDATA} (expected ../shared/testdata beside the repo)")
    return TESTDATA


@pytest.fixture(scope="session")
def reduced_weights(tmp_path_factory) -> Path:
    """Random weights for the reduced config: monomer_ptm models 1-2, monomer model 1, multimer models 1-2."""
    from alphafold_msa.testing.make_weights import make_weights

    root = tmp_path_factory.mktemp("weights")
    make_weights(root, "reduced", seed=0, presets=["monomer_ptm"], numbers=[1, 2])
    make_weights(root, "reduced", seed=0, presets=["monomer"], numbers=[1])
    make_weights(root, "reduced", seed=0, presets=["multimer"], numbers=[1, 2])
    return root


@pytest.fixture
def worker_env(monkeypatch, reduced_weights, tmp_path) -> Path:
    """The worker's environment in this process: the session's reduced weights (PARAM_DIR,
    ALPHAFOLD_MSA_MODEL_CONFIG=reduced) and a WORKDIR under tmp_path, returned (not yet created)."""
    monkeypatch.setenv("PARAM_DIR", str(reduced_weights))
    monkeypatch.setenv("ALPHAFOLD_MSA_MODEL_CONFIG", "reduced")
    monkeypatch.setenv("WORKDIR", str(tmp_path / "work"))
    return tmp_path / "work"


@pytest.fixture(scope="session")
def small_msa_path(testdata) -> Path:
    """A small real alignment: ColabFold's 6A5J.a3m (a 13-residue query)."""
    return testdata / "colabfold" / "6A5J.a3m"


@pytest.fixture(scope="session")
def small_msa(small_msa_path) -> str:
    """The text of small_msa_path, as a job's `msa`."""
    return small_msa_path.read_text()


@pytest.fixture(scope="session")
def runners():
    """The worker's cache of model runners, shared by the session's in-process predictions and the
    worker's own jobs (handle_job), so each network compiles once per test session."""
    from alphafold_msa.worker.handler import RUNNERS

    return RUNNERS


@pytest.fixture(scope="session")
def reduced_runner(reduced_weights, runners):
    return runners.get(reduced_weights, "reduced", "monomer_ptm")


def run_launcher(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run launch.py as a user would, from the repo root."""
    return subprocess.run(
        [sys.executable, str(REPO / "launch.py"), *args],
        cwd=REPO, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})},
    )


def alignment_folder(folder: Path, testdata: Path, bad_name: str, bad_text: str) -> Path:
    """`folder` holding two small real alignments (6A5J.a3m, 20aa-alitest.afa) and one bad file."""
    import shutil

    folder.mkdir()
    shutil.copy(testdata / "colabfold" / "6A5J.a3m", folder)
    shutil.copy(testdata / "pfam" / "20aa-alitest.afa", folder)
    (folder / bad_name).write_text(bad_text)
    return folder


def gz_b64(data: bytes) -> str:
    """`data` gzip-compressed (fastest level) and base64-encoded, as a job's `msa_gz_b64` or a
    {"encoding": "gzip+base64"} payload."""
    return base64.b64encode(gzip.compress(data, compresslevel=1)).decode("ascii")


def tar_gz(members: dict[str, bytes]) -> bytes:
    """A results-style .tar.gz holding `members` (name -> bytes) as regular files, names as given (odd ones too)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listened on when asked (the probe socket is closed again)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
