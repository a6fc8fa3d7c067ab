"""The RunPod job handler: validate, predict in a private job directory, return a dict, clean up.

The worker owns its process's model runners (RUNNERS), so every job after the first reuses the
loaded parameters and compiled networks.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Callable

from alphafold_msa import __version__, settings
from alphafold_msa.errors import MsaError, MsaTooLargeError, UserError
from alphafold_msa.model import config as configs
from alphafold_msa.model.runner import RunnerCache
from alphafold_msa.protocol.archive import pack, sha256
from alphafold_msa.protocol.schema import (
    COMPLEX_SCORES,
    INLINE_ARCHIVE_BYTES,
    ResultTooLargeError,
    check_result_size,
    encode_payload,
    estimate_archive_bytes,
    validate_input,
)
from alphafold_msa.results.types import PredictionResult, RankedModel
from alphafold_msa.structures.match import TemplateInput
from alphafold_msa.transfer.bucket import Bucket, StorageError
from alphafold_msa.worker.msa_url import fetch

logger = logging.getLogger(__name__)
# This worker process's model runners, kept across its jobs.
RUNNERS = RunnerCache()
STALE_JOB_DIR_S = 24 * 3600  # job folders untouched this long were left by a killed worker
_JOB_ID_CHARACTERS = re.compile(r"[^A-Za-z0-9_-]")


def safe_job_id(raw: Any) -> str:
    """The job id as it may appear in a path, an object key or a log line: letters, digits, '_' and
    '-' only (anything else becomes '_'), at most 64 characters; a fresh id when there is none."""
    return _JOB_ID_CHARACTERS.sub("_", str(raw))[:64] if raw else uuid.uuid4().hex


def workdir() -> Path:
    """Where job folders are made: $WORKDIR, else the temporary folder."""
    return settings.workdir() or Path(tempfile.gettempdir())


def check_settings() -> None:
    """Refuse to start with a malformed setting ($ALPHAFOLD_MSA_*), rather than fail every job on it."""
    from alphafold_msa.model import kernels

    try:
        kernels.resolve_kernels(None)
        kernels.resolve_compile_mode(None)
        configs.resolve_model_config(None)
        configs.resolve_relax(None)
        settings.relax_timeout()
        settings.max_query_length()
        settings.max_msa_bytes()
        settings.msa_url_max_bytes()
        settings.download_deadline()
        settings.device_memory_gb()
    except UserError as error:
        raise SystemExit(f"worker settings: {error}") from None


def sweep_stale_job_dirs(base: Path | None = None, max_age_s: float = STALE_JOB_DIR_S) -> list[Path]:
    """Remove the job-* folders under `base` (default $WORKDIR; nothing when it is unset, as the shared
    temporary folder is not ours to sweep) in which nothing changed for `max_age_s` seconds: a worker
    killed mid-job leaves its folder behind. Returns the folders removed."""
    base = base or settings.workdir()
    if base is None:
        return []
    cutoff = time.time() - max_age_s
    removed = []
    for folder in base.glob("job-*") if base.is_dir() else ():
        if folder.is_dir() and not folder.is_symlink() and _last_change(folder) < cutoff:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    if removed:
        logger.info("removed %d stale job folder(s) under %s", len(removed), base)
    return removed


def _last_change(folder: Path) -> float:
    """The latest modification time of `folder` and the folders inside it."""
    return max(os.stat(root).st_mtime for root, _, _ in os.walk(folder))


def _progress_reporter(job: dict[str, Any]) -> Callable[[str], None]:
    """Send progress to RunPod when running on the platform; always log it."""
    hosted = settings.text(settings.RUNPOD_HOSTED) is not None

    job_id = safe_job_id(job.get("id"))

    def report(message: str) -> None:
        logger.info("job %s: %s", job_id, message)
        if hosted:
            import runpod

            runpod.serverless.progress_update(job, message)

    return report


def _model_entry(model: RankedModel, formats: list[str], scores: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "rank": model.rank, "model": model.model_name, "seed": model.seed, "recycles": model.recycles,
        "mean_plddt": model.mean_plddt, "ptm": model.ptm, "iptm": model.iptm, "max_pae": model.max_pae,
        "structures": {fmt: encode_payload(model.structure_paths[fmt].read_text()) for fmt in formats},
    }
    if scores:
        entry["scores"] = encode_payload(model.scores_path.read_text())
    return entry


def build_result(result: PredictionResult, options: dict[str, Any]) -> dict[str, Any]:
    """The job's output: the top structure and scores, more models and full scores on request."""
    best = result.best
    best_scores = json.loads(best.scores_path.read_text())
    formats = options["formats"]
    output: dict[str, Any] = {
        "structure": best.structure_paths[formats[0]].read_text(),
        "structure_format": formats[0],
        "model": best.model_name,
        "mean_plddt": best.mean_plddt,
        "ptm": best.ptm,
        "max_pae": best.max_pae,
        "plddt": best_scores["plddt"],
        "ranking": [{"rank": m.rank, "model": m.model_name, "seed": m.seed, "mean_plddt": m.mean_plddt,
                     "ptm": m.ptm, **({"iptm": m.iptm} if m.iptm is not None else {})} for m in result.models],
        "msa": {k: v for k, v in result.msa_summary.items() if k != "source"},  # source: a job-local path
        "timings": result.timings,
        "version": __version__,
    }
    output.update({k: best_scores[k] for k in COMPLEX_SCORES if k in best_scores})
    output["relaxed"] = best.relaxed_path is not None
    if "relax" in best_scores:
        output["relax"] = best_scores["relax"]
    if best.relaxed_path is not None:
        output["structure"], output["structure_format"] = best.relaxed_path.read_text(), "pdb"
    returned = result.models if options["all_models"] else [best]
    if options["all_models"] or options["scores"] or len(formats) > 1:
        output["models"] = [_model_entry(m, formats, options["scores"]) for m in returned]
    return output


