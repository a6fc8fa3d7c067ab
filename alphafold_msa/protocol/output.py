"""What the launcher accepts from an endpoint: a job's output, checked as a whole against the output
contract (output_schema.json) before any of its values is used (in a file name, a path, a download or a
message).

Client-safe: needs only the standard library and jsonschema.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlparse

from alphafold_msa.errors import RemoteError

MALFORMED = "the endpoint's result is malformed: "
# The output contract (read once; treat as read-only).
OUTPUT_SCHEMA: dict[str, Any] = json.loads(resources.files("alphafold_msa.protocol").joinpath("output_schema.json")
                                           .read_text())
URL_EXPIRES_S = 7 * 24 * 3600  # the longest a results link (a SigV4 presigned URL) may live
# Said inside every file of a prediction made with generated random weights (--demo-weights), and by the
# launcher's last line about it.
DEMO_WEIGHTS_NOTE = "predicted with RANDOM demo weights: not a structure prediction"
DEMO_WEIGHTS_PLOT_NOTE = "RANDOM DEMO WEIGHTS: NOT A PREDICTION"  # short enough for the narrowest plot
LOOPBACK = ("127.0.0.1", "::1")


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
