"""The job schema shared by worker and client: validation, defaults, payload encoding and size limits.

Client-safe: needs only the standard library and jsonschema.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import math
from importlib import resources
from typing import Any

from alphafold_msa.errors import MsaError, MsaTooLargeError, UserError
from alphafold_msa.msa.limits import AlignmentLimits
from alphafold_msa.msa.read import read_limited
from alphafold_msa.structures.read import MAX_STRUCTURE_BYTES

# RunPod's documented request limit for /run is 10 MB; results beyond ~10-20 MB are dropped while
# the job still reports COMPLETED. Stay well inside both.
MAX_REQUEST_BYTES = 9_000_000
MAX_RESULT_BYTES = 9_000_000
INLINE_TEXT_BYTES = 256_000  # larger texts travel gzip+base64-encoded
# The results archive travels inline (base64) up to this size; beyond it, through the worker's bucket.
INLINE_ARCHIVE_BYTES = 6_000_000
# Conservative sizes of the archive's parts once gzip-compressed, for the check before a job runs:
# PAE as two-decimal JSON per residue pair, structure text per residue, and the plots.
_ARCHIVE_PAE_BYTES_PER_PAIR = 4.0
_ARCHIVE_STRUCTURE_BYTES_PER_RESIDUE = 250
_ARCHIVE_RELAXED_BYTES_PER_RESIDUE = 400
_ARCHIVE_FIXED_BYTES = 200_000

# Scores of the top model that a complex's result carries besides the monomer ones.
COMPLEX_SCORES = ("iptm", "ranking_confidence", "chain_mean_plddt", "chain_pair_pae")


class JobInputError(UserError):
    """A job's input does not follow the schema; the message names the field."""


class ResultTooLargeError(UserError):
    """The encoded result would exceed the platform's payload limit."""


def schema() -> dict[str, Any]:
    """The JSON schema of a job's input (alphafold_msa/protocol/job_schema.json)."""
    return json.loads(resources.files("alphafold_msa.protocol").joinpath("job_schema.json").read_text())


# The schema is the one source of the job's choices, limits and defaults; the launcher's options and
# run_prediction's arguments take theirs from here.
_PROPERTIES = schema()["properties"]
_ALIGNMENT_FIELDS = ("msa", "msa_gz_b64", "msa_url")
DEFAULTS: dict[str, Any] = {name: spec.get("default") for name, spec in _PROPERTIES.items()
                            if name not in _ALIGNMENT_FIELDS}
MODEL_NUMBERS: tuple[int, ...] = tuple(range(_PROPERTIES["models"]["items"]["minimum"],
                                             _PROPERTIES["models"]["items"]["maximum"] + 1))
COMPLEX_MODES: tuple[str, ...] = tuple(_PROPERTIES["complex_mode"]["enum"])
PAIRING_METHODS: tuple[str, ...] = tuple(_PROPERTIES["pairing"]["enum"])
RELAX_MODES: tuple[str, ...] = tuple(_PROPERTIES["relax"]["enum"])
STRUCTURE_FORMATS: tuple[str, ...] = tuple(_PROPERTIES["formats"]["items"]["enum"])
MSA_FORMATS: tuple[str, ...] = tuple(_PROPERTIES["format"]["enum"])
DEFAULT_NUM_RECYCLE: int = DEFAULTS["num_recycle"]
MAX_NUM_RECYCLE: int = _PROPERTIES["num_recycle"]["maximum"]
DEFAULT_MAX_MSA_DEPTH: int = DEFAULTS["max_msa_depth"]


def _field(error) -> str:
    path = ".".join(str(part) for part in error.absolute_path)
    return f"input.{path}" if path else "input"


def validate_input(job_input: Any) -> dict[str, Any]:
    """Check a job input against the schema; return it with defaults filled in, the templates decoded and the
    alignment as `msa`: text, or for `msa_gz_b64` the gzip bytes (decompressed when read)."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(job_input), key=lambda e: (len(e.absolute_path), e.path))
    if errors:
        error = errors[0]
        if error.validator == "oneOf" and not error.absolute_path:
            raise JobInputError("input: give the alignment as exactly one of 'msa' (text), 'msa_gz_b64' or 'msa_url'")
        if error.validator == "additionalProperties":
            allowed = ", ".join(error.schema["properties"])
            raise JobInputError(f"{_field(error)}: {error.message}; allowed fields: {allowed}")
        raise JobInputError(f"{_field(error)}: {error.message}")
    for name, value in job_input.items():
        _check_value(value, f"input.{name}")
    values = {**DEFAULTS, **_integers(job_input, schema()["properties"])}
    if "msa_gz_b64" in values:
        values["msa"] = _gzip_bytes(values.pop("msa_gz_b64"), "input.msa_gz_b64")
    values["templates"] = [{**entry, "structure": _structure_text(entry["structure"], f"input.templates.{index}")}
                           for index, entry in enumerate(values["templates"] or [])]
    return values


def _gzip_bytes(payload: str, field: str) -> bytes:
    """The gzip data a base64 field holds, still compressed: the alignment reader decompresses it as it
    reads, within its limits."""
    try:
        packed = base64.b64decode(payload, validate=True)
    except ValueError as error:
        raise JobInputError(f"{field}: not valid gzip+base64 data ({error})") from None
    if not packed.startswith(b"\x1f\x8b"):
        raise JobInputError(f"{field}: not valid gzip+base64 data (no gzip header)")
    return packed


def _structure_text(structure: str | dict[str, str], field: str) -> str:
    """A template's structure text: as given, or decoded from {"encoding": ..., "data": ...}; refused
    past MAX_STRUCTURE_BYTES (decompressed as a stream, so a gzip bomb stops there)."""
    field = f"{field}.structure"
    if isinstance(structure, dict) and structure["encoding"] == "gzip+base64":
        try:
            packed = base64.b64decode(structure["data"], validate=True)
            if not packed.startswith(b"\x1f\x8b"):
                raise ValueError("no gzip header")
            structure = read_limited(io.BytesIO(packed), field, MAX_STRUCTURE_BYTES).decode("utf-8")
        except (ValueError, UnicodeDecodeError) as error:
            raise JobInputError(f"{field}: not valid gzip+base64 data ({error})") from None
        except MsaTooLargeError:
            raise JobInputError(f"{field}: larger than {MAX_STRUCTURE_BYTES:,} bytes once decompressed") from None
        except MsaError as error:
            raise JobInputError(str(error)) from None
    text = structure if isinstance(structure, str) else structure["data"]
    if len(text) > MAX_STRUCTURE_BYTES:
        raise JobInputError(f"{field}: larger than {MAX_STRUCTURE_BYTES:,} bytes")
    return text


def _check_value(value: Any, field: str) -> None:
    """Refuse what JSON Schema lets through but the worker cannot use: NaN and infinities, and text
    that is not valid Unicode (a lone surrogate), anywhere in `value` (list items, object keys and values)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise JobInputError(f"{field}: {value} is not a finite number")
    if isinstance(value, str):
        _check_text(value, field)
    if isinstance(value, list):
        for index, item in enumerate(value):
            _check_value(item, f"{field}.{index}")
    if isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, f"{field} (a field name)")
            _check_value(item, f"{field}.{key}")


