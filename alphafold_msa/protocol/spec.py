"""One typed job: `JobSpec`, every field of job_schema.json but the alignment, checked once against the schema.

The command line builds one from its flags (LaunchOptions.job_spec), the worker from a job's input
(`parse_job`, which also returns where the alignment is), and `run_prediction` takes one. A field is
added to the schema, to `JobSpec`, and to the code that uses it; nothing else names the fields.
Client-safe: the standard library, jsonschema and the package's errors only.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from alphafold_msa.protocol.payload import PayloadError, decode_payload, encode_payload, payload_bytes
from alphafold_msa.protocol.schema import (
    ALIGNMENT_FIELDS,
    DEFAULTS,
    MAX_PREDICTIONS,
    MAX_STRUCTURE_BYTES,
    JobInputError,
    validated,
)


@dataclasses.dataclass(frozen=True)
class TemplateSpec:
    """A template as given: its name (file name), structure text, format ('pdb', 'cif' or None to detect),
    the template chain to use (None: the best matching) and, for a complex, the complex chain it belongs
    to (None: the one it aligns best with)."""

    name: str
    text: str
    format: str | None = None
    chain: str | None = None
    query_chain: str | None = None

    def to_field(self) -> dict[str, Any]:
        """The template as a job's `templates` entry (a large structure gzip+base64-encoded)."""
        entry: dict[str, Any] = {"name": self.name, "structure": encode_payload(self.text)}
        entry.update({key: value for key in ("format", "chain", "query_chain")
                      if (value := getattr(self, key)) is not None})
        return entry


@dataclasses.dataclass(frozen=True)
class JobSpec:
    """What a prediction job asks for, besides its alignment: each field of job_schema.json, its default the
    schema's."""

    format: str | None = DEFAULTS["format"]
    query: str | None = DEFAULTS["query"]
    complex_mode: str = DEFAULTS["complex_mode"]
    multimer_version: int = DEFAULTS["multimer_version"]
    pairing: str | None = DEFAULTS["pairing"]
    models: tuple[int, ...] = tuple(DEFAULTS["models"])
    num_recycle: int = DEFAULTS["num_recycle"]
    recycle_early_stop_tolerance: float | None = DEFAULTS["recycle_early_stop_tolerance"]
    random_seed: int = DEFAULTS["random_seed"]
    num_seeds: int = DEFAULTS["num_seeds"]
    keep_top: int = DEFAULTS["keep_top"]
    save_all: bool = DEFAULTS["save_all"]
    report: bool = DEFAULTS["report"]
    stop_at_score: float | None = DEFAULTS["stop_at_score"]
    sample_slice: tuple[int, int] | None = DEFAULTS["sample_slice"]
    dropout: bool = DEFAULTS["dropout"]
    msa_mask_fraction: float = DEFAULTS["msa_mask_fraction"]
    msa_clusters: bool = DEFAULTS["msa_clusters"]
    max_msa_depth: int = DEFAULTS["max_msa_depth"]
    max_msa: tuple[int, int] | None = DEFAULTS["max_msa"]
    formats: tuple[str, ...] = tuple(DEFAULTS["formats"])
    relax: str | None = DEFAULTS["relax"]
    all_models: bool = DEFAULTS["all_models"]
    scores: bool = DEFAULTS["scores"]
    files: bool = DEFAULTS["files"]
    templates: tuple[TemplateSpec, ...] = ()

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any]) -> JobSpec:
        """A spec from job fields (no alignment; None: not given), checked against the job schema; JobInputError
        names the first field at fault (input.<field>: ...)."""
        given = {name: value for name, value in fields.items() if value is not None}
        return cls._from_validated(validated(given, alignment=False))

    @classmethod
    def _from_validated(cls, values: dict[str, Any]) -> JobSpec:
        values = {field.name: _frozen(values[field.name]) for field in dataclasses.fields(cls)}
        values["templates"] = tuple(_template(entry, index) for index, entry in enumerate(values["templates"] or []))
        if values["sample_slice"] is not None and values["sample_slice"][0] >= values["sample_slice"][1]:
            first, stop = values["sample_slice"]
            raise JobInputError(f"input.sample_slice: [{first}, {stop}] holds no sample: expected [first, stop] with "
                                f"first < stop")
        return cls(**values)

    def to_fields(self) -> dict[str, Any]:
        """The spec as job fields: those that differ from the schema's defaults, templates as payloads."""
        default = JobSpec()
        fields: dict[str, Any] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value != getattr(default, field.name):
                fields[field.name] = list(value) if isinstance(value, tuple) else value
        if self.templates:
            fields["templates"] = [template.to_field() for template in self.templates]
        return fields

    def replace(self, **changes: Any) -> JobSpec:
        """This spec with `changes`, checked again."""
        return JobSpec.from_fields({**self.to_fields(), **{key: _as_field(value) for key, value in changes.items()}})

    @property
    def predictions(self) -> int:
        """Models times seeds: how many structures the job predicts from each alignment it runs (the one given,
        or with msa_clusters each cluster's and control's); fewer when stop_at_score is reached."""
        return len(self.models) * self.num_seeds

    def check_alignments(self, clusters: int, controls: int, at_least: bool = False) -> None:
        """Refuse AF-Cluster's `clusters` and `controls` when there is no cluster (nothing but random controls to
        predict) or when their samples (each alignment x models x seeds) are more than a job may run
        (MAX_PREDICTIONS); JobInputError naming msa_clusters. With `at_least`, before clustering: the fewest any
        clustering gives, so a job that no clustering could fit is refused before the work."""
        if at_least and (clusters + controls) * self.predictions > MAX_PREDICTIONS:
            raise JobInputError(f"input.msa_clusters: at least {clusters + controls} alignments (a cluster and "
                                f"AF-Cluster's {controls} controls) x {self.predictions} predictions each = "
                                f"{(clusters + controls) * self.predictions:,} samples, more than the "
                                f"{MAX_PREDICTIONS:,} a job may run: ask for fewer models or seeds")
        if not clusters:
            raise JobInputError("input.msa_clusters: AF-Cluster found no cluster of 3 or more similar rows (every "
                                "row is noise to DBSCAN): the alignment is too diverse or too shallow for AF-Cluster; "
                                "sample it with shallow crops and seeds instead (max_msa 16:32, num_seeds)")
        alignments = clusters + controls
        if alignments * self.predictions > MAX_PREDICTIONS:
            raise JobInputError(f"input.msa_clusters: {alignments} alignments (AF-Cluster's {clusters} clusters and "
                                f"{controls} controls) x {self.predictions} predictions each = "
                                f"{alignments * self.predictions:,} samples, more than the {MAX_PREDICTIONS:,} a job "
                                f"may run: ask for fewer models or seeds")

    def samples_run(self, alignments: int = 1) -> range:
        """The sample numbers this job runs, of `alignments` x predictions: its sample_slice, else all."""
        total = alignments * self.predictions
        return range(*self.sample_slice) if self.sample_slice is not None else range(total)

    @property
    def is_sampling(self) -> bool:
        """A sampling run (several seeds, dropout, column masking or AF-Cluster): its kept samples are clustered."""
        return self.num_seeds > 1 or self.dropout or self.msa_mask_fraction > 0 or self.msa_clusters

    def kept(self, alignments: int = 1) -> int:
        """How many of the samples it runs (of `alignments` x predictions: AF-Cluster's count once clustered) are
        kept as ranked structures."""
        return min(self.keep_top, len(self.samples_run(alignments)))


