"""What the launcher accepts from an endpoint: a job's output, checked as a whole before any of its
values is used (in a file name, a path, a download or a message).

Client-safe: needs only the standard library and jsonschema.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlparse

from alphafold_msa.errors import RemoteError
from alphafold_msa.transfer.bucket import LOOPBACK, URL_EXPIRES_S

MALFORMED = "the endpoint's result is malformed: "
_NUMBER = {"type": "number"}
OUTPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "structure": {"type": "string"},
        "structure_format": {"enum": ["pdb", "cif"]},
        "model": {"type": "string"},
        "mean_plddt": _NUMBER,
        "ptm": {"type": ["number", "null"]},
        "iptm": {"type": ["number", "null"]},
        "max_pae": {"type": ["number", "null"]},
        "plddt": {"type": "array", "items": _NUMBER},
        "ranking": {"type": "array", "items": {"type": "object"}},
        "msa": {"type": "object"},
        "timings": {"type": "object"},
        "relax": {"type": ["object", "null"], "required": ["platform", "seconds"],
                  "properties": {"platform": {"type": "string"}, "seconds": _NUMBER, "error": {"type": "string"}}},
        "files_error": {"type": "string"},
        "files": {
            "type": "object",
            "required": ["sha256"],
            "properties": {"sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"}, "data": {"type": "string"},
                           "url": {"type": "string"}, "key": {"type": "string"},
                           "bytes": {"type": "integer", "minimum": 0}},
            "anyOf": [{"required": ["data"]}, {"required": ["url"]}],
        },
    },
}


class OutputError(RemoteError):
    """The endpoint's result is malformed; the message names the field."""


def _field(error) -> str:
    return ".".join(["output", *(str(part) for part in error.absolute_path)])


def _describe(error) -> str:
    """One short line for a schema error (the offending value is not repeated: it may be huge)."""
    if error.validator == "required":
        return error.message
    if error.validator == "anyOf" and error.absolute_path and error.absolute_path[-1] == "files":
        return "needs 'data' (the archive) or 'url' (where to download it)"
    expected = {"type": f"expected {error.validator_value}", "enum": f"expected one of {error.validator_value}",
                "pattern": "expected 64 hexadecimal digits", "minimum": "expected a whole number of at least 0"}
    return expected.get(error.validator, "has an unexpected value")


def is_local_endpoint(api_url: str) -> bool:
    """True when --api-url is on this machine (127.0.0.1 or ::1): its results may come from there too."""
    return urlparse(api_url).hostname in LOOPBACK


def check_download_url(url: str, api_url: str) -> None:
    """A presigned results URL is fetched only over https (http only to 127.0.0.1 / ::1 when the
    endpoint itself is there), and only with a plausible X-Amz-Expires. (Where its host leads is
    checked when it is fetched: transfer.bucket.download_link.)"""
    parsed = urlparse(url)
    local = is_local_endpoint(api_url) and parsed.hostname in LOOPBACK
    if not parsed.hostname or parsed.username or not (parsed.scheme == "https" or local and parsed.scheme == "http"):
        raise OutputError(f"{MALFORMED}output.files.url: expected an https URL (http only to 127.0.0.1 or ::1 when "
                          "--api-url is local)")
    expires = parse_qs(parsed.query).get("X-Amz-Expires", ["0"])[0]
    if not expires.isdigit() or int(expires) > URL_EXPIRES_S:
        raise OutputError(f"{MALFORMED}output.files.url: X-Amz-Expires must be a whole number of seconds "
                          f"up to {URL_EXPIRES_S}")


def decode_output(output: Any, api_url: str) -> dict[str, Any]:
    """A job's output as a checked dict (older workers returned a JSON string); OutputError names
    the first malformed field."""
    import jsonschema

    if isinstance(output, str):
        try:
            output = json.loads(output)
        except json.JSONDecodeError:
            raise OutputError("the worker returned text that is not JSON") from None
    if not isinstance(output, dict) or "structure" not in output:
        raise OutputError("the worker's result has no structure")
    validator = jsonschema.Draft202012Validator(OUTPUT_SCHEMA)
    errors = sorted(validator.iter_errors(output), key=lambda e: [str(part) for part in e.absolute_path])
    if errors:
        raise OutputError(f"{MALFORMED}{_field(errors[0])}: {_describe(errors[0])}")
    if "url" in output.get("files", {}) and "data" not in output["files"]:
        check_download_url(output["files"]["url"], api_url)
    return output
