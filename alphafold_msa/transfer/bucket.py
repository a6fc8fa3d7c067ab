"""S3-compatible bucket storage for large results and inputs, configured the RunPod way.

BUCKET_ENDPOINT_URL, BUCKET_ACCESS_KEY_ID, BUCKET_SECRET_ACCESS_KEY and BUCKET_NAME
(default: the month and year, 'MM-YY', as RunPod's own upload helper names it) configure it. Uploads return a
presigned GET URL; downloads check size and SHA-256. boto3 is needed only to talk to a bucket.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import time
from urllib.parse import parse_qs, urlparse

import requests

from alphafold_msa import settings
from alphafold_msa.errors import UserError
from alphafold_msa.transfer.https import (
    CHUNK,
    CONNECT_TIMEOUT_S,
    READ_TIMEOUT_S,
    DownloadError,
    read_capped,
    redact_url,
)

URL_EXPIRES_S = 7 * 24 * 3600  # the longest a SigV4 presigned URL may live


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
        endpoint, key_id, secret = (settings.text(setting) for setting in (
            settings.BUCKET_ENDPOINT_URL, settings.BUCKET_ACCESS_KEY_ID, settings.BUCKET_SECRET_ACCESS_KEY))
        if not (endpoint and key_id and secret):
            return None
        name = settings.text(settings.BUCKET_NAME) or time.strftime("%m-%y")
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
        """The object `key`, refused when larger than `max_bytes` or slower than $ALPHAFOLD_MSA_DOWNLOAD_DEADLINE_S."""
        from botocore.exceptions import BotoCoreError, ClientError

        deadline = time.monotonic() + settings.download_deadline()
        try:
            answer = self.client().get_object(Bucket=self.name, Key=key)
            if answer["ContentLength"] > max_bytes:
                raise StorageError(f"s3://{self.name}/{key} is {answer['ContentLength']:,} bytes, over the "
                                   f"{max_bytes:,}-byte limit")
            chunks = []
            for chunk in answer["Body"].iter_chunks(CHUNK):
                if time.monotonic() > deadline:
                    raise StorageError(f"reading s3://{self.name}/{key} did not finish within its time limit "
                                       f"({settings.DOWNLOAD_DEADLINE.name})")
                chunks.append(chunk)
            return b"".join(chunks)
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


def download_link(url: str, max_bytes: int, expected_sha256: str | None = None) -> bytes:
    """GET `url` (no redirects), at most `max_bytes` within $ALPHAFOLD_MSA_DOWNLOAD_DEADLINE_S, and
    check its SHA-256 when one is expected."""
    expiry = link_expiry(url)
    if expiry is not None and expiry <= dt.datetime.now(dt.timezone.utc):
        raise ExpiredLinkError(f"the download link expired at {expiry:%Y-%m-%d %H:%M:%S} UTC")
    deadline = time.monotonic() + settings.download_deadline()
    try:
        with requests.get(url, stream=True, timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S),
                          allow_redirects=False) as response:
            if response.status_code == 403 and "expired" in response.raw.read(4096).decode("latin-1").lower():
                raise ExpiredLinkError("the download link has expired (HTTP 403 from the bucket)")
            if response.status_code != 200:
                raise StorageError(f"downloading {redact_url(url)} failed: HTTP {response.status_code}")
            data = read_capped(response.raw, max_bytes, deadline, f"downloading {redact_url(url)}")
    except requests.RequestException as error:
        raise StorageError(f"downloading {redact_url(url)} failed: {type(error).__name__}") from None
    except DownloadError as error:
        raise StorageError(str(error)) from None
    digest = hashlib.sha256(data).hexdigest()
    if expected_sha256 is not None and digest != expected_sha256:
        raise StorageError(f"the download from {redact_url(url)} has SHA-256 {digest}, not the "
                           f"expected {expected_sha256}: it is damaged or was replaced")
    return data