@dataclasses.dataclass(frozen=True)
class JobAlignment:
    """Where a job's alignment is: its bytes as sent (text, or gzip data the reader decompresses within its
    limits), named by the field they came in; or the URL to fetch it from."""

    field: str
    data: bytes | None = None
    url: str | None = None


def parse_job(job_input: Any) -> tuple[JobSpec, JobAlignment]:
    """A job's input checked against the schema (one message naming the first field at fault): its spec,
    and where its alignment is."""
    values = validated(job_input)
    return JobSpec._from_validated(values), _alignment(job_input)


def _alignment(job_input: dict[str, Any]) -> JobAlignment:
    field = next(name for name in ALIGNMENT_FIELDS if name in job_input)
    if field == "msa_url":
        return JobAlignment(field, url=job_input[field])
    value = job_input[field]
    if field == "msa" and isinstance(value, str):
        return JobAlignment(field, data=value.encode("utf-8"))
    try:
        return JobAlignment(field, data=payload_bytes(value, f"input.{field}"))
    except PayloadError as error:
        raise JobInputError(str(error)) from None


def _template(entry: dict[str, Any], index: int) -> TemplateSpec:
    """A job's templates entry; its structure decoded, refused past MAX_STRUCTURE_BYTES (decompressed as a
    stream, so a gzip bomb stops there)."""
    field = f"input.templates.{index}.structure"
    structure = entry["structure"]

    def too_large(limit: int) -> JobInputError:
        return JobInputError(f"{field}: larger than {limit:,} bytes once decompressed")

    try:
        text = structure if isinstance(structure, str) else decode_payload(structure, field, MAX_STRUCTURE_BYTES,
                                                                           too_large)
    except PayloadError as error:
        raise JobInputError(str(error)) from None
    if len(text) > MAX_STRUCTURE_BYTES:
        raise too_large(MAX_STRUCTURE_BYTES)
    return TemplateSpec(name=entry["name"], text=text, format=entry.get("format"), chain=entry.get("chain"),
                        query_chain=entry.get("query_chain"))


def _frozen(value: Any) -> Any:
    """A job field's value as a frozen spec holds it: lists as tuples."""
    return tuple(value) if isinstance(value, list) else value


def _as_field(value: Any) -> Any:
    if isinstance(value, tuple):
        return [item.to_field() if isinstance(item, TemplateSpec) else item for item in value]
    return value
