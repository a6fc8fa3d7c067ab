"""S3-compatible bucket storage for large results and inputs, configured the RunPod way.

The worker reads BUCKET_ENDPOINT_URL, BUCKET_ACCESS_KEY_ID, BUCKET_SECRET_ACCESS_KEY and BUCKET_NAME
(default: the month and year, 'MM-YY', as RunPod's own upload helper names it). Uploads return a
presigned GET URL; downloads check size and SHA-256. boto3 is needed only to talk to a bucket.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import ipaddress
import os
import socket
import time
from urllib.parse import parse_qs, urlparse

import requests

from alphafold_msa.errors import UserError

URL_EXPIRES_S = 7 * 24 * 3600  # the longest a SigV4 presigned URL may live
DOWNLOAD_CHUNK = 1 << 20


class StorageError(UserError):
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
    def from_env(cls) -> "Bucket | None":
        """The bucket the environment configures, or None when BUCKET_ENDPOINT_URL and the keys are not all set."""
        endpoint = os.environ.get("BUCKET_ENDPOINT_URL")
        key_id = os.environ.get("BUCKET_ACCESS_KEY_ID")
        secret = os.environ.get("BUCKET_SECRET_ACCESS_KEY")
        if not (endpoint and key_id and secret):
            return None
        name = os.environ.get("BUCKET_NAME") or time.strftime("%m-%y")
        return cls(endpoint.rstrip("/"), key_id, secret, name)

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
            raise StorageError(f"cannot upload to bucket '{self.name}' at {self.endpoint_url}: {error}") from None

    def get(self, key: str, max_bytes: int) -> bytes:
        """The object `key`, refused when larger than `max_bytes`."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self.client().get_object(Bucket=self.name, Key=key)
            if answer["ContentLength"] > max_bytes:
                raise StorageError(f"s3://{self.name}/{key} is {answer['ContentLength']:,} bytes, over the "
                                   f"{max_bytes:,}-byte limit")
            return answer["Body"].read()
        except (BotoCoreError, ClientError) as error:
            raise StorageError(f"cannot read s3://{self.name}/{key} from {self.endpoint_url}: {error}") from None

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


def download(url: str, max_bytes: int, expected_sha256: str | None = None, timeout: float = 60) -> bytes:
    """GET `url` (no redirects), at most `max_bytes`, and check its SHA-256 when one is expected."""
    expiry = link_expiry(url)
    if expiry is not None and expiry <= dt.datetime.now(dt.timezone.utc):
        raise ExpiredLinkError(f"the download link expired at {expiry:%Y-%m-%d %H:%M:%S} UTC")
    digest = hashlib.sha256()
    chunks, size = [], 0
    try:
        with requests.get(url, stream=True, timeout=timeout, allow_redirects=False) as response:
            if response.status_code == 403 and "expired" in response.text.lower():
                raise ExpiredLinkError("the download link has expired (HTTP 403 from the bucket)")
            if response.status_code != 200:
                raise StorageError(f"downloading {_redacted(url)} failed: HTTP {response.status_code}")
            for chunk in response.iter_content(DOWNLOAD_CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise StorageError(f"{_redacted(url)} is larger than the {max_bytes:,}-byte limit")
                digest.update(chunk)
                chunks.append(chunk)
    except requests.RequestException as error:
        raise StorageError(f"downloading {_redacted(url)} failed: {type(error).__name__}") from None
    if expected_sha256 is not None and digest.hexdigest() != expected_sha256:
        raise StorageError(f"the download from {_redacted(url)} has SHA-256 {digest.hexdigest()}, not the "
                           f"expected {expected_sha256}: it is damaged or was replaced")
    return b"".join(chunks)


def _redacted(url: str) -> str:
    """The URL without its query (presigned signatures are credentials)."""
    return url.split("?", 1)[0]


def check_public_https(url: str) -> None:
    """Refuse anything but https to a host whose every address is public (no private, loopback,
    link-local or reserved targets), so a job cannot make the worker probe its own network."""
    parsed = urlparse(url)
    if parsed.scheme != "https" or not parsed.hostname:
        raise StorageError(f"msa_url must be an https URL or in the worker's bucket, got '{_redacted(url)}'")
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(parsed.hostname, parsed.port or 443)}
    except socket.gaierror:
        raise StorageError(f"msa_url: cannot resolve host '{parsed.hostname}'") from None
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if not ip.is_global or ip.is_multicast:
            raise StorageError(f"msa_url: host '{parsed.hostname}' resolves to the non-public address {ip}; "
                               f"only public https URLs or the worker's bucket are fetched")


def fetch(url: str, bucket: Bucket | None, max_bytes: int) -> bytes:
    """The bytes behind a job's msa_url: from the configured bucket with its credentials, or a public https URL."""
    key = bucket.owns(url) if bucket else None
    if key:
        return bucket.get(key, max_bytes)
    if urlparse(url).scheme == "s3":
        raise StorageError(f"msa_url: {url} is not in the worker's bucket"
                           + (f" '{bucket.name}'" if bucket else " (none is configured)"))
    check_public_https(url)
    return download(url, max_bytes)
