"""EndpointClient (alphafold_msa/launcher/client.py) as a unit, against the scripted endpoint emulator on
127.0.0.1: what each call sends, which answers it retries, and which error each failure becomes. How
launch.py handles the same answers end to end is in test_remote.py and test_launcher_trust.py."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from email.utils import formatdate

import pytest
from endpoint_emulator import EndpointEmulator, Reply

from alphafold_msa.errors import RemoteError, TimedOut
from alphafold_msa.launcher import client as client_module
from alphafold_msa.launcher.client import (
    AuthError,
    DeadlineExceeded,
    DeadlineRetry,
    EndpointClient,
    NotFound,
    SubmissionUncertain,
)

API_KEY = "rp-unit-key-42"
IN_QUEUE = Reply(200, {"id": "job-123", "status": "IN_QUEUE"})
CALLS: dict[str, tuple[str, Callable[[EndpointClient], object]]] = {
    "submit": ("/run", lambda client: client.submit({"input": {"msa": ">q\nMKV\n"}})),
    "status": ("/status/job-123", lambda client: client.status("job-123")),
    "cancel": ("/cancel/job-123", lambda client: client.cancel("job-123")),
}


@pytest.fixture
def emulator() -> Iterator[EndpointEmulator]:
    with EndpointEmulator() as running:
        yield running


def client_for(emulator: EndpointEmulator, **options) -> EndpointClient:
    return EndpointClient(emulator.url.replace("{endpointId}", "ep1"), API_KEY, **options)


def script(emulator: EndpointEmulator, *replies: Reply) -> None:
    """Every route answers `replies` in turn."""
    emulator.run_replies, emulator.status_replies, emulator.cancel_replies = list(replies), list(replies), list(replies)


def test_submit_status_and_cancel_speak_the_hosted_api(emulator):
    emulator.status_replies = [Reply(200, {"id": "job-123", "status": "IN_PROGRESS", "output": "model 1/5 done"})]
    client = EndpointClient(emulator.url.replace("{endpointId}", "ep1") + "/", API_KEY)
    body = {"input": {"msa": ">q\nMKV\n", "models": [1]}, "policy": {"executionTimeout": 60_000}}
    assert client.submit(body) == "job-123"
    assert client.status("job-123") == {"id": "job-123", "status": "IN_PROGRESS", "output": "model 1/5 done"}
    assert client.cancel("job-123") == {"id": "job-123", "status": "CANCELLED"}
    assert [(r["method"], r["path"]) for r in emulator.requests] == [
        ("POST", "/v2/ep1/run"), ("GET", "/v2/ep1/status/job-123"), ("POST", "/v2/ep1/cancel/job-123")]
    assert emulator.requests[0]["body"] == body and emulator.cancelled.is_set()
    assert {r["authorization"] for r in emulator.requests} == {f"Bearer {API_KEY}"}


def test_without_a_key_no_authorization_is_sent(emulator):
    emulator.status_replies = [IN_QUEUE]
    EndpointClient(emulator.url.replace("{endpointId}", "ep1"), None).status("job-123")
    assert emulator.requests[0]["authorization"] is None


def test_a_job_id_travels_quoted_in_the_path():
    with EndpointEmulator(job_id="sync-1%3Aa.b_c") as emulator:
        emulator.run_replies = [Reply(200, {"id": "sync-1:a.b_c"})]
        emulator.status_replies = [Reply(200, {"id": "sync-1:a.b_c", "status": "IN_QUEUE"})]
        client = client_for(emulator)
        job_id = client.submit({"input": {}})
        assert job_id == "sync-1:a.b_c" and client.status(job_id)["status"] == "IN_QUEUE"
    assert emulator.paths("GET") == ["/v2/ep1/status/sync-1%3Aa.b_c"]


def test_a_405_on_get_status_switches_to_post_for_good():
    """The RunPod SDK's local test server answers /status on POST only."""
    with EndpointEmulator(status_method="POST") as emulator:
        emulator.status_replies = [IN_QUEUE]
        client = client_for(emulator)
        assert client.status("job-123")["status"] == "IN_QUEUE"
        assert client.status("job-123")["status"] == "IN_QUEUE"
    status = "/v2/ep1/status/job-123"
    assert [(r["method"], r["path"]) for r in emulator.requests] == [("GET", status), ("POST", status),
                                                                       ("POST", status)]