def _check_text(text: str, field: str) -> None:
    """Refuse `text` unless it is valid Unicode; the message names the character (escaped), never the text."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise JobInputError(f"{field}: character {error.start + 1} is a lone surrogate "
                            f"({text[error.start]!r}); the text must be valid Unicode") from None


def _integers(job_input: dict[str, Any], properties: dict[str, Any]) -> dict[str, Any]:
    """`job_input` with the schema's integer fields as ints: JSON Schema counts 1.0 as the integer 1."""
    values = dict(job_input)
    for name, spec in properties.items():
        if name in values and spec.get("type") == "integer":
            values[name] = int(values[name])
        elif name in values and spec.get("items", {}).get("type") == "integer":
            values[name] = [int(item) for item in values[name]]
    return values


def encode_payload(text: str) -> dict[str, str]:
    """A text payload: inline when small, gzip+base64 when large."""
    if len(text) <= INLINE_TEXT_BYTES:
        return {"encoding": "text", "data": text}
    packed = base64.b64encode(gzip.compress(text.encode("utf-8"), compresslevel=6)).decode("ascii")
    return {"encoding": "gzip+base64", "data": packed}


def decode_payload(payload: str | dict[str, str], field: str = "payload") -> str:
    """Inverse of encode_payload; a bare string is base64 gzip (as in 'msa_gz_b64'). Decompressed as a
    stream, refused past the alignment size limit ($ALPHAFOLD_MSA_MAX_MSA_BYTES)."""
    if isinstance(payload, dict):
        if payload.get("encoding") == "text":
            return payload["data"]
        payload = payload.get("data", "")
    try:
        packed = base64.b64decode(payload, validate=True)
        if not packed.startswith(b"\x1f\x8b"):
            raise ValueError("no gzip header")
        return read_limited(io.BytesIO(packed), field, AlignmentLimits.from_settings().max_bytes).decode("utf-8")
    except (ValueError, UnicodeDecodeError) as error:
        raise JobInputError(f"{field}: not valid gzip+base64 data ({error})") from None
    except MsaError as error:
        raise JobInputError(str(error)) from None


def request_body(job_input: dict[str, Any], execution_timeout_s: int) -> dict[str, Any]:
    """The /run body: the input (alignment compressed when large) and an execution-timeout policy."""
    job_input = dict(job_input)
    if len(job_input.get("msa", "")) > INLINE_TEXT_BYTES:
        job_input["msa_gz_b64"] = encode_payload(job_input.pop("msa"))["data"]
    body = {"input": job_input, "policy": {"executionTimeout": int(execution_timeout_s * 1000)}}
    size = len(json.dumps(body))
    if size > MAX_REQUEST_BYTES:
        what = "alignment and templates" if job_input.get("templates") else "alignment"
        raise JobInputError(
            f"input: the compressed {what} is {size / 1e6:.1f} MB, over the {MAX_REQUEST_BYTES / 1e6:.0f} MB "
            f"RunPod request limit; reduce the alignment's depth first (e.g. remove redundant sequences)"
            + (" or keep only the template chains you need" if job_input.get("templates") else "")
        )
    return body


def estimate_archive_bytes(length: int, num_predictions: int, num_formats: int, num_relaxed: int) -> int:
    """An upper estimate of the base64-encoded results archive of one job."""
    per_model = _ARCHIVE_PAE_BYTES_PER_PAIR * length ** 2 + _ARCHIVE_STRUCTURE_BYTES_PER_RESIDUE * length * num_formats
    packed = (_ARCHIVE_FIXED_BYTES + num_predictions * per_model
              + num_relaxed * _ARCHIVE_RELAXED_BYTES_PER_RESIDUE * length)
    return int(packed * 4 / 3)


def check_result_size(result: dict[str, Any]) -> int:
    """Raise ResultTooLargeError if the result's JSON would not survive the platform's limit."""
    size = len(json.dumps(result))
    if size > MAX_RESULT_BYTES:
        raise ResultTooLargeError(
            f"the result is {size / 1e6:.1f} MB, over the {MAX_RESULT_BYTES / 1e6:.0f} MB RunPod payload "
            f"limit; ask for fewer outputs (all_models=false, scores=false, formats=['pdb'])"
        )
    return size
