"""Proxies named by the environment (HTTPS_PROXY, HTTP_PROXY, NO_PROXY, either case): the RunPod API and the
weights go through them, pinned downloads tunnel to the address that was checked, loopback never does.
Everything here talks to 127.0.0.1 only: the proxy below forwards every host name to 127.0.0.1."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
from endpoint_emulator import EndpointEmulator, Reply

from alphafold_msa import settings
from alphafold_msa.errors import ConfigError
from alphafold_msa.launcher.client import EndpointClient
from alphafold_msa.transfer.bucket import StorageError, download_link

PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy")


class LocalProxy:
    """A forward proxy on 127.0.0.1 that sends every plain-HTTP request to 127.0.0.1 (whatever host it
    names) and refuses every CONNECT tunnel; it records the request lines and Proxy-Authorization."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.authorizations: list[str | None] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def record(self) -> None:
                proxy.lines.append(self.requestline)
                proxy.authorizations.append(self.headers.get("Proxy-Authorization"))

            def do_CONNECT(self):
                self.record()
                self.send_response(403)
                self.end_headers()

            def forward(self) -> None:
                self.record()
                target = urlsplit(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                connection = http.client.HTTPConnection("127.0.0.1", target.port, timeout=10)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "proxy-authorization"}
                connection.request(self.command, target.path + (f"?{target.query}" if target.query else ""),
                                   body=body or None, headers=headers)
                answer = connection.getresponse()
                payload = answer.read()
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def __enter__(self) -> LocalProxy:
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(monkeypatch):
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    with LocalProxy() as running:
        yield running


def test_the_proxy_for_a_url_follows_its_scheme_no_proxy_and_never_loopback(monkeypatch):
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert settings.proxy_for("https://api.runpod.ai/v2/x") is None
    monkeypatch.setenv("https_proxy", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example")
    assert settings.proxy_for("https://api.runpod.ai/v2/x") == "http://proxy.example:3128"
    assert settings.proxy_for("http://api.runpod.ai/v2/x") is None
    assert settings.proxy_for("https://internal.example/x") is None
    for local in ("https://127.0.0.1:8000/x", "https://[::1]:8000/x", "https://localhost/x"):
        assert settings.proxy_for(local) is None
    monkeypatch.delenv("https_proxy")
    monkeypatch.setenv("HTTPS_PROXY", "proxy.example:3128")  # no scheme
    with pytest.raises(ConfigError, match=r"^HTTPS_PROXY must be an http or https URL .*not shown"):
        settings.check_all()


def test_the_runpod_api_goes_through_the_proxy_with_its_credentials(proxy, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", proxy.url.replace("http://", "http://user:p%40ss@"))
    with EndpointEmulator() as endpoint:
        endpoint.status_replies = [Reply(200, {"id": "job-123", "status": "COMPLETED", "output": {}})]
        port = endpoint.server.server_address[1]
        client = EndpointClient(f"http://api.runpod.test:{port}/v2/ep1", "key")
        assert client.submit({"input": {}}, deadline=time.monotonic() + 20) == "job-123"
        assert client.status("job-123", deadline=time.monotonic() + 20)["status"] == "COMPLETED"
    assert proxy.lines == [f"POST http://api.runpod.test:{port}/v2/ep1/run HTTP/1.1",
                           f"GET http://api.runpod.test:{port}/v2/ep1/status/job-123 HTTP/1.1"]
    assert proxy.authorizations == ["Basic dXNlcjpwQHNz"] * 2  # user:p@ss


def test_the_weights_download_goes_through_the_proxy(proxy, monkeypatch, tmp_path):
    from weights_server import WeightsServer

    from alphafold_msa.model.provision import download_archive

    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    with WeightsServer(b"x" * 50_000) as server:
        url = server.url.replace("127.0.0.1", "weights.test")
        download_archive(url, tmp_path / "params.tar", time.monotonic() + 30)
    assert (tmp_path / "params.tar").read_bytes() == b"x" * 50_000
    assert proxy.lines and all("http://weights.test:" in line for line in proxy.lines)


def test_a_pinned_download_tunnels_to_the_checked_address_not_the_host_name(proxy, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    public = "93.184.216.34"
    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):  # the results host resolves to a public address, nothing else is looked up
        if host == "results.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (public, 443))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    link = "https://results.example/alphafold-msa/job/results.tar.gz?X-Amz-Expires=60"
    with pytest.raises(StorageError):
        download_link(link, 10**6)
    assert [line.rsplit(" ", 1)[0] for line in proxy.lines] == [f"CONNECT {public}:443"]
