"""launch.py against a local emulation of RunPod's hosted endpoint API: every status and failure mode."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import PDB, REPO, free_port, run_launcher
from endpoint_emulator import EndpointEmulator, Reply

from alphafold_msa.errors import EXIT_CANCELLED, EXIT_REMOTE_FAILED, EXIT_TIMEOUT

API_KEY = "rp-secret-key-123"
COMPLETED = Reply(200, {"id": "job-123", "status": "COMPLETED", "executionTime": 1200,
                        "output": {"structure": PDB, "structure_format": "pdb", "model": "model_1_ptm",
                                   "mean_plddt": 80.0, "ptm": 0.5, "max_pae": 3.0, "plddt": [80.0]}})


def launch(emulator: EndpointEmulator, msa, output, *extra: str) -> subprocess.CompletedProcess:
    return run_launcher("--msa", str(msa), "--output", str(output), "--endpointId", "ep1", "--api-url", emulator.url,
                        "--poll-interval", "0.05", *extra, env={"RUNPOD_API_KEY": API_KEY}, timeout=120)


def test_queue_progress_completed(small_msa_path, tmp_path):
    with EndpointEmulator() as emulator:
        emulator.status_replies = [
            Reply(200, {"id": "job-123", "status": "IN_QUEUE", "delayTime": 2000}),
            Reply(200, {"id": "job-123", "status": "IN_PROGRESS", "output": "model 1/5 done"}),
            COMPLETED,
        ]
        completed = launch(emulator, small_msa_path, tmp_path / "x.pdb", "--models", "1,2", "--num-recycle", "1",
                           "--timeout", "900")
    assert completed.returncode == 0, completed.stderr
    assert (tmp_path / "x.pdb").read_text() == PDB
    assert '"mean_plddt": 80.0' in (tmp_path / "x.scores.json").read_text()
    run = emulator.requests[0]
    assert run["path"] == "/v2/ep1/run" and run["authorization"] == f"Bearer {API_KEY}"
    assert run["body"]["input"]["msa"].startswith(">101\nIKKILSKIKKLLK")
    assert run["body"]["input"]["models"] == [1, 2] and run["body"]["input"]["num_recycle"] == 1
    assert run["body"]["policy"]["executionTimeout"] == 900_000
    assert emulator.paths("GET") == ["/v2/ep1/status/job-123"] * 3
    assert "job job-123 submitted" in completed.stderr and "model 1/5 done" in completed.stderr
    assert API_KEY not in completed.stderr + completed.stdout
    assert not list(tmp_path.glob("*.partial"))


@pytest.mark.parametrize("status, code, message", [
    (Reply(200, {"id": "job-123", "status": "FAILED",
                 "error": "input.num_recycle: 99 is greater than the maximum of 48"}),
     EXIT_REMOTE_FAILED, "error: job job-123 failed: input.num_recycle: 99 is greater"),
    (Reply(200, {"id": "job-123", "status": "CANCELLED"}), EXIT_CANCELLED, "error: job job-123 was cancelled"),
    (Reply(200, {"id": "job-123", "status": "TIMED_OUT"}), EXIT_TIMEOUT,
     "error: job job-123 timed out on the endpoint"),
    (Reply(200, raw=b"<html>oops</html>"), EXIT_REMOTE_FAILED, "not a JSON object"),
    (Reply(200, {"id": "job-123", "status": "COMPLETED", "output": {"nothing": 1}}), EXIT_REMOTE_FAILED,
     "has no structure"),
])
def test_terminal_failures_have_distinct_exit_codes(small_msa_path, tmp_path, status, code, message):
    with EndpointEmulator() as emulator:
        emulator.status_replies = [status]
        completed = launch(emulator, small_msa_path, tmp_path / "x.pdb")
    assert completed.returncode == code, completed.stderr
    assert message in completed.stderr and "Traceback" not in completed.stderr
    assert not (tmp_path / "x.pdb").exists()


@pytest.mark.parametrize("reply, message", [
    (Reply(401, {"error": "Unauthorized"}), "rejected the API key (HTTP 401)"),
    (Reply(403, {"error": "Forbidden"}), "rejected the API key (HTTP 403)"),
])
def test_bad_key(small_msa_path, tmp_path, reply, message):
    with EndpointEmulator() as emulator:
        emulator.run_replies = [reply]
        completed = launch(emulator, small_msa_path, tmp_path / "x.pdb")
    assert completed.returncode == 3 and message in completed.stderr


def test_unknown_endpoint(small_msa_path, tmp_path):
    with EndpointEmulator(endpoint="other") as emulator:
        completed = launch(emulator, small_msa_path, tmp_path / "x.pdb")
    assert completed.returncode == EXIT_REMOTE_FAILED, completed.stderr
    assert "HTTP 404" in completed.stderr and "endpoint id" in completed.stderr


def test_rate_limit_honours_retry_after(small_msa_path, tmp_path):
    with EndpointEmulator() as emulator:
        emulator.status_replies = [Reply(429, {"error": "slow down"}, headers={"Retry-After": "1.5"}), COMPLETED]
        started = time.monotonic()
        completed = launch(emulator, small_msa_path, tmp_path / "x.pdb")
        elapsed = time.monotonic() - started
    assert completed.returncode == 0, completed.stderr
    assert elapsed >= 1.5 and len(emulator.paths("GET")) == 2


def test_transient_errors_are_retried(small_msa_path, tmp_path):
    with EndpointEmulator() as emulator:
        emulator.run_replies = [Reply(503, {"error": "unavailable"}), Reply(200, {"id": "job-123"})]
        emulator.status_replies = [Reply(drop=True), Reply(502, {"error": "bad gateway"}), COMPLETED]
        completed = launch(emulator, small_msa_path, tmp_path / "x.pdb")
    assert completed.returncode == 0, completed.stderr
    assert len(emulator.paths("POST")) == 2 and len(emulator.paths("GET")) == 3


def test_ctrl_c_cancels_the_remote_job(small_msa_path, tmp_path):
    with EndpointEmulator() as emulator:
        emulator.status_replies = [Reply(200, {"id": "job-123", "status": "IN_PROGRESS"})]
        process = subprocess.Popen(
            [sys.executable, str(REPO / "launch.py"), "--msa", str(small_msa_path), "--output", str(tmp_path / "x.pdb"),
             "--endpointId", "ep1", "--api-url", emulator.url, "--poll-interval", "0.05"],
            cwd=REPO, stderr=subprocess.PIPE, text=True, env={**os.environ, "RUNPOD_API_KEY": API_KEY})
        deadline = time.monotonic() + 30
        while len(emulator.paths("GET")) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
        assert emulator.cancelled.is_set()
    assert process.returncode == 5 and "cancelled job job-123" in stderr


def test_client_timeout_leaves_the_job_resumable(small_msa_path, tmp_path):
    with EndpointEmulator() as emulator:
        emulator.status_replies = [Reply(200, {"id": "job-123", "status": "IN_QUEUE"})]
        completed = launch(emulator, small_msa_path, tmp_path / "x.pdb", "--timeout", "1")
        assert completed.returncode == 4 and "--resume job-123" in completed.stderr
        emulator.status_replies = [COMPLETED]
        resumed = launch(emulator, small_msa_path, tmp_path / "x.pdb", "--resume", "job-123")
    assert resumed.returncode == 0 and (tmp_path / "x.pdb").read_text() == PDB
    assert emulator.paths("POST") == ["/v2/ep1/run"]


def test_older_workers_json_string_output(small_msa_path, tmp_path):
    import json

    with EndpointEmulator() as emulator:
        emulator.status_replies = [Reply(200, {"id": "job-123", "status": "COMPLETED",
                                               "output": json.dumps({"structure": PDB})})]
        completed = launch(emulator, small_msa_path, tmp_path / "x.pdb")
    assert completed.returncode == 0 and (tmp_path / "x.pdb").read_text() == PDB


def test_bad_alignment_is_never_submitted(tmp_path):
    bad = tmp_path / "bad.a3m"
    bad.write_text(">q\nMKVLA\n>h\nMK\n")
    with EndpointEmulator() as emulator:
        completed = launch(emulator, bad, tmp_path / "x.pdb")
    assert completed.returncode == 2 and "row 'h'" in completed.stderr
    assert emulator.requests == []


def test_check_mode_prints_a_summary(testdata):
    import json

    completed = run_launcher("--check", "--msa", str(testdata / "colabfold" / "3G5O_A.a3m"))
    assert completed.returncode == 0, completed.stderr
    summary = json.loads(completed.stdout)
    assert summary["format"] == "a3m" and summary["query_length"] == 93 and summary["num_sequences"] == 7527
    assert summary["num_sequences_filtered"] < 7527
    assert 1 < summary["estimated_device_memory_gb"] < 10


def test_resume_needs_an_output_and_a_worker_without_files_is_reported(small_msa_path, tmp_path):
    resumed = run_launcher("--resume", "job-123", "--output-dir", str(tmp_path / "d"), "--endpointId", "ep1",
                           env={"RUNPOD_API_KEY": API_KEY})
    assert resumed.returncode == 2 and "--resume JOB_ID waits for one job: give --output" in resumed.stderr
    body = dict(COMPLETED.body)
    body["output"] = {**body["output"], "files_error": "the result files are 7.1 MB encoded, over the 6 MB"}
    with EndpointEmulator() as emulator:
        emulator.status_replies = [Reply(200, body)]
        completed = launch(emulator, small_msa_path, tmp_path / "x.pdb")
    assert completed.returncode == 0 and (tmp_path / "x.pdb").read_text() == PDB
    assert "WARNING: the other files could not be returned: the result files are 7.1 MB" in completed.stderr


@pytest.mark.parametrize("reply", [Reply(drop=True), Reply(200, {"id": "job-123"}, delay=5),
                                   Reply(502, {"error": "bad gateway"})], ids=["dropped", "read-timeout", "gateway"])
def test_a_submission_that_may_have_arrived_is_never_repeated(small_msa_path, tmp_path, reply):
    with EndpointEmulator() as emulator:
        emulator.run_replies = [reply]
        completed = launch(emulator, small_msa_path, tmp_path / "x.pdb", "--timeout", "2")
    assert completed.returncode == 3, completed.stderr
    assert "the endpoint may have accepted the job; run again to resubmit" in completed.stderr
    assert emulator.paths("POST") == ["/v2/ep1/run"] and "Traceback" not in completed.stderr


def test_throttled_submissions_wait_for_retry_after_as_an_http_date(small_msa_path, tmp_path):
    from email.utils import formatdate

    with EndpointEmulator() as emulator:
        emulator.run_replies = [Reply(429, {"error": "slow"}, headers={"Retry-After": formatdate(time.time() + 2,
                                                                                                    usegmt=True)}),
                                Reply(503, {"error": "unavailable"}, headers={"Retry-After": "0"})]
        emulator.status_replies = [COMPLETED]
        started = time.monotonic()
        completed = launch(emulator, small_msa_path, tmp_path / "x.pdb")
        elapsed = time.monotonic() - started
    assert completed.returncode == 0, completed.stderr
    assert len(emulator.paths("POST")) == 3 and elapsed >= 1


def test_a_refused_connection_is_retried_and_never_uncertain():
    from alphafold_msa.launcher.client import EndpointClient, RemoteError, SubmissionUncertain

    client = EndpointClient(f"http://127.0.0.1:{free_port()}/v2/ep1", "key", retries=1)
    with pytest.raises(RemoteError, match=r"cannot reach .* after 2 tries \(NewConnectionError\)") as raised:
        client.submit({"input": {}})
    assert not isinstance(raised.value, SubmissionUncertain)


@pytest.mark.parametrize("reply", [Reply(200, {"id": "job-123", "status": "IN_QUEUE"}, delay=30),
                                   Reply(429, {"error": "slow"}, headers={"Retry-After": "3600"}),
                                   Reply(503, {"error": "down"}, delay=1.5)], ids=["hang", "retry-after", "slow-5xx"])
def test_timeout_is_a_deadline_even_when_status_requests_hang(small_msa_path, tmp_path, reply):
    with EndpointEmulator() as emulator:
        emulator.status_replies = [reply]
        started = time.monotonic()
        completed = run_launcher("--msa", str(small_msa_path), "--output", str(tmp_path / "x.pdb"),
                                 "--endpointId", "ep1", "--api-url", emulator.url, "--poll-interval", "0.05",
                                 "--timeout", "2", env={"RUNPOD_API_KEY": API_KEY}, timeout=40)
        elapsed = time.monotonic() - started
    assert completed.returncode == 4, completed.stderr
    assert "--resume job-123" in completed.stderr and elapsed < 8, elapsed


SHA = "0" * 64


@pytest.mark.parametrize("change, field", [
    ({"files": "archive.tar.gz"}, "output.files: expected object"),
    ({"files": {}}, "output.files: 'sha256' is a required property"),
    ({"files": {"sha256": SHA, "data": 5}}, "output.files.data: expected string"),
    ({"files": {"data": "AAAA"}}, "output.files: 'sha256' is a required property"),
    ({"files": {"sha256": SHA}}, "output.files: needs 'data'"),
    ({"structure": 5}, "output.structure: expected string"),
    ({"relax": "fast"}, "output.relax: expected ['object', 'null']"),
    ({"structure_format": "/../../../x.sh"}, "output.structure_format: expected one of ['pdb', 'cif']"),
    ({"files": {"sha256": SHA, "url": "http://127.0.0.1:9/r.tgz?X-Amz-Date=20250101T000000Z&X-Amz-Expires="
                + "9" * 40}}, "output.files.url: X-Amz-Expires must be a whole number"),
    ({"msa": 3}, "output.msa: expected object"),
])
def test_a_malformed_output_is_one_line_naming_the_field(small_msa_path, tmp_path, change, field):
    body = {**COMPLETED.body, "output": {**COMPLETED.body["output"], **change}}
    with EndpointEmulator() as emulator:
        emulator.status_replies = [Reply(200, body)]
        completed = launch(emulator, small_msa_path, tmp_path / "out" / "x.pdb", "--output-dir", str(tmp_path / "all"))
    assert completed.returncode == 3, completed.stderr
    assert field in completed.stderr and "Traceback" not in completed.stderr
    assert completed.stderr.strip().splitlines()[-1].startswith("error: the endpoint's result is malformed")
    assert not (tmp_path / "out").exists() and not (tmp_path / "all").exists()


def test_presigned_downloads_only_over_https_except_to_a_local_endpoint():
    from alphafold_msa.protocol.output import OutputError, check_download_url

    remote_api = "https://api.runpod.ai/v2/ep1"
    check_download_url("https://bucket.example/r.tgz?X-Amz-Expires=604800", remote_api)
    check_download_url("http://127.0.0.1:9000/r.tgz", "http://127.0.0.1:8000")
    check_download_url("http://[::1]:9000/r.tgz", "http://[::1]:8000")
    for url, api in [("http://bucket.example/r.tgz", remote_api), ("http://127.0.0.1:9000/r.tgz", remote_api),
                     ("http://bucket.example/r.tgz", "http://127.0.0.1:8000"), ("ftp://127.0.0.1/r", remote_api),
                     ("https://user:pw@bucket.example/r.tgz", remote_api), ("file:///etc/passwd", remote_api)]:
        with pytest.raises(OutputError, match="output.files.url: expected an https URL"):
            check_download_url(url, api)


def test_control_characters_in_endpoint_text_are_escaped(small_msa_path, tmp_path):
    with EndpointEmulator() as emulator:
        emulator.status_replies = [
            Reply(200, {"id": "job-123", "status": "IN_PROGRESS", "output": "step\x1b]0;owned\x07 1"}),
            Reply(200, {"id": "job-123", "status": "FAILED", "error": "bad\x1b[2J\r\nerror: all good\x9b"})]
        completed = launch(emulator, small_msa_path, tmp_path / "x.pdb")
    assert completed.returncode == 3
    assert "\x1b" not in completed.stderr and "\r" not in completed.stderr and "\x9b" not in completed.stderr
    assert "failed: bad\\x1b[2J\\r\\nerror: all good\\x9b" in completed.stderr
    assert "step\\x1b]0;owned\\x07 1" in completed.stderr


def test_scores_json_has_the_same_keys_and_types_locally_and_remotely(small_msa_path, reduced_weights, worker_env,
                                                                        tmp_path):
    from batch_endpoint import BatchEndpoint

    from alphafold_msa.worker.handler import handle_job

    common = ["--msa", str(small_msa_path), "--models", "1", "--num-recycle", "0"]
    local = run_launcher(*common, "--output", str(tmp_path / "local.pdb"), "--local", "--param-dir",
                         str(reduced_weights), "--model-config", "reduced")
    assert local.returncode == 0, local.stderr
    with BatchEndpoint(handle_job) as endpoint:
        remote = run_launcher(*common, "--output", str(tmp_path / "remote.pdb"), "--endpointId", "ep1",
                              "--api-url", endpoint.url, "--api-key", "k", "--poll-interval", "0.1")
    assert remote.returncode == 0, remote.stderr

    def shape(value):
        if isinstance(value, dict):
            return {key: shape(item) for key, item in value.items() if key not in ("timings",)}
        return type(value).__name__

    import json

    local_scores = json.loads((tmp_path / "local.scores.json").read_text())
    remote_scores = json.loads((tmp_path / "remote.scores.json").read_text())
    assert shape(local_scores) == shape(remote_scores)
    assert {"pae", "plddt", "ptm", "max_pae", "ranking", "msa", "timings"} <= set(remote_scores)
    assert isinstance(remote_scores["ranking"], dict) and remote_scores["msa"]["format"] == "fasta"
    assert len(remote_scores["pae"]) == 13