def check_archive_deliverable(length: int, options: dict[str, Any], bucket: Bucket | None) -> None:
    """Before any compute: refuse a job whose results archive could only travel through a bucket
    when none is configured (rather than computing and losing the result)."""
    predictions = len(options["models"]) * options["num_seeds"]
    relaxed = len(configs.relaxed_ranks(configs.resolve_relax(options["relax"]), predictions))
    estimate = estimate_archive_bytes(length, predictions, len(options["formats"]), relaxed)
    if estimate > INLINE_ARCHIVE_BYTES and bucket is None:
        raise UserError(
            f"the result files of this job ({length} residues, {predictions} model(s)) would be about "
            f"{estimate / 1e6:.0f} MB, over the {INLINE_ARCHIVE_BYTES / 1e6:.0f} MB a result can carry, and the "
            f"worker has no bucket for larger ones: set BUCKET_ENDPOINT_URL, BUCKET_ACCESS_KEY_ID, "
            f"BUCKET_SECRET_ACCESS_KEY and BUCKET_NAME on the endpoint, or ask for fewer models or seeds")


def deliver_archive(job_id: str, output_dir: Path, bucket: Bucket | None) -> dict[str, Any]:
    """Every output file as one tar.gz: inline (base64) when small, else uploaded to the bucket
    with a presigned URL; with its SHA-256 either way."""
    data = pack(output_dir)
    files: dict[str, Any] = {"archive": "tar.gz", "bytes": len(data), "sha256": sha256(data)}
    encoded = base64.b64encode(data).decode("ascii")
    if len(encoded) <= INLINE_ARCHIVE_BYTES:
        return {**files, "data": encoded}
    if bucket is None:
        raise ResultTooLargeError(f"the result files are {len(encoded) / 1e6:.1f} MB encoded, over the "
                                  f"{INLINE_ARCHIVE_BYTES / 1e6:.0f} MB a result can carry, and no bucket is "
                                  f"configured (BUCKET_ENDPOINT_URL...); the top model and its scores are returned")
    key = f"alphafold-msa/{safe_job_id(job_id)}/results.tar.gz"
    return {**files, "url": bucket.upload(key, data), "key": f"s3://{bucket.name}/{key}"}


