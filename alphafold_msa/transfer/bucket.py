"""S3-compatible bucket storage for large results and inputs, configured the RunPod way.

BUCKET_ENDPOINT_URL, BUCKET_ACCESS_KEY_ID, BUCKET_SECRET_ACCESS_KEY and BUCKET_NAME
(default: the month and year, 'MM-YY', as RunPod's own upload helper names it) configure it. Uploads return a
presigned GET URL; downloads check size and SHA-256. boto3 is needed only to talk to a bucket.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
import time
from typing import Callable
from urllib.parse import parse_qs, urlparse

import urllib3
from urllib3.exceptions import LocationParseError
from urllib3.util import Url, parse_url

from alphafold_msa import settings
from alphafold_msa.errors import TransferError
from alphafold_msa.protocol.output import LOOPBACK, URL_EXPIRES_S
from alphafold_msa.transfer.https import (
    CHUNK,
    DownloadError,
    ReadDeadline,
    capped,
    open_pinned,
    parse_public_https,
    read_capped,
    redact_url,
    resolve_only_public,
)

_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>]+")
LINK_FIELD = "output.files.url"


class StorageError(TransferError):
    """A bucket or URL transfer failed; the message says which and why."""


class ExpiredLinkError(StorageError):
    """A presigned URL is past its expiry."""


@dataclasses.dataclass(frozen=True)
class Bucket:
    """An S3-compatible bucket and the credentials to reach it."""

    endpoint_url: str
    access_key_id: str
    secret_access_key: str
    name: str

    @classmethod
    def from_env(cls) -> Bucket | None:
        """The bucket the environment configures, or None when none is (settings.bucket refuses a partial or
        malformed configuration)."""
        configured = settings.bucket()
        if configured is None:
            return None
        endpoint, key_id, secret, name = configured
        return cls(endpoint.rstrip("/"), key_id, secret, name or time.strftime("%m-%y"))

    def client(self):
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.endpoint_url, aws_access_key_id=self.access_key_id,
                            aws_secret_access_key=self.secret_access_key, region_name=_region(self.endpoint_url),
                            config=Config(signature_version="s3v4", retries={"max_attempts": 3, "mode": "standard"}))

    def upload(self, key: str, data: bytes, expires_s: int = URL_EXPIRES_S) -> str:
        """Store `data` under `key`; return a presigned GET URL valid for `expires_s` seconds."""
        from botocore.exceptions import BotoCoreError, ClientError

        client = self.client()
        try:
            client.put_object(Bucket=self.name, Key=key, Body=data, ContentType="application/gzip")
            return client.generate_presigned_url("get_object", Params={"Bucket": self.name, "Key": key},
                                                 ExpiresIn=expires_s)
        except (BotoCoreError, ClientError) as error:
            raise StorageError(f"cannot upload to bucket '{self.name}' at {redact_url(self.endpoint_url)}: "
                               f"{self._redacted(error)}") from None

    def get(self, key: str, max_bytes: int) -> bytes:
        """The object `key` (see `download`)."""
        chunks: list[bytes] = []
        self.download(key, max_bytes, chunks.append)
        return b"".join(chunks)

    def download(self, key: str, max_bytes: int, sink: Callable[[bytes], object]) -> None:
        """Feed the object `key` to `sink` as it arrives; refused when larger than `max_bytes` (as announced,
        or as counted) or slower than $ALPHAFOLD_MSA_DOWNLOAD_DEADLINE_S."""
        from botocore.exceptions import BotoCoreError, ClientError

        deadline = time.monotonic() + settings.download_deadline()
        what = f"s3://{self.name}/{key}"
        try:
            answer = self.client().get_object(Bucket=self.name, Key=key)
            if answer["ContentLength"] > max_bytes:
                raise StorageError(f"{what} is {answer['ContentLength']:,} bytes, over the {max_bytes:,}-byte limit")
            take = capped(sink, max_bytes, what)
            for chunk in answer["Body"].iter_chunks(CHUNK):
                if time.monotonic() > deadline:
                    raise StorageError(f"reading {what} did not finish within its time limit "
                                       f"({settings.DOWNLOAD_DEADLINE.name})")
                take(chunk)
        except DownloadError as error:
            raise StorageError(str(error)) from None
        except (BotoCoreError, ClientError) as error:
            raise StorageError(f"cannot read {what} from {redact_url(self.endpoint_url)}: "
                               f"{self._redacted(error)}") from None

    def _redacted(self, error: Exception) -> str:
        """botocore's message for `error` with every URL in it redacted (it quotes the endpoint, which may carry
        a user name and password) and the endpoint's user:password removed wherever else it appears."""
        message = _URL_IN_TEXT.sub(lambda url: redact_url(url.group()), str(error))
        userinfo = urlparse(self.endpoint_url).netloc.rpartition("@")[0]
        return message.replace(userinfo, "<redacted>") if userinfo else message

    def owns(self, url: str) -> str | None:
        """The object key when `url` is s3://<this bucket>/key or a URL under this bucket's endpoint."""
        parsed = urlparse(url)
        if parsed.scheme == "s3":
            return parsed.path.lstrip("/") if parsed.netloc == self.name else None
        prefix = f"{self.endpoint_url}/{self.name}/"
        return url.split("?", 1)[0][len(prefix):] if url.startswith(prefix) else None


