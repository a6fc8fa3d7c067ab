"""HTTP downloads on a job's or the operator's behalf: a wall-clock deadline per download, a size cap,
public-address checks pinned to the address that was checked, and URLs redacted for logs.

Client-safe: needs only the standard library, urllib3 and certifi (both come with requests).
"""

from __future__ import annotations

import ipaddress
import socket
import time
from typing import Callable
from urllib.parse import urlsplit, urlunsplit

import certifi
import urllib3
from urllib3.exceptions import LocationParseError, ProtocolError, ReadTimeoutError
from urllib3.util import Url, parse_url

from alphafold_msa import settings
from alphafold_msa.errors import UserError

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


class DownloadError(UserError):
    """A download failed or was refused; the message names the URL (redacted)."""


class DownloadTimeout(DownloadError):
    """A download ran past its wall-clock deadline."""


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
    host = parsed.host.strip("[]")
    try:
        infos = socket.getaddrinfo(host, parsed.port or 443, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise DownloadError(f"{field}: cannot resolve host '{host}'") from None
    addresses = [info[4][0] for info in infos]
    for address in addresses:
        if not is_public_address(address):
            raise DownloadError(f"{field}: host '{host}' resolves to the non-public address {address}; "
                                f"only public https URLs or the worker's bucket are fetched")
    return addresses[0]


def open_pinned(parsed: Url, address: str) -> urllib3.BaseHTTPResponse:
    """GET `parsed` from `address` (the checked one: no second lookup), with the URL's host for TLS
    (SNI, certificate) and the Host header; no redirects, no retries."""
    pool_class = urllib3.HTTPSConnectionPool if parsed.scheme == "https" else urllib3.HTTPConnectionPool
    tls = {"server_hostname": parsed.host, "assert_hostname": parsed.host, "cert_reqs": "CERT_REQUIRED",
           "ca_certs": certifi.where()} if parsed.scheme == "https" else {}
    pool = pool_class(address, parsed.port, retries=False, maxsize=1,
                      timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT_S, read=READ_TIMEOUT_S), **tls)
    return pool.urlopen("GET", parsed.request_uri, headers={"Host": parsed.netloc}, redirect=False,
                        preload_content=False, decode_content=False, retries=False)


def read_body(response: urllib3.BaseHTTPResponse, sink: Callable[[bytes], None], deadline: float, what: str,
              limit_name: str = settings.DOWNLOAD_DEADLINE.name) -> None:
    """Feed `response`'s body to `sink` until it ends; raise DownloadError once `time.monotonic()`
    passes `deadline`, however slowly the server sends (each read waits at most the time left)."""
    connection = response.connection
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _too_slow(what, limit_name)
        if connection is not None and connection.sock is not None:
            connection.sock.settimeout(min(READ_TIMEOUT_S, remaining))
        try:
            chunk = response.read1(CHUNK, decode_content=False)
        except (ReadTimeoutError, socket.timeout, TimeoutError):
            if time.monotonic() >= deadline:
                raise _too_slow(what, limit_name) from None
            raise DownloadError(f"{what}: no data for {READ_TIMEOUT_S:.0f} s") from None
        except (ProtocolError, OSError) as error:
            raise DownloadError(f"{what}: the connection failed ({type(error).__name__})") from None
        if not chunk:
            return
        sink(chunk)


def read_capped(response: urllib3.BaseHTTPResponse, max_bytes: int, deadline: float, what: str) -> bytes:
    """The whole body, refused as soon as it exceeds `max_bytes`; within `deadline`."""
    body = bytearray()

    def append(chunk: bytes) -> None:
        body.extend(chunk)
        if len(body) > max_bytes:
            raise DownloadError(f"{what} is larger than the {max_bytes:,}-byte limit")

    read_body(response, append, deadline, what)
    return bytes(body)


def _too_slow(what: str, limit_name: str) -> DownloadTimeout:
    return DownloadTimeout(f"{what}: the download did not finish within its time limit ({limit_name})")
