"""A small RunPod serverless REST client: submit, status, cancel, with bounded retries and a deadline.

Speaks the hosted API (POST /run, GET /status/{id}, POST /cancel/{id}) and the RunPod SDK's local
test server (whose /status is POST-only): a 405 on GET switches to POST.

Retries are urllib3's `Retry`, chosen per request: a submission (POST /run) is retried only when it
surely did not reach the endpoint (the connection was never made, or HTTP 429 / 503); after a read
timeout or a connection dropped once the request was sent, the endpoint may have accepted the job,
and `SubmissionUncertain` says so instead of submitting it twice. Status and cancel requests are
idempotent and also retried after read errors and 5xx answers. Every try, and every pause between
tries (`Retry-After` in seconds or as an HTTP date, or backoff), fits in the time left before the
request's deadline, and so does every byte of the answer (status line, headers, body): a server
that trickles its answer is cut off at the deadline (`ReadDeadline`). A request made without a
deadline gets REQUEST_WITHIN_S.
"""

from __future__ import annotations

import json
import math
import random
import re
import time
from types import TracebackType
from typing import Any, Callable
from urllib.parse import quote

from urllib3.connectionpool import ConnectionPool
from urllib3.exceptions import ConnectTimeoutError, HTTPError, InvalidHeader, MaxRetryError
from urllib3.response import BaseHTTPResponse
from urllib3.util import Retry, Timeout

from alphafold_msa.errors import AlphafoldMsaError, RemoteError, TimedOut, printable
from alphafold_msa.transfer.https import ReadDeadline, deadline_pool_manager

DEFAULT_API_URL = "https://api.runpod.ai/v2/{endpointId}"
TERMINAL_STATUSES = ("COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT")
SUBMIT_RETRY_STATUSES = frozenset({429, 503})  # answers that say the job was not taken
IDEMPOTENT_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_ANSWER_BYTES = 32_000_000  # a status answer carries at most a ~9 MB result
CANCEL_WITHIN_S = 30.0
REQUEST_WITHIN_S = 600.0  # a request, its retries included, for which the caller names no deadline
READ_TIMEOUT_S = 60.0  # the longest wait for the next bytes of an answer (but see EndpointClient)
LOCAL_SERVER_NOTE = ("the local worker runs the job inside this status request: its progress shows in the worker's "
                     "log, the result here when it is done")
JOB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,199}")
UNCERTAIN = "the endpoint may have accepted the job; run again to resubmit"


class AuthError(RemoteError):
    """The API key was rejected."""


class NotFound(RemoteError):
    """HTTP 404: no such endpoint, or no such job (the endpoint keeps results for a limited time)."""


class DeadlineExceeded(TimedOut):
    """The request's deadline passed before the endpoint answered."""


class SubmissionUncertain(RemoteError):
    """POST /run failed after the request may have reached the endpoint: the job may exist."""


def backoff_delays(first: float, cap: float):
    """Capped exponential backoff with +-20% jitter: first, 1.5x, 2.25x, ... up to cap."""
    delay = first
    while True:
        yield delay * random.uniform(0.8, 1.2)
        delay = min(cap, delay * 1.5)


