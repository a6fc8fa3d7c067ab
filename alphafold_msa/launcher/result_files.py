"""The client's side of a job's files: receive the results archive (inline or from the bucket,
checksum verified) and put the plots and summary where the user asked for the structure."""

from __future__ import annotations

import base64
import binascii
import json
import shutil
from pathlib import Path
from typing import Any

from alphafold_msa import settings
from alphafold_msa.files import write_atomic
from alphafold_msa.protocol.archive import ArchiveError, unpack
from alphafold_msa.transfer.bucket import Bucket, ExpiredLinkError, StorageError, download_link

# The files a user looks at first, copied next to --output as <stem>_<name> (summary as <stem>.summary.*).
BESIDE_OUTPUT = ("plddt.png", "pae.png", "coverage.png")
SUMMARIES = ("summary.json", "summary.txt")
# The alignment's summary among summary.json's fields (the rest describe the models).
MSA_FIELDS = ("filter", "format", "complex_mode", "query_name", "query_length", "num_sequences",
              "num_sequences_filtered", "gap_fraction", "chains", "paired_rows", "pairing", "note", "coverage",
              "templates", "template_models", "template_warnings")


def receive_files(files: dict[str, Any], destination: Path) -> list[Path]:
    """Unpack a job's `files` (base64 'data' or a presigned 'url', with 'sha256') into `destination`.

    An expired link is fetched from the bucket directly when this machine has the bucket's
    credentials (BUCKET_* variables); otherwise the error names the object to fetch.
    """
    if "data" in files:
        try:
            data = base64.b64decode(files["data"], validate=True)
        except (binascii.Error, ValueError):
            raise ArchiveError("the results archive in the job's output is not valid base64") from None
    else:
        try:
            data = download_link(files["url"], settings.result_max_bytes(), expected_sha256=files["sha256"])
        except ExpiredLinkError as error:
            data = _from_bucket(files, str(error))
    return unpack(data, destination, expected_sha256=files["sha256"])


def _from_bucket(files: dict[str, Any], reason: str) -> bytes:
    bucket = Bucket.from_env()
    key = files.get("key", "")
    prefix = f"s3://{bucket.name}/" if bucket else None
    if bucket is None or not key.startswith(prefix):
        raise StorageError(f"{reason}; the results are still in the bucket as {key or 'an unnamed object'}: "
                           f"set BUCKET_ENDPOINT_URL, BUCKET_ACCESS_KEY_ID, BUCKET_SECRET_ACCESS_KEY and "
                           f"BUCKET_NAME here to fetch them, or download the object yourself")
    return bucket.get(key[len(prefix):], settings.result_max_bytes())


def place_beside(output: Path, files_dir: Path) -> list[Path]:
    """Copy the plots and summary from `files_dir` next to `output` (model.pdb -> model_plddt.png,
    model.summary.txt, ...); returns the files written."""
    placed = []
    for name in BESIDE_OUTPUT:
        if (files_dir / name).is_file():
            placed.append(Path(shutil.copyfile(files_dir / name, output.with_name(f"{output.stem}_{name}"))))
    for name in SUMMARIES:
        if (files_dir / name).is_file():
            placed.append(Path(shutil.copyfile(files_dir / name, output.with_suffix(f".{name}"))))
    return placed


def _json_object(path: Path) -> dict[str, Any]:
    """A JSON object from the job's files; {} when the file is absent."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict):
        raise ArchiveError(f"{path.name} in the job's files is not a JSON object")
    return data


def job_scores(folder: Path) -> dict[str, Any]:
    """<output>.scores.json, built the same way for --local and remote jobs from the job's files:
    the top model's scores (scores_rank_0.json: pLDDT, PAE, pTM, ...), `ranking` (ranking.json),
    `msa` (the alignment's part of summary.json) and `timings` (timings.json), as far as they exist."""
    scores = _json_object(folder / "scores_rank_0.json")
    summary = _json_object(folder / "summary.json")
    extras = {"ranking": _json_object(folder / "ranking.json"),
              "msa": {k: summary[k] for k in MSA_FIELDS if k in summary},
              "timings": _json_object(folder / "timings.json")}
    return {**scores, **{k: v for k, v in extras.items() if v}}


def write_structure(output: Path, structure: str, scores: dict) -> None:
    """The structure at `output` and its scores at <output>.scores.json, each written atomically."""
    output.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(output, structure)
    write_atomic(output.with_suffix(".scores.json"), json.dumps(scores))
