"""HTTP downloads on a job's or the operator's behalf: a wall-clock deadline per download, a size cap,
public-address checks pinned to the address that was checked, and URLs redacted for logs.

`ReadDeadline` bounds every byte of an answer, headers included: the connections of `deadline_pool_manager`
and `open_pinned` hand it their socket before they read, and it shuts that socket when the deadline passes.

Client-safe: needs only the standard library, urllib3 and certifi (both come with requests).
"""

from __future__ import annotations

import ipaddress
import math
import socket
import threading
import time
from contextvars import ContextVar, Token
from typing import Callable, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

import certifi
import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import LocationParseError, ProtocolError, ReadTimeoutError
from urllib3.util import Url, parse_url

from alphafold_msa import settings
from alphafold_msa.errors import TransferError

READ_TIMEOUT_S = 60.0
CONNECT_TIMEOUT_S = 30.0
CHUNK = 1 << 20
# IPv6 ranges that carry an IPv4 address (which may be private) inside a global-looking one.
_EMBEDDED_IPV4 = tuple(ipaddress.ip_network(n) for n in (
    "::ffff:0:0/96",     # IPv4-mapped
    "::/96",             # IPv4-compatible (deprecated)
    "64:ff9b::/96",      # NAT64, well-known prefix
    "64:ff9b:1::/48",    # NAT64, local-use prefix
    "2002::/16",         # 6to4
    "2001::/32",         # Teredo
))


class DownloadError(TransferError):
    """A download failed or was refused; the message names the URL (redacted)."""


class DownloadTimeout(DownloadError):
    """A download ran past its wall-clock deadline."""


class ReadDeadline:
    """While active (`with`), the answers this thread reads through the connections of
    `deadline_pool_manager` and `open_pinned` end at `deadline` (time.monotonic()): a timer shuts the
    socket down then, so a read in progress (status line, headers or body) returns at once, however
    slowly the server sends. `cut` says afterwards whether the deadline passed on a connection still
    in use; the caller then reports the deadline, whatever error (or short body) the cut-off read produced."""

    def __init__(self, deadline: float):
        self.deadline = deadline
        self.cut = False
        self._passed = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._token: Token[ReadDeadline | None] | None = None

    def __enter__(self) -> ReadDeadline:
        self._token = _READ_DEADLINE.set(self)
        if math.isfinite(self.deadline):
            self._timer = threading.Timer(max(0.0, self.deadline - time.monotonic()), self._pass)
            self._timer.daemon = True
            self._timer.start()
        return self

    def __exit__(self, *exc_info) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._token is not None:
            _READ_DEADLINE.reset(self._token)
        with self._lock:
            self._sockets.clear()

    def watch(self, sock: socket.socket | None) -> None:
        """Shut `sock` when the deadline passes (at once when it has)."""
        if sock is None:
            return
        with self._lock:
            self._sockets.append(sock)
            if self._passed:
                self._shut(sock)

    def _pass(self) -> None:
        with self._lock:
            self._passed = True
            for sock in self._sockets:
                self._shut(sock)

    def _shut(self, sock: socket.socket) -> None:
        self.cut = True  # before the shutdown, so the reader it wakes sees it
        try:
            socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the plain socket's, also under TLS
        except OSError:  # already closed
            pass


_READ_DEADLINE: ContextVar[ReadDeadline | None] = ContextVar("read_deadline", default=None)


class WatchedHTTPConnection(HTTPConnection):
    """A urllib3 connection that hands its socket to the active ReadDeadline before reading an answer."""

    def getresponse(self, *args, **kwargs):
        deadline = _READ_DEADLINE.get()
        if deadline is not None:
            deadline.watch(self.sock)
        return super().getresponse(*args, **kwargs)


class WatchedHTTPSConnection(WatchedHTTPConnection, HTTPSConnection):
    pass


class WatchedHTTPConnectionPool(urllib3.HTTPConnectionPool):
    ConnectionCls = WatchedHTTPConnection


class WatchedHTTPSConnectionPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = WatchedHTTPSConnection


_WATCHED_POOLS = {"http": WatchedHTTPConnectionPool, "https": WatchedHTTPSConnectionPool}
_Manager = TypeVar("_Manager", bound=urllib3.PoolManager)


def deadline_pool_manager(url: str) -> urllib3.PoolManager:
    """A PoolManager for requests to `url`'s host, through the proxy the environment names for it
    (settings.proxy_for), whose answers, read inside a `ReadDeadline`, end at its deadline."""
    proxy = settings.proxy_for(url)
    return _proxy_manager(proxy) if proxy else _watched(urllib3.PoolManager())


def _proxy_manager(proxy: str) -> urllib3.ProxyManager:
    """A ProxyManager for `proxy`, whose user:password (when it has one) goes as Proxy-Authorization."""
    auth = parse_url(proxy).auth
    headers = urllib3.make_headers(proxy_basic_auth=unquote(auth)) if auth else None
    return _watched(urllib3.ProxyManager(proxy, proxy_headers=headers))


def _watched(manager: _Manager) -> _Manager:
    manager.pool_classes_by_scheme = _WATCHED_POOLS
    return manager


def redact_url(url: str) -> str:
    """`url` without credentials: no user:password@ and no query (presigned signatures)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparseable URL>"
    host = f"[{host}]" if ":" in host else host
    return urlunsplit((parts.scheme, host + port, parts.path, "", "")) + ("?<redacted>" if parts.query else "")


def is_public_address(address: str) -> bool:
    """True for a global unicast address that does not embed an IPv4 address (mapped, NAT64, 6to4, Teredo)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6 and any(ip in network for network in _EMBEDDED_IPV4):
        return False
    return ip.is_global and not ip.is_multicast