def _read_job_msa(msa_path: Path, options: dict[str, Any]):
    """The job's alignment; for one fetched by msa_url, a parse error names the line but never echoes
    the fetched bytes (they may be an internal answer, not the caller's data)."""
    from alphafold_msa.msa import read_input

    try:
        return read_input(msa_path, format=options["format"], query=options["query"])
    except MsaError as error:
        if "msa_url" not in options or isinstance(error, MsaTooLargeError):
            raise
        line = re.search(r"\bline (\d+)", str(error))
        where = f" (problem at line {line.group(1)})" if line else ""
        raise MsaError(f"input.msa_url: the fetched file is not an alignment the worker can read{where}; its "
                       f"content is not echoed back: check the file with `launch.py --check --msa FILE`") from None


def job_templates(options: dict[str, Any]) -> list[TemplateInput]:
    """The job's template structures (decoded by validate_input), as run_prediction takes them."""
    return [TemplateInput(name=entry["name"], text=entry["structure"], format=entry.get("format"),
                          chain=entry.get("chain"), query_chain=entry.get("query_chain"))
            for entry in options["templates"]]


def handle_job(job: dict[str, Any]) -> dict[str, Any]:
    """Run one job; bad input and unexpected failures come back as {'error': one line}."""
    from alphafold_msa.predict import run_prediction

    job_id = safe_job_id(job.get("id"))
    base = workdir()
    job_dir: Path | None = None
    try:
        options = validate_input(job.get("input"))
        logger.info("job %s received: models %s, %d recycles, %d seed(s)", job_id, options["models"],
                    options["num_recycle"], options["num_seeds"])
        bucket = Bucket.from_env()
        base.mkdir(parents=True, exist_ok=True)
        job_dir = Path(tempfile.mkdtemp(prefix=f"job-{job_id}-", dir=base))
        msa_path = job_dir / "input.msa"
        if "msa_url" in options:
            msa_path.write_bytes(fetch(options["msa_url"], bucket, settings.msa_url_max_bytes()))
        else:
            msa_path.write_text(options["msa"])
        msa = _read_job_msa(msa_path, options)
        if options["files"]:
            check_archive_deliverable(msa.length, options, bucket)
        result = run_prediction(
            msa, job_dir / "output",
            models=options["models"], num_recycle=options["num_recycle"],
            recycle_early_stop_tolerance=options["recycle_early_stop_tolerance"], random_seed=options["random_seed"],
            num_seeds=options["num_seeds"], max_msa_depth=options["max_msa_depth"], formats=options["formats"],
            relax=options["relax"], complex_mode=options["complex_mode"], pairing=options["pairing"],
            runners=RUNNERS, templates=job_templates(options), progress=_progress_reporter(job),
        )
        logger.info("job %s done in %.1f s; runner counters %s", job_id, result.timings["total_s"],
                    result.timings["counters"])
        output = build_result(result, options)
        if options["files"]:
            try:
                output["files"] = deliver_archive(job_id, result.output_dir, bucket)
            except (ResultTooLargeError, StorageError) as error:  # keep what fits rather than fail the job
                output["files_error"] = str(error)
        check_result_size(output)
        return output
    except UserError as error:
        message = str(error)
        if job_dir is not None:
            message = message.replace(str(job_dir / "input.msa"), "input.msa")
        logger.info("job %s rejected: %s", job_id, message)
        return {"error": message}
    except Exception:
        logger.exception("job %s failed with an internal error", job_id)
        return {"error": f"internal error in job {job_id}; the worker log has the details under this job id"}
    finally:
        if job_dir is not None:
            shutil.rmtree(job_dir, ignore_errors=True)
