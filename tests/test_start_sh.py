"""The real start.sh provisioning weights from a local HTTP server: every failure mode."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from conftest import REPO
from weights_server import WeightsServer

MODELS = "model_1_ptm"


@pytest.fixture(scope="module")
def archive(reduced_weights, tmp_path_factory) -> bytes:
    from alphafold_msa.testing.make_weights import write_tar

    path = tmp_path_factory.mktemp("tar") / "params.tar"
    write_tar([reduced_weights / "params" / "params_model_1_ptm.npz"], path)
    return path.read_bytes()


def start_sh(param_dir: Path, url: str, *args: str, env: dict | None = None, wait: bool = True):
    environment = {**os.environ, "PARAM_DIR": str(param_dir), "PARAMS_URL": url, "ALPHAFOLD_MODELS": MODELS,
                   "PYTHON": sys.executable, "ALPHAFOLD_MSA_DOWNLOAD_RETRIES": "2", **(env or {})}
    command = ["bash", str(REPO / "start.sh"), *(args or ("true",))]
    if not wait:
        return subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=300)


def assert_complete(param_dir: Path, archive: bytes) -> None:
    manifest = json.loads((param_dir / "params" / "MANIFEST.json").read_text())
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        expected = tar.extractfile("params_model_1_ptm.npz").read()
    entry = manifest["files"]["params_model_1_ptm.npz"]
    assert entry["size"] == len(expected) and entry["sha256"] == hashlib.sha256(expected).hexdigest()
    assert (param_dir / "params" / "params_model_1_ptm.npz").read_bytes() == expected
    assert not list(param_dir.glob(".params.tmp-*"))


def test_first_download_then_already_present(tmp_path, archive):
    with WeightsServer(archive) as server:
        first = start_sh(tmp_path, server.url)
        assert first.returncode == 0, first.stderr
        assert_complete(tmp_path, archive)
        again = start_sh(tmp_path, server.url)
        assert again.returncode == 0, again.stderr
        assert server.downloads() == 1, "an already complete volume makes no request"
    assert "weights present" in again.stderr
    assert not (tmp_path / ".download" / "alphafold_params.tar.partial").exists()


def test_arguments_replace_the_worker_and_the_cache_is_on_the_volume(tmp_path, archive):
    with WeightsServer(archive) as server:
        completed = start_sh(tmp_path, server.url, "bash", "-c", 'echo "cache=$JAX_COMPILATION_CACHE_DIR"')
    assert completed.returncode == 0, completed.stderr
    assert f"cache={tmp_path}/jax-cache" in completed.stdout


def test_resumes_a_download_killed_midway(tmp_path, archive):
    partial = tmp_path / ".download" / "alphafold_params.tar.partial"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(archive[: len(archive) * 2 // 5])
    with WeightsServer(archive) as server:
        completed = start_sh(tmp_path, server.url)
    assert completed.returncode == 0, completed.stderr
    assert server.requests[0]["range"] == f"bytes={len(archive) * 2 // 5}-"
    assert_complete(tmp_path, archive)


def test_connection_dropped_midway_is_retried_and_resumed(tmp_path, archive):
    with WeightsServer(archive) as server:
        server.cut_after = len(archive) // 3
        completed = start_sh(tmp_path, server.url)
    assert completed.returncode == 0, completed.stderr
    assert server.downloads() == 2 and server.requests[1]["range"] is not None
    assert_complete(tmp_path, archive)


def test_truncated_archive_fails_clearly_and_leaves_nothing_that_looks_complete(tmp_path, archive):
    with WeightsServer(archive[: len(archive) // 2]) as server:
        completed = start_sh(tmp_path, server.url)
    assert completed.returncode != 0
    assert "damaged or incomplete" in completed.stderr and "Traceback" not in completed.stderr
    assert not (tmp_path / "params" / "MANIFEST.json").exists()
    assert not (tmp_path / ".download" / "alphafold_params.tar.partial").exists()


def test_damaged_manifest_triggers_a_repair(tmp_path, archive):
    with WeightsServer(archive) as server:
        assert start_sh(tmp_path, server.url).returncode == 0
        with open(tmp_path / "params" / "params_model_1_ptm.npz", "r+b") as handle:
            handle.truncate(1000)
        repaired = start_sh(tmp_path, server.url)
        assert server.downloads() == 2
    assert repaired.returncode == 0, repaired.stderr
    assert_complete(tmp_path, archive)


def test_member_escaping_the_folder_is_refused(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name in ("params_model_1_ptm.npz", "../evil.sh"):
            info = tarfile.TarInfo(name)
            info.size = 4
            tar.addfile(info, io.BytesIO(b"data"))
    with WeightsServer(buffer.getvalue()) as server:
        completed = start_sh(tmp_path, server.url)
    assert completed.returncode != 0 and "refusing member '../evil.sh'" in completed.stderr
    assert not (tmp_path.parent / "evil.sh").exists() and not (tmp_path / "params").exists()


def test_missing_archive_member_is_named(tmp_path, archive):
    with WeightsServer(archive) as server:
        completed = start_sh(tmp_path, server.url, env={"ALPHAFOLD_MODELS": "model_1_ptm,model_2_ptm"})
    assert completed.returncode != 0 and "lacks params_model_2_ptm.npz" in completed.stderr


def test_404_is_not_retried(tmp_path, archive):
    with WeightsServer(archive) as server:
        completed = start_sh(tmp_path, server.url.replace("params.tar", "nothing.tar"))
        assert server.downloads() == 0 and len(server.requests) == 1
    assert completed.returncode != 0 and "HTTP 404" in completed.stderr and "PARAMS_URL" in completed.stderr


def test_500_is_retried_then_succeeds(tmp_path, archive):
    with WeightsServer(archive) as server:
        server.fail_with = [500]
        completed = start_sh(tmp_path, server.url)
    assert completed.returncode == 0, completed.stderr
    assert "retrying" in completed.stderr
    assert_complete(tmp_path, archive)


def test_persistent_500_gives_up_after_bounded_retries(tmp_path, archive):
    with WeightsServer(archive) as server:
        server.fail_with = [500, 503, 500, 500]
        completed = start_sh(tmp_path, server.url)
        assert len(server.requests) == 3
    assert completed.returncode != 0 and "failed after 3 attempts" in completed.stderr


def test_disk_too_small(tmp_path, archive):
    with WeightsServer(archive) as server:
        completed = start_sh(tmp_path, server.url, env={"ALPHAFOLD_MSA_ASSUME_FREE_BYTES": "1000000"})
    assert completed.returncode != 0 and "not enough free space" in completed.stderr
    assert not (tmp_path / "params").exists()


def test_four_workers_at_once_download_exactly_once(tmp_path, archive):
    with WeightsServer(archive) as server:
        workers = [start_sh(tmp_path, server.url, wait=False) for _ in range(4)]
        results = [worker.communicate(timeout=300) for worker in workers]
        assert server.downloads() == 1
    assert [worker.returncode for worker in workers] == [0, 0, 0, 0], [r[1] for r in results]
    assert_complete(tmp_path, archive)
