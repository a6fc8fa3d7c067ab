"""A job's msa_url: an object under the worker's own bucket's input prefix, or a public https URL
reached only at a checked public address."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable
from urllib.parse import urlparse

import urllib3

from alphafold_msa import settings
from alphafold_msa.transfer.bucket import Bucket, StorageError
from alphafold_msa.transfer.https import (
    DownloadError,
    ReadDeadline,
    capped,
    open_pinned,
    parse_public_https,
    read_body,
    redact_url,
    resolve_public,
)

# A job's msa_url may read only these objects of the worker's own bucket, unless $ALPHAFOLD_MSA_URL_ANY_KEY=1.
INPUT_PREFIX = "alphafold-msa/inputs/"


def fetch_public(url: str, max_bytes: int, sink: Callable[[bytes], object]) -> None:
    """Feed a job's msa_url on the internet to `sink`: parsed by the parser that connects, every address of its
    host public, the connection pinned to the checked address, at most `max_bytes`, every byte (headers
    included) within the download deadline."""
    parsed = parse_public_https(url, "msa_url")
    address = resolve_public(parsed, "msa_url")
    what = f"msa_url {redact_url(url)}"
    deadline = time.monotonic() + settings.download_deadline()
    too_slow = StorageError(f"{what}: the download did not finish within its time limit "
                            f"({settings.DOWNLOAD_DEADLINE.name})")
    with ReadDeadline(deadline) as reading:
        try:
            response = open_pinned(parsed, address)
        except urllib3.exceptions.HTTPError as error:
            raise too_slow if reading.cut else StorageError(f"{what}: cannot connect ({type(error).__name__})") \
                from None
        try:
            if response.status != 200:
                raise StorageError(f"{what}: HTTP {response.status}")
            read_body(response, capped(sink, max_bytes, what), deadline, what)
        except DownloadError as error:
            raise too_slow if reading.cut else StorageError(str(error)) from None
        finally:
            response.release_conn()
        if reading.cut:  # the answer was cut off at the deadline: what arrived is not the whole file
            raise too_slow


def check_input_key(key: str, bucket_name: str) -> None:
    """Refuse a bucket key outside INPUT_PREFIX (unless $ALPHAFOLD_MSA_URL_ANY_KEY=1) or with dot segments."""
    if any(part in ("", ".", "..") for part in key.split("/")):
        raise StorageError("msa_url: the object key has empty, '.' or '..' segments")
    if not settings.url_any_key() and not key.startswith(INPUT_PREFIX):
        raise StorageError(f"msa_url: only objects under s3://{bucket_name}/{INPUT_PREFIX} of the worker's bucket "
                           f"can be read")


def fetch(url: str, bucket: Bucket | None, max_bytes: int, destination: Path) -> None:
    """Write the bytes behind a job's msa_url to `destination` as they arrive (never held whole): from the
    configured bucket with its credentials, or a public https URL; at most `max_bytes`."""
    key = bucket.owns(url) if bucket else None
    if bucket and key:
        check_input_key(key, bucket.name)
    elif urlparse(url).scheme == "s3":
        raise StorageError(f"msa_url: {redact_url(url)} is not in the worker's bucket"
                           + (f" '{bucket.name}'" if bucket else " (none is configured)"))
    with open(destination, "wb") as out:
        if bucket and key:
            bucket.download(key, max_bytes, out.write)
        else:
            fetch_public(url, max_bytes, out.write)