@pytest.mark.parametrize("call", sorted(CALLS))
@pytest.mark.parametrize("code", [401, 403])
def test_a_rejected_key_is_an_auth_error_at_once(emulator, code, call):
    script(emulator, Reply(code, {"error": "Unauthorized"}))
    message = rf"^RunPod rejected the API key \(HTTP {code}\); check RUNPOD_API_KEY"
    with pytest.raises(AuthError, match=message) as raised:
        CALLS[call][1](client_for(emulator))
    assert API_KEY not in str(raised.value)
    assert len(emulator.requests) == 1, "a rejected key is not tried again"


@pytest.mark.parametrize("call", sorted(CALLS))
def test_an_unknown_endpoint_is_a_not_found_naming_the_url(call):
    with EndpointEmulator(endpoint="other") as emulator:
        client = client_for(emulator)  # ep1, which this emulator does not serve
        with pytest.raises(NotFound) as raised:
            CALLS[call][1](client)
    path, _ = CALLS[call]
    assert str(raised.value) == (f"not found (HTTP 404) at {client.base_url}{path}: check the endpoint id and "
                                 f"--api-url")
    assert isinstance(raised.value, RemoteError) and len(emulator.requests) == 1
    assert not isinstance(raised.value, (AuthError, SubmissionUncertain))


def test_a_job_the_endpoint_no_longer_knows_is_a_not_found(emulator):
    script(emulator, Reply(404, {"error": "job not found"}))
    with pytest.raises(NotFound, match=r"^not found \(HTTP 404\) at .*/status/job-123"):
        client_for(emulator).status("job-123")


def test_a_status_request_past_its_deadline_is_a_timeout_not_an_endpoint_failure(emulator):
    script(emulator, Reply(503, {"error": "down"}, headers={"Retry-After": "3600"}))
    with pytest.raises(DeadlineExceeded) as raised:
        client_for(emulator).status("job-123", deadline=time.monotonic() + 0.5)
    assert isinstance(raised.value, TimedOut) and not isinstance(raised.value, RemoteError)


@pytest.mark.parametrize("retry_after", ["3600", formatdate(time.time() + 3600, usegmt=True)],
                         ids=["seconds", "date"])
def test_a_submission_throttled_past_its_deadline_is_a_timeout_and_never_sent_again(emulator, retry_after):
    emulator.run_replies = [Reply(429, {"error": "slow down"}, headers={"Retry-After": retry_after})] * 2
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        client_for(emulator).submit({"input": {}}, deadline=time.monotonic() + 0.5)
    assert emulator.paths("POST") == ["/v2/ep1/run"], "no last try at the deadline: it could arrive unanswered"
    assert time.monotonic() - started < 10, "the wait ends without sleeping to the deadline"


def test_a_throttled_submission_is_sent_again_after_retry_after(emulator):
    emulator.run_replies = [
        Reply(429, {"error": "slow down"}, headers={"Retry-After": "0.2"}),
        Reply(503, {"error": "no capacity"}, headers={"Retry-After": formatdate(time.time() + 1, usegmt=True)}),
        Reply(200, {"id": "job-9", "status": "IN_QUEUE"})]
    assert client_for(emulator).submit({"input": {}}) == "job-9"
    assert emulator.paths("POST") == ["/v2/ep1/run"] * 3


def test_retry_after_reads_seconds_and_http_dates():
    retry = DeadlineRetry(total=1)
    assert retry.parse_retry_after("1.5") == 1.5 and retry.parse_retry_after("0") == 0.0
    assert retry.parse_retry_after("-4") == 0.0
    assert retry.parse_retry_after(formatdate(time.time() - 60, usegmt=True)) == 0.0
    assert 3000 < retry.parse_retry_after(formatdate(time.time() + 3600, usegmt=True)) <= 3600


