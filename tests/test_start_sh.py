"""The real start.sh provisioning weights from a local HTTP server: every failure mode."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import time
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
    inherited = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}  # start.sh picks its own
    environment = {**inherited, "PARAM_DIR": str(param_dir), "PARAMS_URL": url, "ALPHAFOLD_MODELS": MODELS,
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


def test_a_206_that_does_not_resume_where_asked_is_not_appended(tmp_path, archive):
    partial = tmp_path / ".download" / "alphafold_params.tar.partial"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(archive[: len(archive) // 2])
    with WeightsServer(archive) as server:
        server.wrong_range = True
        completed = start_sh(tmp_path, server.url)
        assert server.downloads() == 2 and server.requests[1]["range"] is None, "restarted from byte 0"
    assert completed.returncode == 0, completed.stderr
    assert "with Content-Range 'bytes 0-" in completed.stderr
    assert_complete(tmp_path, archive)


def test_a_parameter_file_that_does_not_open_is_refused_before_the_manifest(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("params/params_model_1_ptm.npz")
        info.size = 64
        tar.addfile(info, io.BytesIO(b"PK\x03\x04" + b"\x00" * 60))
    with WeightsServer(buffer.getvalue()) as server:
        completed = start_sh(tmp_path, server.url)
    assert completed.returncode != 0 and "params_model_1_ptm.npz is not a readable .npz file" in completed.stderr
    assert not (tmp_path / "params").exists()


def test_the_archive_checksum_is_checked_against_params_sha256(tmp_path, archive):
    with WeightsServer(archive) as server:
        wrong = start_sh(tmp_path, server.url, env={"PARAMS_SHA256": "0" * 64})
        right = start_sh(tmp_path, server.url, env={"PARAMS_SHA256": hashlib.sha256(archive).hexdigest()})
    assert wrong.returncode != 0 and f"has SHA-256 {hashlib.sha256(archive).hexdigest()}, not the expected" \
        in wrong.stderr
    assert right.returncode == 0, right.stderr
    assert_complete(tmp_path, archive)
    manifest = json.loads((tmp_path / "params" / "MANIFEST.json").read_text())
    assert manifest["archive_sha256"] == hashlib.sha256(archive).hexdigest()


def test_free_space_counts_the_extracted_sizes_and_only_required_files_are_extracted(tmp_path, archive):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as tar:
        with tarfile.open(fileobj=io.BytesIO(archive)) as source:
            member = source.getmember("params_model_1_ptm.npz")
            tar.addfile(member, source.extractfile(member))
        info = tarfile.TarInfo("params_model_2_ptm.npz")  # not required: never extracted
        info.size = 60 << 20
        tar.addfile(info, io.BytesIO(bytes(info.size)))
    compressed = buffer.getvalue()  # the 60 MB member compresses to almost nothing
    free = str((256 << 20) + 2 * len(compressed) + (1 << 20))  # enough for the archive's size, twice
    with WeightsServer(compressed) as server:
        fits = start_sh(tmp_path / "a", server.url, env={"ALPHAFOLD_MSA_ASSUME_FREE_BYTES": free})
        too_big = start_sh(tmp_path / "b", server.url, env={"ALPHAFOLD_MSA_ASSUME_FREE_BYTES": free,
                                                             "ALPHAFOLD_MODELS": "model_1_ptm,model_2_ptm"})
    assert fits.returncode == 0, fits.stderr
    assert sorted(p.name for p in (tmp_path / "a" / "params").iterdir()) == ["MANIFEST.json", "params_model_1_ptm.npz"]
    assert too_big.returncode != 0 and "not enough free space" in too_big.stderr
    assert "the extracted weights need about 0.4 GB" in too_big.stderr
    assert not (tmp_path / "b" / "params").exists()


def test_members_with_the_same_file_name_are_refused(tmp_path, archive):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar, tarfile.open(fileobj=io.BytesIO(archive)) as source:
        member = source.getmember("params_model_1_ptm.npz")
        data = source.extractfile(member).read()
        for folder in ("a", "b"):
            member.name = f"{folder}/params_model_1_ptm.npz"
            tar.addfile(member, io.BytesIO(data))
    with WeightsServer(buffer.getvalue()) as server:
        completed = start_sh(tmp_path, server.url)
    assert completed.returncode != 0
    assert "a/params_model_1_ptm.npz, b/params_model_1_ptm.npz would all be extracted" in completed.stderr


def test_a_trickling_mirror_is_stopped_at_the_deadline(tmp_path, archive):
    with WeightsServer(archive) as server:
        server.trickle_s = 0.05
        started = time.monotonic()
        completed = start_sh(tmp_path, server.url, env={"ALPHAFOLD_MSA_WEIGHTS_DEADLINE_S": "2"})
        elapsed = time.monotonic() - started
    assert completed.returncode != 0 and elapsed < 30
    assert "did not finish within its time limit (ALPHAFOLD_MSA_WEIGHTS_DEADLINE_S)" in completed.stderr
    assert not (tmp_path / "params").exists()


def test_credentials_in_params_url_never_appear(tmp_path, archive):
    with WeightsServer(archive) as server:
        secret_url = (server.url.replace("http://", "http://user:hunter2@")
                      + "?X-Amz-Signature=s3cr3t&X-Amz-Credential=AKIA")
        completed = start_sh(tmp_path, secret_url)
        server.fail_with = [404]
        failed = start_sh(tmp_path / "again", secret_url)
    assert completed.returncode == 0, completed.stderr
    assert failed.returncode != 0 and "HTTP 404" in failed.stderr
    manifest = (tmp_path / "params" / "MANIFEST.json").read_text()
    for text in (completed.stderr, completed.stdout, failed.stderr, manifest):
        assert "hunter2" not in text and "s3cr3t" not in text and "AKIA" not in text, text
    assert json.loads(manifest)["source"] == server.url + "?<redacted>"


@pytest.mark.parametrize("framing", ["close", "understated"])
def test_free_space_is_checked_while_streaming_when_the_size_is_not_announced(tmp_path, archive, framing):
    """No Content-Length, or a chunked body longer than the Content-Length beside it: the download stops
    before the archive and its extraction outgrow the free space."""
    margin = 256 << 20

    def provision(folder: Path, free: int) -> subprocess.CompletedProcess:
        return start_sh(folder, server.url, env={"ALPHAFOLD_MSA_ASSUME_FREE_BYTES": str(free)})

    with WeightsServer(archive) as server:
        server.framing = framing
        too_small = provision(tmp_path / "a", margin + len(archive))  # the archive fits, its extraction not
        fits = provision(tmp_path / "b", margin + 2 * len(archive))
    assert too_small.returncode != 0 and "Traceback" not in too_small.stderr
    assert "not enough free space" in too_small.stderr
    assert "the weights (archive and extraction) need" in too_small.stderr
    assert (tmp_path / "a" / ".download" / "alphafold_params.tar.partial").stat().st_size < len(archive)
    assert not (tmp_path / "a" / "params").exists()
    assert fits.returncode == 0, fits.stderr
    assert_complete(tmp_path / "b", archive)


@pytest.mark.parametrize("variable, value, message", [
    ("PARAMS_URL", "ftp://user:hunter2@mirror.example/params.tar", "PARAMS_URL must be an http or https URL"),
    ("PARAMS_SHA256", "abc", "PARAMS_SHA256 must be 64 hexadecimal digits, got 'abc'"),
    ("ALPHAFOLD_MODELS", "model_1_ptm,model_9", "ALPHAFOLD_MODELS must list parameter sets such as model_1_ptm"),
    ("ALPHAFOLD_MSA_DOWNLOAD_RETRIES", "²", "ALPHAFOLD_MSA_DOWNLOAD_RETRIES must be a whole number of attempts"),
    ("PARAM_DIR", "/dev/null/weights", "cannot provision AlphaFold weights: [Errno 20] Not a directory"),
])
def test_a_malformed_setting_stops_the_container_before_any_download(tmp_path, archive, variable, value, message):
    with WeightsServer(archive) as server:
        completed = start_sh(tmp_path, server.url, env={variable: value})
        assert server.downloads() == 0
    assert completed.returncode != 0 and "Traceback" not in completed.stderr, completed.stderr
    errors = [line for line in completed.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and message in errors[0] and "hunter2" not in completed.stderr
