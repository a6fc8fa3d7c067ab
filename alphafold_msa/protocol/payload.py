"""How a text travels in a job or its result: `{"encoding": "text", "data": ...}`, or gzip+base64 when large
(`{"encoding": "gzip+base64", "data": ...}`). One decoder reads both, and the bare gzip+base64 string of
the `msa_gz_b64` job field. Standard library only.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import io
from typing import Any

from alphafold_msa.compression import TooLarge, read_limited
from alphafold_msa.errors import UserError

INLINE_TEXT_BYTES = 256_000  # larger texts travel gzip+base64-encoded
MAX_DECODED_BYTES = 1_000_000_000  # a payload's text at most, unless its reader sets a limit of its own
GZIP_MAGIC = b"\x1f\x8b"


class PayloadError(UserError):
    """A payload is not what its encoding says; the message names the field."""


def encode_payload(text: str) -> dict[str, str]:
    """A text payload: inline when small, gzip+base64 when large."""
    if len(text) <= INLINE_TEXT_BYTES:
        return {"encoding": "text", "data": text}
    packed = base64.b64encode(gzip.compress(text.encode("utf-8"), compresslevel=6)).decode("ascii")
    return {"encoding": "gzip+base64", "data": packed}


def payload_bytes(payload: str | dict[str, Any], field: str) -> bytes:
    """A payload's bytes as they travel: a text's UTF-8, or the gzip data still compressed (a bare string is
    gzip+base64, as `msa_gz_b64` carries it). Whoever reads them decompresses within their own limit."""
    if isinstance(payload, dict) and payload.get("encoding") == "text":
        return str(payload.get("data", "")).encode("utf-8")
    data = payload.get("data", "") if isinstance(payload, dict) else payload
    try:
        packed = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as error:
        raise PayloadError(f"{field}: not valid gzip+base64 data ({error})") from None
    if not packed.startswith(GZIP_MAGIC):
        raise PayloadError(f"{field}: not valid gzip+base64 data (no gzip header)")
    return packed


def decode_payload(payload: str | dict[str, Any], field: str = "payload", limit: int = MAX_DECODED_BYTES,
                   too_large: TooLarge | None = None) -> str:
    """A payload's text, decompressed as a stream and refused (`too_large(limit)`, by default a PayloadError)
    past `limit` bytes."""
    too_large = too_large or (lambda most: PayloadError(f"{field}: larger than {most:,} bytes once decompressed"))
    if isinstance(payload, dict) and payload.get("encoding") == "text":
        text = str(payload.get("data", ""))
        if len(text) > limit:
            raise too_large(limit)
        return text
    data = read_limited(io.BytesIO(payload_bytes(payload, field)), field, limit, too_large, PayloadError)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise PayloadError(f"{field}: not UTF-8 text (byte {error.start})") from None
