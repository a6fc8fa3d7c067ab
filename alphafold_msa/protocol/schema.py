"""The job contract shared by worker and client: the job schema (job_schema.json, read once) and the
choices, limits and defaults derived from it, its validation, and the platform's size limits.

Client-safe, and independent of the implementation: the standard library, jsonschema, and the
package's errors only.
"""

from __future__ import annotations

import json
import math
from importlib import resources
from typing import Any

from alphafold_msa.errors import ResourceError, UserError
from alphafold_msa.protocol.payload import INLINE_TEXT_BYTES, encode_payload

# RunPod's documented request limit for /run is 10 MB; results beyond ~10-20 MB are dropped while
# the job still reports COMPLETED. Stay well inside both.
MAX_REQUEST_BYTES = 9_000_000
MAX_RESULT_BYTES = 9_000_000
# The results archive travels inline (base64) up to this size; beyond it, through the worker's bucket.
INLINE_ARCHIVE_BYTES = 6_000_000
# A template structure's text, once decompressed: a template is one protein chain or a few.
MAX_STRUCTURE_BYTES = 10_000_000
# Conservative sizes of the archive's parts once gzip-compressed, for the check before a job runs:
# PAE as two-decimal JSON per residue pair, structure text per residue, and the plots.
_ARCHIVE_PAE_BYTES_PER_PAIR = 4.0
_ARCHIVE_STRUCTURE_BYTES_PER_RESIDUE = 250
_ARCHIVE_RELAXED_BYTES_PER_RESIDUE = 400
_ARCHIVE_FIXED_BYTES = 200_000

# Scores of the top model that a complex's result carries besides the monomer ones.
COMPLEX_SCORES = ("iptm", "ranking_confidence", "chain_mean_plddt", "chain_pair_pae", "interface")


class JobInputError(UserError):
    """A job's input does not follow the schema; the message names the field."""


class ResultTooLargeError(ResourceError):
    """The result (or its files) would exceed what the platform can return."""


def _load(name: str) -> dict[str, Any]:
    return json.loads(resources.files("alphafold_msa.protocol").joinpath(name).read_text())


# The one source of a job's fields, choices, limits and defaults (read once; treat as read-only).
JOB_SCHEMA: dict[str, Any] = _load("job_schema.json")
_PROPERTIES = JOB_SCHEMA["properties"]
ALIGNMENT_FIELDS = ("msa", "msa_gz_b64", "msa_url")
DEFAULTS: dict[str, Any] = {name: spec.get("default") for name, spec in _PROPERTIES.items()
                            if name not in ALIGNMENT_FIELDS}
MODEL_NUMBERS: tuple[int, ...] = tuple(range(_PROPERTIES["models"]["items"]["minimum"],
                                             _PROPERTIES["models"]["items"]["maximum"] + 1))
COMPLEX_MODES: tuple[str, ...] = tuple(_PROPERTIES["complex_mode"]["enum"])
PAIRING_METHODS: tuple[str, ...] = tuple(_PROPERTIES["pairing"]["enum"])
RELAX_MODES: tuple[str, ...] = tuple(_PROPERTIES["relax"]["enum"])
STRUCTURE_FORMATS: tuple[str, ...] = tuple(_PROPERTIES["formats"]["items"]["enum"])
# The most samples one job runs: every model for the most seeds (AF-Cluster's alignments count as many jobs).
MAX_PREDICTIONS: int = len(MODEL_NUMBERS) * _PROPERTIES["num_seeds"]["maximum"]
MSA_FORMATS: tuple[str, ...] = tuple(_PROPERTIES["format"]["enum"])
TEMPLATE_FORMATS: tuple[str, ...] = tuple(_PROPERTIES["templates"]["items"]["properties"]["format"]["enum"])
MAX_TEMPLATES: int = _PROPERTIES["templates"]["maxItems"]
DEFAULT_NUM_RECYCLE: int = DEFAULTS["num_recycle"]
MAX_NUM_RECYCLE: int = _PROPERTIES["num_recycle"]["maximum"]
DEFAULT_MAX_MSA_DEPTH: int = DEFAULTS["max_msa_depth"]
# The schema of a job's fields without its alignment (what a JobSpec holds).
_FIELDS_SCHEMA = {**{key: value for key, value in JOB_SCHEMA.items() if key != "oneOf"},
                  "properties": {name: spec for name, spec in _PROPERTIES.items() if name not in ALIGNMENT_FIELDS}}


def _field(error) -> str:
    path = ".".join(str(part) for part in error.absolute_path)
    return f"input.{path}" if path else "input"


def validated(job_input: Any, alignment: bool = True) -> dict[str, Any]:
    """`job_input` checked against the job schema (`alignment`: with exactly one alignment field; else without
    any), whole-number floats made ints, and the schema's defaults filled in; JobInputError names the first
    field at fault, one line."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(JOB_SCHEMA if alignment else _FIELDS_SCHEMA)
    errors = sorted(validator.iter_errors(job_input), key=lambda e: (len(e.absolute_path), e.path))
    if errors:
        error = errors[0]
        if error.validator == "oneOf" and not error.absolute_path:
            raise JobInputError("input: give the alignment as exactly one of 'msa' (text), 'msa_gz_b64' or 'msa_url'")
        if error.validator == "oneOf" and error.context:  # a field of several forms: the complaint of the form
            fitting = [e for e in error.context if e.validator != "type"]  # whose type the value has
            if not fitting:
                kinds = " or ".join(f"{e.validator_value}" for e in error.context)
                raise JobInputError(f"{_field(error)}: expected {kinds}, got {type(error.instance).__name__}")
            error = fitting[0]
        if error.validator == "additionalProperties":
            allowed = ", ".join(error.schema["properties"])
            raise JobInputError(f"{_field(error)}: {error.message}; allowed fields: {allowed}")
        raise JobInputError(f"{_field(error)}: {error.message}")
    for name, value in job_input.items():
        _check_value(value, f"input.{name}")
    return {**DEFAULTS, **_integers(job_input, _PROPERTIES)}


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


def request_body(job_input: dict[str, Any], execution_timeout_s: float) -> dict[str, Any]:
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
