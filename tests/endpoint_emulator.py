"""A real HTTP server on 127.0.0.1 that behaves like RunPod's hosted endpoint API, scripted per test."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Reply:
    """One scripted answer: an HTTP status, a JSON body (or raw bytes), headers; or a dropped connection;
    sent after `delay` seconds (a hanging endpoint). With `trickle_s`, the body (and with `trickle_headers`
    the status line and headers too) goes out one byte per `trickle_s` seconds."""

    def __init__(self, status: int = 200, body: Any = None, headers: dict | None = None, raw: bytes | None = None,
                 drop: bool = False, delay: float = 0.0, trickle_s: float | None = None,
                 trickle_headers: bool = False):
        self.status, self.body, self.headers, self.raw, self.drop = status, body, headers or {}, raw, drop
        self.delay, self.trickle_s, self.trickle_headers = delay, trickle_s, trickle_headers


class JsonRequestHandler(BaseHTTPRequestHandler):
    """A quiet handler that reads JSON bodies and sends `Reply`s; subclasses implement `route(method)`."""

    def log_message(self, *args):
        pass

    def read_json(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length)) if length else None

    def answer(self, reply: Reply) -> None:
        time.sleep(reply.delay)
        if reply.drop:
            self.close_connection = True
            self.connection.shutdown(2)
            return
        payload = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
        if reply.trickle_s is not None:
            return self.trickle(reply, payload)
        self.send_response(reply.status)
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def trickle(self, reply: Reply, payload: bytes) -> None:
        """The answer written byte by byte, until it ends or the client goes away."""
        head = "".join(f"{key}: {value}\r\n" for key, value in {**reply.headers, "Content-Type": "application/json",
                                                               "Content-Length": len(payload)}.items())
        head = f"HTTP/1.1 {reply.status} Scripted\r\n{head}\r\n".encode()
        if not reply.trickle_headers:
            self.wfile.write(head)
        slow = (head if reply.trickle_headers else b"") + payload
        self.close_connection = True
        try:
            for index in range(len(slow)):
                self.wfile.write(slow[index:index + 1])
                self.wfile.flush()
                time.sleep(reply.trickle_s)
        except OSError:
            pass

    def route(self, method: str) -> None:
        raise NotImplementedError

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")


class EndpointEmulator:
    """Serves /v2/{endpoint}/run, /status/{id} and /cancel/{id}; records every request. /status answers
    `status_method` (GET, as the hosted API; POST, as the RunPod SDK's local test server) and 405 otherwise."""

    def __init__(self, endpoint: str = "ep1", job_id: str = "job-123", status_method: str = "GET"):
        self.endpoint, self.job_id, self.status_method = endpoint, job_id, status_method
        self.run_replies: list[Reply] = []
        self.status_replies: list[Reply] = []  # the last one repeats
        self.cancel_replies: list[Reply] = []  # then: CANCELLED
        self.requests: list[dict] = []
        self.cancelled = threading.Event()
        emulator = self

        class Handler(JsonRequestHandler):
            def route(self, method: str) -> None:
                body = self.read_json()
                emulator.requests.append({"method": method, "path": self.path, "body": body,
                                          "authorization": self.headers.get("Authorization")})
                prefix = f"/v2/{emulator.endpoint}"
                if not self.path.startswith(prefix + "/"):
                    return self.answer(Reply(404, {"error": "endpoint not found"}))
                route = self.path[len(prefix):]
                if method == "POST" and route == "/run":
                    reply = emulator.run_replies.pop(0) if emulator.run_replies else Reply(
                        200, {"id": emulator.job_id, "status": "IN_QUEUE"})
                    return self.answer(reply)
                if method == emulator.status_method and route == f"/status/{emulator.job_id}":
                    replies = emulator.status_replies
                    return self.answer(replies.pop(0) if len(replies) > 1 else replies[0])
                if method == "POST" and route == f"/cancel/{emulator.job_id}":
                    emulator.cancelled.set()
                    return self.answer(emulator.cancel_replies.pop(0) if emulator.cancel_replies else Reply(
                        200, {"id": emulator.job_id, "status": "CANCELLED"}))
                if route.startswith("/status/"):
                    return self.answer(Reply(405, {"detail": "Method Not Allowed"}))
                return self.answer(Reply(404, {"error": "not found"}))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v2/{{endpointId}}"
        # A short poll interval: shutdown() at the end of each test returns within 50 ms, not 500.
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> EndpointEmulator:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def paths(self, method: str | None = None) -> list[str]:
        return [r["path"] for r in self.requests if method in (None, r["method"])]
