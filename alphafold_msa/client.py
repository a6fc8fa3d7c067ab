"""A small RunPod serverless REST client: submit, status, cancel, with bounded retries.

Speaks the hosted API (POST /run, GET /status/{id}, POST /cancel/{id}) and the RunPod SDK's local
test server (whose /status is POST-only): a 405 on GET switches to POST.
"""

from __future__ import annotations

import random
import time
from typing import Any

import requests

from alphafold_msa.errors import UserError

DEFAULT_API_URL = "https://api.runpod.ai/v2/{endpointId}"
TERMINAL_STATUSES = ("COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT")
TRANSIENT_HTTP = (500, 502, 503, 504)


class RemoteError(UserError):
    """The endpoint could not be reached or answered with an error."""


class AuthError(RemoteError):
    """The API key was rejected."""


def backoff_delays(first: float, cap: float):
    """Capped exponential backoff with +-20% jitter: first, 1.5x, 2.25x, ... up to cap."""
    delay = first
    while True:
        yield delay * random.uniform(0.8, 1.2)
        delay = min(cap, delay * 1.5)


class EndpointClient:
    """One RunPod endpoint. `base_url` is the endpoint's URL, e.g. https://api.runpod.ai/v2/ID."""

    def __init__(self, base_url: str, api_key: str | None, *, retries: int = 5, request_timeout: float = 60,
                 session: requests.Session | None = None):
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.request_timeout = request_timeout
        self.session = session or requests.Session()
        if api_key:
            self.session.headers["Authorization"] = f"Bearer {api_key}"
        self._status_method = "GET"

    def _request(self, method: str, path: str, *, json_body: Any = None, timeout: float | None = None) -> dict:
        url = f"{self.base_url}{path}"
        delays = backoff_delays(1.0, 30.0)
        for attempt in range(self.retries + 1):
            last_try = attempt == self.retries
            try:
                response = self.session.request(method, url, json=json_body, timeout=timeout or self.request_timeout)
            except (requests.ConnectionError, requests.Timeout) as error:
                if last_try:
                    raise RemoteError(f"cannot reach {url} after {attempt + 1} tries ({type(error).__name__})") from None
                time.sleep(next(delays))
                continue
            if response.status_code in (401, 403):
                raise AuthError(f"RunPod rejected the API key (HTTP {response.status_code}); check RUNPOD_API_KEY or --api-key")
            if response.status_code == 404:
                raise RemoteError(f"not found (HTTP 404) at {url}: check the endpoint id and --api-url")
            if response.status_code == 429 or response.status_code in TRANSIENT_HTTP:
                if last_try:
                    raise RemoteError(f"{url} answered HTTP {response.status_code} {attempt + 1} times; try again later")
                retry_after = response.headers.get("Retry-After", "")
                time.sleep(float(retry_after) if retry_after.replace(".", "", 1).isdigit() else next(delays))
                continue
            if response.status_code == 405 and method == "GET" and path.startswith("/status/"):
                self._status_method = "POST"
                return self._request("POST", path, timeout=timeout)
            if response.status_code >= 400:
                raise RemoteError(f"{url} answered HTTP {response.status_code}: {response.text[:200]}")
            try:
                body = response.json()
            except ValueError:
                body = None
            if not isinstance(body, dict):
                raise RemoteError(f"{url} answered with a body that is not a JSON object: {response.text[:100]!r}")
            return body
        raise AssertionError("unreachable")

    def submit(self, body: dict[str, Any]) -> str:
        """POST /run; returns the job id."""
        answer = self._request("POST", "/run", json_body=body)
        if not isinstance(answer.get("id"), str):
            raise RemoteError(f"the endpoint accepted the job but returned no job id: {str(answer)[:200]}")
        return answer["id"]

    def status(self, job_id: str, timeout: float | None = None) -> dict[str, Any]:
        """The job's status object (status, output, error, delayTime, executionTime...)."""
        answer = self._request(self._status_method, f"/status/{job_id}", timeout=timeout)
        if not isinstance(answer.get("status"), str):
            raise RemoteError(f"status of job {job_id} has no 'status' field: {str(answer)[:200]}")
        return answer

    def cancel(self, job_id: str) -> dict[str, Any]:
        """POST /cancel/{id}."""
        return self._request("POST", f"/cancel/{job_id}")