@pytest.mark.parametrize("reply, message, tries", [
    (Reply(429, {"error": "slow"}, headers={"Retry-After": "0"}), "answered HTTP 429, also after the retries", 3),
    (Reply(503, {"error": "down"}, headers={"Retry-After": "0"}), "answered HTTP 503, also after the retries", 3),
    (Reply(400, {"error": "input too large"}), 'answered HTTP 400: {"error": "input too large"}', 1),
], ids=["429", "503", "400"])
def test_an_answer_that_refuses_the_submission_is_certain(emulator, reply, message, tries):
    emulator.run_replies = [reply] * 3
    with pytest.raises(RemoteError, match=re.escape(message)) as raised:
        client_for(emulator, retries=2).submit({"input": {}})
    assert not isinstance(raised.value, SubmissionUncertain)
    assert emulator.paths("POST") == ["/v2/ep1/run"] * tries


@pytest.mark.parametrize("reply", [Reply(500, {"error": "internal"}), Reply(504, {"error": "gateway timeout"}),
                                   Reply(200, {"id": "job-123"}, delay=2)], ids=["500", "504", "read-timeout"])
def test_a_submission_that_may_have_arrived_is_uncertain_and_sent_once(emulator, reply, monkeypatch):
    monkeypatch.setattr(client_module, "READ_TIMEOUT_S", 0.5)
    emulator.run_replies = [reply]
    with pytest.raises(SubmissionUncertain, match="the endpoint may have accepted the job; run again to resubmit"):
        client_for(emulator).submit({"input": {}})
    assert emulator.paths("POST") == ["/v2/ep1/run"]


def test_status_and_cancel_are_retried_after_server_errors_and_dropped_connections(emulator):
    emulator.status_replies = [Reply(500, {"error": "internal"}), Reply(drop=True), IN_QUEUE]
    emulator.cancel_replies = [Reply(502, {"error": "bad gateway"})]
    client = client_for(emulator)
    assert client.status("job-123")["status"] == "IN_QUEUE"
    assert client.cancel("job-123")["status"] == "CANCELLED"
    assert emulator.paths("GET") == ["/v2/ep1/status/job-123"] * 3
    assert emulator.paths("POST") == ["/v2/ep1/cancel/job-123"] * 2


def test_status_errors_past_the_retries_say_so(emulator):
    emulator.status_replies = [Reply(504, {"error": "gateway timeout"})]
    with pytest.raises(RemoteError, match=r"answered HTTP 504, also after the retries; try again later"):
        client_for(emulator, retries=1).status("job-123")
    assert len(emulator.paths("GET")) == 2


@pytest.mark.parametrize("call", sorted(CALLS))
@pytest.mark.parametrize("raw", [b"<html>502 Bad Gateway</html>", b'["job-123"]', b'{"id": "job-123"', b""],
                         ids=["html", "list", "truncated-json", "empty"])
def test_an_answer_that_is_not_a_json_object_is_one_line(emulator, call, raw):
    script(emulator, Reply(200, raw=raw))
    with pytest.raises(RemoteError, match="answered with a body that is not a JSON object") as raised:
        CALLS[call][1](client_for(emulator))
    assert "\n" not in str(raised.value) and len(emulator.requests) == 1
    assert isinstance(raised.value, SubmissionUncertain) == (call == "submit"), "a 2xx to /run: the job may exist"


def test_a_status_answer_without_a_status_is_refused(emulator):
    emulator.status_replies = [Reply(200, {"id": "job-123", "output": "model 1/5 done"})]
    with pytest.raises(RemoteError, match="status of job job-123 has no 'status' field"):
        client_for(emulator).status("job-123")


@pytest.mark.parametrize("answer", [{"status": "IN_QUEUE"}, {"id": None}, {"id": 123}, {"id": ""},
                                    {"id": "../status/other"}, {"id": "job 1"}, {"id": "x" * 201}],
                         ids=["missing", "null", "number", "empty", "path", "space", "long"])
def test_a_submission_answer_without_a_valid_job_id_is_refused(emulator, answer):
    emulator.run_replies = [Reply(200, answer)]
    with pytest.raises(SubmissionUncertain, match="the endpoint answered the submission without a valid job id"):
        client_for(emulator).submit({"input": {}})
    assert emulator.paths("POST") == ["/v2/ep1/run"], "an answer is not a reason to submit again"
