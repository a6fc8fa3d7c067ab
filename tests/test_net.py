"""msa_url and download safety: the address checks, pinning, deadlines. Real servers on 127.0.0.1 only."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from urllib3.util import parse_url

from alphafold_msa.transfer.bucket import StorageError, download_link
from alphafold_msa.transfer.https import DownloadError, is_public_address, open_pinned, read_capped, redact_url
from alphafold_msa.worker.handler import handle_job

SECRET = b"INTERNAL-ONLY-ANSWER hunter2\n"


class LocalServer:
    """Answers every GET with SECRET (or trickles it, one byte per `trickle_s`) and records requests."""

    def __init__(self, trickle_s: float | None = None):
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.requests.append({"path": self.path, "host": self.headers.get("Host")})
                self.send_response(200)
                self.send_header("Content-Length", str(len(SECRET) * 1000 if trickle_s else len(SECRET)))
                self.end_headers()
                if trickle_s is None:
                    self.wfile.write(SECRET)
                    return
                try:
                    for _ in range(1000 * len(SECRET)):
                        self.wfile.write(b"x")
                        self.wfile.flush()
                        time.sleep(trickle_s)
                except OSError:
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.1.2.3", "169.254.169.254", "100.64.0.1", "0.0.0.0", "224.0.0.1", "::1", "fd00::1", "fe80::1",
    "::ffff:127.0.0.1", "::ffff:8.8.8.8", "::127.0.0.1", "64:ff9b::a9fe:a9fe", "64:ff9b::808:808",
    "64:ff9b:1::a00:1", "2002:7f00:1::1", "2002:0808:0808::1", "2001:0:4136:e378:8000:63bf:3fff:fdd2",
])
def test_non_public_and_ipv4_embedding_addresses_are_refused(address):
    assert not is_public_address(address)


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2a00:1450:4001:80b::200e"])
def test_public_addresses_pass(address):
    assert is_public_address(address)


@pytest.fixture
def work(monkeypatch, tmp_path):
    monkeypatch.setenv("WORKDIR", str(tmp_path / "work"))
    for key in ("BUCKET_ENDPOINT_URL", "BUCKET_ACCESS_KEY_ID", "BUCKET_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(key, raising=False)


@pytest.mark.parametrize("template, message", [
    ("https://127.0.0.1:{port}\\@public.example/x.a3m", "backslashes, spaces and control characters are not allowed"),
    ("https://user:pw@127.0.0.1:{port}/x.a3m", "user names and passwords in the URL are not allowed"),
    ("https://127.0.0.1:{port}/x.a3m", "resolves to the non-public address 127.0.0.1"),
    ("https://[::ffff:127.0.0.1]:{port}/x.a3m", "resolves to the non-public address ::ffff:127.0.0.1"),
    ("https://[::1]:{port}/x.a3m", "resolves to the non-public address ::1"),
    ("https://localhost:70000/x.a3m", "msa_url: not a valid URL (is the port between 1 and 65535?)"),
    ("https://localhost:{port}/x a3m", "backslashes, spaces and control characters are not allowed"),
])
def test_msa_url_tricks_are_refused_before_any_request(work, template, message):
    with LocalServer() as server:
        result = handle_job({"id": "ssrf", "input": {"msa_url": template.format(port=server.port)}})
        assert server.requests == []
    assert set(result) == {"error"} and message in result["error"], result
    assert "hunter2" not in result["error"] and "internal error" not in result["error"]


def test_the_connection_goes_to_the_checked_address_with_the_url_host(work):
    with LocalServer() as server:
        parsed = parse_url(f"http://msa.example.invalid:{server.port}/family.a3m?x=1")
        response = open_pinned(parsed, "127.0.0.1")  # never resolves msa.example.invalid
        body = read_capped(response, 1000, time.monotonic() + 10, "test")
    assert body == SECRET
    assert server.requests == [{"path": "/family.a3m?x=1", "host": f"msa.example.invalid:{server.port}"}]


def test_a_body_over_the_cap_is_refused_while_streaming(work):
    with LocalServer() as server:
        response = open_pinned(parse_url(f"http://127.0.0.1:{server.port}/x"), "127.0.0.1")
        with pytest.raises(DownloadError, match="larger than the 10-byte limit"):
            read_capped(response, 10, time.monotonic() + 10, "test")


def test_a_trickling_download_stops_at_its_deadline(monkeypatch):
    monkeypatch.setenv("ALPHAFOLD_MSA_DOWNLOAD_DEADLINE_S", "1.5")
    with LocalServer(trickle_s=0.05) as server:
        started = time.monotonic()
        with pytest.raises(StorageError,
                           match=r"did not finish within its time limit \(ALPHAFOLD_MSA_DOWNLOAD_DEADLINE_S\)"):
            download_link(f"http://127.0.0.1:{server.port}/results.tar.gz", 10**6, loopback=True)
        assert time.monotonic() - started < 5
        started = time.monotonic()
        response = open_pinned(parse_url(f"http://msa.example.invalid:{server.port}/x"), "127.0.0.1")
        with pytest.raises(DownloadError, match="did not finish within its time limit"):
            read_capped(response, 10**6, time.monotonic() + 1, "msa_url")
        assert time.monotonic() - started < 5


def test_urls_are_redacted():
    assert (redact_url("https://u:p@host.example:8443/a/b?X-Amz-Signature=s")
            == "https://host.example:8443/a/b?<redacted>")
    assert redact_url("http://[::1]:80/x") == "http://[::1]:80/x"


class HeaderTrickler(BaseHTTPRequestHandler):
    """Sends its status line, then one header byte every 50 ms, for minutes."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        try:
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            for _ in range(10_000):
                self.wfile.write(b"X")
                self.wfile.flush()
                time.sleep(0.05)
        except OSError:
            pass


@pytest.fixture
def pinned_to_loopback(monkeypatch):
    """msa_url's public-address checks pointed at 127.0.0.1 over http, to test what follows them."""
    from alphafold_msa.worker import msa_url

    monkeypatch.setattr(msa_url, "parse_public_https", lambda url, field: parse_url(url))
    monkeypatch.setattr(msa_url, "resolve_public", lambda parsed, field: "127.0.0.1")
    return msa_url


def test_an_msa_url_whose_headers_trickle_stops_at_the_deadline(pinned_to_loopback, monkeypatch, tmp_path):
    monkeypatch.setenv("ALPHAFOLD_MSA_DOWNLOAD_DEADLINE_S", "1.5")
    server = ThreadingHTTPServer(("127.0.0.1", 0), HeaderTrickler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    started = time.monotonic()
    try:
        with pytest.raises(StorageError, match=r"did not finish within its time limit \(ALPHAFOLD_MSA_DOWNLOAD"):
            pinned_to_loopback.fetch(f"http://msa.example.invalid:{server.server_address[1]}/a.a3m", None, 10**6,
                                     tmp_path / "input.msa")
    finally:
        server.shutdown()
        server.server_close()
    assert time.monotonic() - started < 10


def test_an_msa_url_is_written_to_the_job_folder_as_it_arrives(pinned_to_loopback, tmp_path):
    import tracemalloc

    body = b">q\nMKVLA\n" * 2_000_000  # 18 MB

    class Large(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Large)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    destination = tmp_path / "input.msa"
    tracemalloc.start()
    try:
        pinned_to_loopback.fetch(f"http://msa.example.invalid:{server.server_address[1]}/a.a3m", None, 10**8,
                                 destination)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        server.shutdown()
        server.server_close()
    assert destination.read_bytes() == body and peak < 8_000_000