class DeadlineRetry(Retry):
    """urllib3's Retry that gives up at a wall-clock `deadline` (time.monotonic()), sleeps at most the
    time left, and also takes a fractional Retry-After ('1.5') as seconds."""

    def __init__(self, *args: Any, deadline: float = math.inf, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.deadline = deadline

    def new(self, **kwargs: Any) -> DeadlineRetry:
        kwargs.setdefault("deadline", self.deadline)
        return super().new(**kwargs)

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def parse_retry_after(self, retry_after: str) -> float:
        """Seconds (whole or fractional) or an HTTP date; an unreadable value means 'use backoff'."""
        try:
            return min(max(float(retry_after), 0.0), self.retry_after_max)
        except ValueError:
            pass
        try:
            return super().parse_retry_after(retry_after)
        except InvalidHeader:
            return 0.0

    def sleep(self, response: Any = None) -> None:
        """Pause before the next try; when the pause (Retry-After or backoff) would reach the deadline, there is
        no next try: the request ends here with DeadlineExceeded."""
        wait = self.get_retry_after(response) if response is not None and self.respect_retry_after_header else None
        pause = max(0.0, self.get_backoff_time() if wait is None else wait)
        if pause >= self.left():
            # urllib3 raises MaxRetryError without a pool itself (Retry.increment); its annotation asks for one
            raise MaxRetryError(None, "",  # type: ignore[arg-type]
                                DeadlineExceeded("the deadline passes before the next try"))
        time.sleep(pause)

    def increment(self, method: str | None = None, url: str | None = None, response: BaseHTTPResponse | None = None,
                  error: Exception | None = None, _pool: ConnectionPool | None = None,
                  _stacktrace: TracebackType | None = None) -> DeadlineRetry:
        retry = super().increment(method, url, response, error, _pool, _stacktrace)
        if self.left() <= 0:
            # as above: urllib3's own calls may pass no pool
            raise MaxRetryError(_pool, url or "", DeadlineExceeded("the deadline passed"))  # type: ignore[arg-type]
        return retry


class DeadlineTimeout(Timeout):
    """Connect and read timeouts that never reach past `deadline`: each try (urllib3 clones the
    timeout per try) gets the smaller of its own limit and the time left."""

    def __init__(self, connect: float, read: float | None, deadline: float):
        super().__init__(connect=connect, read=read)
        self.limits, self.deadline = (connect, read), deadline

    def clone(self) -> Timeout:
        """This try's timeouts; a `read` of None waits for the answer up to the deadline."""
        left = max(0.001, self.deadline - time.monotonic())
        connect, read = self.limits
        return Timeout(connect=min(connect, left), read=left if read is None else min(read, left))


class AnswerCutOff(TimedOut):
    """The deadline passed while the endpoint's answer was being read (the reason a request failed)."""


def _surely_not_sent(error: BaseException) -> bool:
    """True when the request never left this machine (no connection could be made)."""
    return isinstance(error, ConnectTimeoutError)


class EndpointClient:
    """One RunPod endpoint. `base_url` is the endpoint's URL, e.g. https://api.runpod.ai/v2/ID. An answer
    may pause READ_TIMEOUT_S between bytes before the request counts as failed, except from the SDK's local
    server (`handler.py --rp_serve_api`, known by its POST-only /status): it runs the job inside the status
    request that finds it and answers when the job is done, so its answers may take until the deadline
    (asking again would find the job gone, with its result). `on_local_server` is told once when that
    server is recognised. With `read_until_deadline` (a worker on this machine) every answer may take until
    the deadline: the local server answers nothing while it runs a job."""

    def __init__(self, base_url: str, api_key: str | None, *, retries: int = 5, connect_timeout: float = 10,
                 read_until_deadline: bool = False, on_local_server: Callable[[str], None] | None = None):
        self.base_url = base_url.rstrip("/")
        self.retries, self.connect_timeout = retries, connect_timeout
        self.read_timeout: float | None = None if read_until_deadline else READ_TIMEOUT_S
        self.on_local_server = on_local_server
        self.local_server = False
        self.pool = deadline_pool_manager(self.base_url)
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._status_method = "GET"

    def _retry(self, submit: bool, deadline: float) -> DeadlineRetry:
        """The retry policy of one request: a submission only while it surely was not taken."""
        common: dict[str, Any] = dict(
            total=self.retries, connect=self.retries, status=self.retries, redirect=False, raise_on_status=False,
            backoff_factor=1.0, backoff_max=30.0, backoff_jitter=0.5, allowed_methods=frozenset({"GET", "POST"}),
            deadline=deadline)
        if submit:
            return DeadlineRetry(read=False, other=0, status_forcelist=SUBMIT_RETRY_STATUSES, **common)
        return DeadlineRetry(read=self.retries, other=self.retries, status_forcelist=IDEMPOTENT_RETRY_STATUSES,
                             **common)

    def _send(self, method: str, url: str, json_body: Any, submit: bool, deadline: float):
        """The final HTTP answer, after the retries the policy allows, read completely before `deadline`."""
        timeout = DeadlineTimeout(self.connect_timeout, self.read_timeout, deadline)
        reason: BaseException | None = None
        with ReadDeadline(deadline) as reads:
            try:
                response = self.pool.request(method, url, json=json_body, headers=self.headers, timeout=timeout,
                                             retries=self._retry(submit, deadline), redirect=False,
                                             preload_content=False)
                with response:
                    body = response.read(MAX_ANSWER_BYTES + 1)
            except MaxRetryError as error:
                reason = error.reason
            except HTTPError as error:
                reason = error
        if reads.cut and not isinstance(reason, DeadlineExceeded):  # an error or a short body: the deadline's doing
            reason = AnswerCutOff()
        if reason is not None:
            raise self._failure(url, reason, submit, deadline)
        if len(body) > MAX_ANSWER_BYTES:
            raise RemoteError(f"{url} answered with more than {MAX_ANSWER_BYTES:,} bytes")
        return response.status, response.headers, body

    def _failure(self, url: str, reason: BaseException, submit: bool, deadline: float) -> AlphafoldMsaError:
        """The error for a request that got no answer: uncertain for a submission that may have arrived."""
        if isinstance(reason, DeadlineExceeded):  # raised between tries: every earlier try failed surely
            return DeadlineExceeded(f"{url} did not answer before the deadline")
        if submit and not _surely_not_sent(reason):
            return SubmissionUncertain(f"POST {url} got no answer ({type(reason).__name__}); {UNCERTAIN}")
        if time.monotonic() >= deadline:
            return DeadlineExceeded(f"{url} did not answer before the deadline")
        return RemoteError(f"cannot reach {url} after {self.retries + 1} tries ({type(reason).__name__})")

    def _request(self, method: str, path: str, *, json_body: Any = None, deadline: float | None = None,
                 submit: bool = False) -> dict:
        url = f"{self.base_url}{path}"
        deadline = time.monotonic() + REQUEST_WITHIN_S if deadline is None else deadline
        status, headers, body = self._send(method, url, json_body, submit, deadline)
        if status in (401, 403):
            raise AuthError(f"RunPod rejected the API key (HTTP {status}); check RUNPOD_API_KEY or --api-key")
        if status == 404:
            raise NotFound(f"not found (HTTP 404) at {url}: check the endpoint id and --api-url")
        if status == 405 and method == "GET" and path.startswith("/status/"):
            self._status_method, self.read_timeout, self.local_server = "POST", None, True
            if self.on_local_server is not None:
                self.on_local_server(LOCAL_SERVER_NOTE)
            return self._request("POST", path, deadline=deadline)
        text = body.decode("utf-8", "replace")
        if submit and status >= 500 and status not in SUBMIT_RETRY_STATUSES:  # a gateway may have passed it on
            raise SubmissionUncertain(f"POST {url} answered HTTP {status}; {UNCERTAIN}")
        if status == 429 or status >= 500:
            if time.monotonic() >= deadline:  # urllib3 hands back the last answer when the deadline stops its retries
                raise DeadlineExceeded(f"{url} answered HTTP {status} until the deadline")
            raise RemoteError(f"{url} answered HTTP {status}, also after the retries; try again later")
        if status >= 300:
            raise RemoteError(f"{url} answered HTTP {status}: {text[:200]}")
        try:
            answer = json.loads(text)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            if submit:  # a 2xx answer to POST /run: the job may exist
                raise SubmissionUncertain(f"{url} answered with a body that is not a JSON object: {text[:100]!r}; "
                                          f"{UNCERTAIN}")
            raise RemoteError(f"{url} answered with a body that is not a JSON object: {text[:100]!r}")
        return answer

    def submit(self, body: dict[str, Any], deadline: float | None = None) -> str:
        """POST /run; returns the job id. SubmissionUncertain when the job may exist without an id."""
        answer = self._request("POST", "/run", json_body=body, deadline=deadline, submit=True)
        job_id = answer.get("id")
        if not isinstance(job_id, str) or not JOB_ID.fullmatch(job_id):  # it answered: the job may exist
            raise SubmissionUncertain(f"the endpoint answered the submission without a valid job id "
                                      f"({printable(str(answer)[:200])}); {UNCERTAIN}")
        return job_id

    def status(self, job_id: str, deadline: float | None = None) -> dict[str, Any]:
        """The job's status object (status, output, error, delayTime, executionTime...)."""
        answer = self._request(self._status_method, f"/status/{quote(job_id, safe='')}", deadline=deadline)
        if not isinstance(answer.get("status"), str):
            raise RemoteError(f"status of job {job_id} has no 'status' field: {str(answer)[:200]}")
        return answer

    def cancel(self, job_id: str) -> dict[str, Any]:
        """POST /cancel/{id}, given at most CANCEL_WITHIN_S seconds."""
        return self._request("POST", f"/cancel/{quote(job_id, safe='')}",
                             deadline=time.monotonic() + CANCEL_WITHIN_S)
