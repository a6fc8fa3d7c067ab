"""A real HTTP server on 127.0.0.1 that queues jobs the way RunPod's endpoint API does and runs each
through a given handler (the real worker's) on its own threads, with seeded random failures:
throttling (429 with Retry-After) and 503s before a job is accepted, dropped status connections,
and chosen inputs whose first run fails as a crashed worker's would."""

from __future__ import annotations

import hashlib
import queue
import random
import threading
import time
import uuid
from collections import Counter
from http.server import ThreadingHTTPServer
from typing import Any, Callable

from endpoint_emulator import JsonRequestHandler, Reply


def input_key(job_input: dict) -> str:
    """The SHA-256 of a job's alignment text (and its sample_slice, for a part of a fanned-out prediction): which
    input a submission carries."""
    part = f"{job_input['sample_slice']}" if "sample_slice" in job_input else ""
    return hashlib.sha256((job_input.get("msa", "") + part).encode()).hexdigest()


class BatchEndpoint:
    """/v2/{endpoint}/run, GET /status/{id}, POST /cancel/{id}, backed by `workers` threads calling `handler`."""

    def __init__(self, handler: Callable[[dict], dict], *, endpoint: str = "ep1", workers: int = 1,
                 error_rate: float = 0.0, fail_first_run: Callable[[dict], bool] = lambda job_input: False,
                 seed: int = 0):
        self.handler, self.endpoint = handler, endpoint
        self.error_rate, self.fail_first_run = error_rate, fail_first_run
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.jobs: dict[str, dict[str, Any]] = {}
        self.submissions: Counter[str] = Counter()  # input key -> accepted /run requests
        self.injected: Counter[str] = Counter()  # input key -> runs failed on purpose
        self.queue: queue.Queue[str] = queue.Queue()
        self.stopping = threading.Event()
        self.workers = [threading.Thread(target=self._work, daemon=True) for _ in range(workers)]
        endpoint_api = self

        class Handler(JsonRequestHandler):
            def route(self, method: str) -> None:
                body = self.read_json()
                prefix = f"/v2/{endpoint_api.endpoint}"
                action = self.path[len(prefix):] if self.path.startswith(prefix + "/") else None
                if action is None:
                    return self.answer(Reply(404, {"error": "endpoint not found"}))
                fault = endpoint_api._fault()
                if method == "POST" and action == "/run":
                    if fault == "throttle":
                        return self.answer(Reply(429, {"error": "too many requests"}, {"Retry-After": "0"}))
                    if fault:
                        return self.answer(Reply(503, {"error": "service unavailable"}))
                    return self.answer(Reply(200, {"id": endpoint_api._accept(body["input"]), "status": "IN_QUEUE"}))
                job_id = action.rsplit("/", 1)[-1]
                with endpoint_api.lock:
                    job = dict(endpoint_api.jobs.get(job_id) or {})
                if not job:
                    return self.answer(Reply(404, {"error": "job not found"}))
                if method == "GET" and action.startswith("/status/"):
                    if fault == "drop":
                        return self.answer(Reply(drop=True))
                    if fault:
                        return self.answer(Reply(503, {"error": "service unavailable"}))
                    return self.answer(Reply(200, {k: v for k, v in job.items() if k != "input"}))
                if method == "POST" and action.startswith("/cancel/"):
                    endpoint_api._set(job_id, status="CANCELLED")
                    return self.answer(Reply(200, {"id": job_id, "status": "CANCELLED"}))
                return self.answer(Reply(405, {"detail": "Method Not Allowed"}))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v2/{{endpointId}}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _fault(self) -> str | None:
        with self.lock:
            if self.random.random() >= self.error_rate:
                return None
            return self.random.choice(("throttle", "unavailable", "drop"))

    def _accept(self, job_input: dict) -> str:
        job_id = f"job-{uuid.uuid4().hex[:12]}"
        with self.lock:
            self.jobs[job_id] = {"id": job_id, "status": "IN_QUEUE", "input": job_input, "queued": time.monotonic()}
            self.submissions[input_key(job_input)] += 1
        self.queue.put(job_id)
        return job_id

    def _set(self, job_id: str, **fields) -> None:
        with self.lock:
            self.jobs[job_id].update(fields)

    def _work(self) -> None:
        while not self.stopping.is_set():
            try:
                job_id = self.queue.get(timeout=0.1)
            except queue.Empty:
                continue
            with self.lock:
                job = self.jobs[job_id]
                if job["status"] == "CANCELLED":
                    continue
                key = input_key(job["input"])
                crash = self.fail_first_run(job["input"]) and not self.injected[key]
                if crash:
                    self.injected[key] += 1
                job["status"] = "IN_PROGRESS"
                job["delayTime"] = int((time.monotonic() - job["queued"]) * 1000)
            started = time.monotonic()
            if crash:
                self._set(job_id, status="FAILED", error="worker exited unexpectedly")
                continue
            output = self.handler({"id": job_id, "input": job["input"]})
            elapsed = int((time.monotonic() - started) * 1000)
            if "error" in output:
                self._set(job_id, status="FAILED", error=output["error"], executionTime=elapsed)
            else:
                self._set(job_id, status="COMPLETED", output=output, executionTime=elapsed)

    def __enter__(self) -> BatchEndpoint:
        self.thread.start()
        for worker in self.workers:
            worker.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()
        for worker in self.workers:
            worker.join(timeout=120)