def parse_public_https(url: str, field: str) -> Url:
    """`url` parsed by the parser the connection uses; refused unless plain https to a named host."""
    if "\\" in url or any(ord(c) < 0x21 or c == "\x7f" for c in url):
        raise DownloadError(f"{field}: backslashes, spaces and control characters are not allowed in the URL")
    try:
        parsed = parse_url(url)
    except LocationParseError:
        raise DownloadError(f"{field}: not a valid URL (is the port between 1 and 65535?)") from None
    if parsed.scheme != "https" or not parsed.host:
        raise DownloadError(f"{field} must be an https URL or in the worker's bucket, got '{redact_url(url)}'")
    if parsed.auth:
        raise DownloadError(f"{field}: user names and passwords in the URL are not allowed")
    return parsed


def resolve_public(parsed: Url, field: str) -> str:
    """One address of `parsed.host`, after checking that every address it resolves to is public."""
    return resolve_only_public(parsed, field, "only public https URLs or the worker's bucket are fetched")


def resolve_only_public(parsed: Url, field: str, rule: str) -> str:
    """One address of `parsed.host`, after checking that every address it resolves to is public; a
    refusal names the address and ends with `rule` (what the caller fetches)."""
    assert parsed.host, "a host name (parse_public_https)"
    host = parsed.host.strip("[]")
    try:
        infos = socket.getaddrinfo(host, parsed.port or 443, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise DownloadError(f"{field}: cannot resolve host '{host}'") from None
    addresses = [str(info[4][0]) for info in infos]
    for address in addresses:
        if not is_public_address(address):
            raise DownloadError(f"{field}: host '{host}' resolves to the non-public address {address}; {rule}")
    return addresses[0]


def open_pinned(parsed: Url, address: str) -> urllib3.BaseHTTPResponse:
    """GET `parsed` from `address` (the checked one: no second lookup), with the URL's host for TLS
    (SNI, certificate) and the Host header; no redirects, no retries. Through a proxy (settings.proxy_for,
    https only), the tunnel is asked for `address` too, so the proxy makes no lookup of its own. Inside a
    ReadDeadline, the answer (headers included) ends at its deadline."""
    assert parsed.scheme in _WATCHED_POOLS and parsed.netloc, "http(s) with a host (parse_public_https, link_target)"
    tls = {"server_hostname": parsed.host, "assert_hostname": parsed.host, "cert_reqs": "CERT_REQUIRED",
           "ca_certs": certifi.where()} if parsed.scheme == "https" else {}
    options = {"retries": False, "maxsize": 1,
               "timeout": urllib3.Timeout(connect=CONNECT_TIMEOUT_S, read=READ_TIMEOUT_S)}
    proxy = settings.proxy_for(parsed.url) if parsed.scheme == "https" else None
    if proxy:
        pool = _proxy_manager(proxy).connection_from_host(address, parsed.port or 443, "https",
                                                          pool_kwargs={**options, **tls})
    else:
        pool = _WATCHED_POOLS[parsed.scheme](address, parsed.port, **options, **tls)
    return pool.urlopen("GET", parsed.request_uri, headers={"Host": parsed.netloc}, redirect=False,
                        preload_content=False, decode_content=False, retries=False)


def read_body(response: urllib3.BaseHTTPResponse, sink: Callable[[bytes], object], deadline: float, what: str,
              limit_name: str = settings.DOWNLOAD_DEADLINE.name) -> None:
    """Feed `response`'s body to `sink` until it ends; raise DownloadError once `time.monotonic()`
    passes `deadline`, however slowly the server sends (each read waits at most the time left)."""
    connection = response.connection
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise too_slow(what, limit_name)
        sock = getattr(connection, "sock", None)  # urllib3's BaseHTTPConnection protocol leaves `sock` out
        if sock is not None:
            sock.settimeout(min(READ_TIMEOUT_S, remaining))
        try:
            chunk = response.read1(CHUNK, decode_content=False)
        except (ReadTimeoutError, TimeoutError):
            if time.monotonic() >= deadline:
                raise too_slow(what, limit_name) from None
            raise DownloadError(f"{what}: no data for {READ_TIMEOUT_S:.0f} s") from None
        except (ProtocolError, OSError) as error:
            raise DownloadError(f"{what}: the connection failed ({type(error).__name__})") from None
        if not chunk:
            return
        sink(chunk)


def capped(sink: Callable[[bytes], object], max_bytes: int, what: str) -> Callable[[bytes], None]:
    """`sink`, refusing (DownloadError) the chunk that would take it past `max_bytes` in all."""
    received = 0

    def take(chunk: bytes) -> None:
        nonlocal received
        received += len(chunk)
        if received > max_bytes:
            raise DownloadError(f"{what} is larger than the {max_bytes:,}-byte limit")
        sink(chunk)

    return take


def read_capped(response: urllib3.BaseHTTPResponse, max_bytes: int, deadline: float, what: str) -> bytes:
    """The whole body, refused as soon as it exceeds `max_bytes`; within `deadline`."""
    body = bytearray()
    read_body(response, capped(body.extend, max_bytes, what), deadline, what)
    return bytes(body)


def too_slow(what: str, limit_name: str) -> DownloadTimeout:
    """The error for `what` past the deadline that `limit_name` (a setting) sets."""
    return DownloadTimeout(f"{what}: the download did not finish within its time limit ({limit_name})")
