"""A local HTTP file server with Range support and scripted failures, for provisioning tests."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# A 200's status line and headers (Content-Length to fill in), padded to about 120 bytes.
HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-Padding: " + b"." * 64 + b"\r\n\r\n"


class WeightsServer:
    """Serves `payload` at /params.tar; `fail_with` statuses are answered first, one per request."""

    def __init__(self, payload: bytes):
        self.payload = payload
        self.fail_with: list[int] = []
        self.cut_after: int | None = None  # close the connection after this many body bytes, once
        self.wrong_range = False  # answer a Range request, once, with 206 but the whole archive from byte 0
        self.trickle_s: float | None = None  # send the body one byte per this many seconds
        self.trickle_headers_s: float | None = None  # send the status line and headers one byte per this many seconds
        # "length": Content-Length; "close": none, the body ends when the connection closes; "understated":
        # chunked, with a Content-Length of a tenth of the body beside it
        self.framing = "length"
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.requests.append({"path": self.path, "range": self.headers.get("Range")})
                if self.path.split("?", 1)[0] != "/params.tar":
                    self.send_error(404)
                    return
                if server.fail_with:
                    self.send_error(server.fail_with.pop(0))
                    return
                if server.trickle_headers_s is not None:
                    if self._trickle(HEAD % len(server.payload), server.trickle_headers_s):
                        self.wfile.write(server.payload)
                    return
                start = 0
                if server.wrong_range and self.headers.get("Range"):
                    server.wrong_range = False
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes 0-{len(server.payload) - 1}/{len(server.payload)}")
                elif (header := self.headers.get("Range", "")).startswith("bytes="):
                    start = int(header[6:].split("-")[0])
                    if start >= len(server.payload):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(server.payload)}")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(server.payload) - 1}/{len(server.payload)}")
                else:
                    self.send_response(200)
                body = server.payload[start:]
                if server.framing != "length":
                    self._unannounced(body)
                    return
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                if server.cut_after is not None:
                    self.wfile.write(body[: server.cut_after])
                    server.cut_after = None
                    self.close_connection = True
                    return
                if server.trickle_s is not None:
                    self._trickle(body, server.trickle_s)
                    return
                self.wfile.write(body)

            def _unannounced(self, body: bytes) -> None:
                """The body without a Content-Length that matches it (see `framing`)."""
                self.close_connection = True
                if server.framing == "close":
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self.send_header("Content-Length", str(len(body) // 10))
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for offset in range(0, len(body), 1 << 20):
                    chunk = body[offset:offset + (1 << 20)]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.write(b"0\r\n\r\n")

            def _trickle(self, data: bytes, delay: float) -> bool:
                """`data` one byte per `delay` seconds; False when the client went away first."""
                for index in range(len(data)):
                    try:
                        self.wfile.write(data[index:index + 1])
                        self.wfile.flush()
                    except OSError:
                        self.close_connection = True
                        return False
                    time.sleep(delay)
                return True

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/params.tar"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> WeightsServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def downloads(self) -> int:
        return sum(1 for r in self.requests if r["path"].split("?", 1)[0] == "/params.tar")
