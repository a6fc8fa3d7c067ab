"""The client's side of a job's files: receive the results archive (inline, by its presigned link, or
from the user's own bucket; checksum verified) and put the plots and summary where the user asked for
the structure."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any, Sequence

from alphafold_msa import settings
from alphafold_msa.files import write_atomic
from alphafold_msa.launcher.output_paths import beside_paths, structure_paths
from alphafold_msa.protocol.archive import ArchiveError, results_prefix, unpack
from alphafold_msa.protocol.output import OutputError, is_local_endpoint
from alphafold_msa.transfer.bucket import Bucket, ExpiredLinkError, StorageError, download_link

# The alignment's summary among summary.json's fields (the rest describe the models).
MSA_FIELDS = ("filter", "format", "complex_mode", "query_name", "query_length", "num_sequences",
              "num_sequences_filtered", "gap_fraction", "chains", "paired_rows", "pairing", "note", "coverage",
              "templates", "template_models", "template_warnings", "depth_note", "msa_clusters")


@dataclasses.dataclass(frozen=True)
class ResultOrigin:
    """The job a result belongs to and the endpoint (--api-url) that returned it: what its files may
    be read from."""

    job_id: str
    api_url: str


def receive_files(files: dict[str, Any], destination: Path, origin: ResultOrigin) -> list[Path]:
    """Unpack a job's `files` (base64 'data' or a presigned 'url', with 'sha256') into `destination`,
    a new folder (see archive.unpack).

    A link is fetched only from a public address (or from 127.0.0.1 / ::1 when the endpoint is
    there too). An expired link is fetched from the bucket directly when this machine has the bucket's
    credentials (BUCKET_* variables), and only the job's own object; otherwise the error names it.
    """
    if "data" in files:
        try:
            data = base64.b64decode(files["data"], validate=True)
        except (binascii.Error, ValueError):
            raise ArchiveError("the results archive in the job's output is not valid base64") from None
    else:
        try:
            data = download_link(files["url"], settings.result_max_bytes(), expected_sha256=files["sha256"],
                                 loopback=is_local_endpoint(origin.api_url))
        except ExpiredLinkError as error:
            data = _from_bucket(files, str(error), origin.job_id)
    return unpack(data, destination, expected_sha256=files["sha256"])


def _from_bucket(files: dict[str, Any], reason: str, job_id: str) -> bytes:
    """The job's archive from the user's bucket: only an object under the job's own folder
    (archive.results_prefix), never another key the endpoint names."""
    location = files.get("key", "")
    bucket_name, _, key = location.removeprefix("s3://").partition("/")
    prefix = results_prefix(job_id)
    if (not location.startswith("s3://") or not key.startswith(prefix)
            or any(part in ("", ".", "..") for part in key.split("/"))):
        raise OutputError(f"{reason}; output.files.key '{location}' is not job {job_id}'s: only objects under "
                          f"{prefix} are read from the bucket for it")
    bucket = Bucket.from_env()
    if bucket is None or bucket_name != bucket.name:
        raise StorageError(f"{reason}; the results are still in the bucket as {location}: "
                           f"set BUCKET_ENDPOINT_URL, BUCKET_ACCESS_KEY_ID, BUCKET_SECRET_ACCESS_KEY and "
                           f"BUCKET_NAME here to fetch them, or download the object yourself")
    return bucket.get(key, settings.result_max_bytes())


def place_beside(output: Path, files: Sequence[Path]) -> list[Path]:
    """Copy the plots and summary among a job's `files` (those it installed, never others in their
    folder) next to `output` (model.pdb -> model_plddt.png, model.summary.txt, ...); returns the files written."""
    job = _by_name(files)
    return [Path(shutil.copyfile(job[name], target)) for name, target in beside_paths(output).items() if name in job]


def _by_name(files: Sequence[Path]) -> dict[str, Path]:
    """A job's files by name."""
    return {path.name: path for path in files}


def _json_object(path: Path | None) -> dict[str, Any]:
    """A JSON object from the job's files; {} when the job has no such file (`path` None)."""
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict):
        raise ArchiveError(f"{path.name} in the job's files is not a JSON object")
    return data


def job_scores(files: Sequence[Path]) -> dict[str, Any]:
    """<output>.scores.json (see `scores_file`) from a job's `files` (those it installed, never others in their
    folder): scores_rank_0.json, ranking.json, summary.json and timings.json, as far as the job has them."""
    job = _by_name(files)
    return scores_file(*(_json_object(job.get(name)) for name in
                         ("scores_rank_0.json", "ranking.json", "summary.json", "timings.json")))


def scores_file(scores: dict[str, Any], ranking: dict[str, Any], summary: dict[str, Any],
                timings: dict[str, Any]) -> dict[str, Any]:
    """<output>.scores.json, the same for --local and remote jobs: the top model's scores (pLDDT, PAE, pTM,
    ...), `ranking`, `msa` (the alignment's part of the summary) and `timings`, as far as they exist."""
    extras = {"ranking": ranking, "msa": {k: summary[k] for k in MSA_FIELDS if k in summary}, "timings": timings}
    return {**scores, **{k: v for k, v in extras.items() if v}}


def write_structures(output: Path, structures: dict[str, str], scores: dict) -> list[Path]:
    """The top model in each format (`structures`: format -> text) at `output` and beside it
    (output_paths.structure_paths), its scores at <output>.scores.json, each written atomically; returns
    the structure files."""
    output.parent.mkdir(parents=True, exist_ok=True)
    paths = structure_paths(output, list(structures))
    for fmt, path in paths.items():
        write_atomic(path, structures[fmt])
    write_atomic(output.with_suffix(".scores.json"), json.dumps(scores))
    return list(paths.values())


def top_structures(files: Sequence[Path], formats: Sequence[str]) -> dict[str, str]:
    """The top model's text in each of `formats` among a job's `files` (relaxed_rank_0.* where the job relaxed
    it, else ranked_0.*); formats the job did not return are left out."""
    job = _by_name(files)
    found = {}
    for fmt in formats:
        path = job.get(f"relaxed_rank_0.{fmt}") or job.get(f"ranked_0.{fmt}")
        if path is not None:
            found[fmt] = path.read_text()
    return found