def _region(endpoint_url: str) -> str | None:
    """The region in an AWS-style endpoint (bucket.s3.REGION.amazonaws.com), else None."""
    host = urlparse(endpoint_url).netloc
    return host.split(".s3.", 1)[1].split(".")[0] if ".s3." in host else None


def link_expiry(url: str) -> dt.datetime | None:
    """When a presigned URL (SigV4 X-Amz-Date + X-Amz-Expires, or SigV2 Expires) stops working."""
    query = parse_qs(urlparse(url).query)
    try:
        if "X-Amz-Date" in query and "X-Amz-Expires" in query:
            signed = dt.datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)
            return signed + dt.timedelta(seconds=int(query["X-Amz-Expires"][0]))
        if "Expires" in query:
            return dt.datetime.fromtimestamp(int(query["Expires"][0]), dt.timezone.utc)
    except (ValueError, OverflowError, OSError):  # unreadable or beyond the calendar: expiry unknown
        return None
    return None


def link_target(url: str, loopback: bool = False) -> tuple[Url, str]:
    """A presigned link parsed, and the address to connect to: https to a host whose every address is
    public (the checks a job's msa_url gets), or, when `loopback` (the endpoint itself is on this
    machine), http or https to 127.0.0.1 / ::1 named as such."""
    if loopback:
        try:
            parsed = parse_url(url)
        except LocationParseError:
            parsed = None
        host = (parsed.host or "").strip("[]") if parsed else ""
        if parsed and parsed.scheme in ("http", "https") and host in LOOPBACK and not parsed.auth:
            return parsed, host
    parsed = parse_public_https(url, LINK_FIELD)
    return parsed, resolve_only_public(parsed, LINK_FIELD, "results are downloaded only from public addresses")


def download_link(url: str, max_bytes: int, expected_sha256: str | None = None, *, loopback: bool = False) -> bytes:
    """GET a presigned `url` from the address `link_target` checked (no redirects, no second lookup),
    at most `max_bytes`, every byte (headers included) within $ALPHAFOLD_MSA_DOWNLOAD_DEADLINE_S; check
    its SHA-256 when one is expected. ExpiredLinkError when the link is past its expiry."""
    expiry = link_expiry(url)
    if expiry is not None and expiry <= dt.datetime.now(dt.timezone.utc):
        raise ExpiredLinkError(f"the download link expired at {expiry:%Y-%m-%d %H:%M:%S} UTC")
    try:
        parsed, address = link_target(url, loopback)
    except DownloadError as error:
        raise StorageError(str(error)) from None
    what = f"downloading {redact_url(url)}"
    deadline = time.monotonic() + settings.download_deadline()
    with ReadDeadline(deadline) as reads:
        try:
            data = _read_link(parsed, address, max_bytes, deadline, what)
        finally:
            if reads.cut:  # whatever the cut-off read made of it: an error, or a short body
                raise StorageError(f"{what}: the download did not finish within its time limit "
                                   f"({settings.DOWNLOAD_DEADLINE.name})") from None
    digest = hashlib.sha256(data).hexdigest()
    if expected_sha256 is not None and digest != expected_sha256:
        raise StorageError(f"the download from {redact_url(url)} has SHA-256 {digest}, not the "
                           f"expected {expected_sha256}: it is damaged or was replaced")
    return data


def _read_link(parsed: Url, address: str, max_bytes: int, deadline: float, what: str) -> bytes:
    """The body of a 200 answer from `address`; ExpiredLinkError for the bucket's 'expired' 403."""
    try:
        response = open_pinned(parsed, address)
    except urllib3.exceptions.HTTPError as error:
        raise StorageError(f"{what} failed: {type(error).__name__}") from None
    try:
        if response.status == 403 and b"expired" in response.read(4096, decode_content=False).lower():
            raise ExpiredLinkError("the download link has expired (HTTP 403 from the bucket)")
        if response.status != 200:
            raise StorageError(f"{what} failed: HTTP {response.status}")
        return read_capped(response, max_bytes, deadline, what)
    except urllib3.exceptions.HTTPError as error:
        raise StorageError(f"{what} failed: {type(error).__name__}") from None
    except DownloadError as error:
        raise StorageError(str(error)) from None
    finally:
        response.close()  # its pool is this download's alone
