"""The RunPod job handler: validate, predict in a private job directory, return a dict, clean up.

The worker owns its process's model runners (RUNNERS), so every job after the first reuses the
loaded parameters and compiled networks.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import logging
import os
import re
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import IO, Any, Callable

from alphafold_msa import __version__, settings
from alphafold_msa.errors import AlphafoldMsaError, ConfigError, MsaError, MsaTooLargeError, WeightsError, printable
from alphafold_msa.model import config as configs
from alphafold_msa.model.runner import RunnerCache
from alphafold_msa.model.weights import ARCHIVES, archive_of, default_param_dir, params_file
from alphafold_msa.protocol.archive import key_safe_id, pack, results_prefix, sha256
from alphafold_msa.protocol.payload import encode_payload
from alphafold_msa.protocol.schema import (
    COMPLEX_SCORES,
    INLINE_ARCHIVE_BYTES,
    ResultTooLargeError,
    check_result_size,
    estimate_archive_bytes,
)
from alphafold_msa.protocol.spec import JobAlignment, JobSpec, parse_job
from alphafold_msa.results.job_record import spare_files
from alphafold_msa.results.types import PredictionResult, RankedModel
from alphafold_msa.transfer.bucket import Bucket, StorageError
from alphafold_msa.worker.msa_url import fetch

logger = logging.getLogger(__name__)
# This worker process's model runners, kept across its jobs.
RUNNERS = RunnerCache()
STALE_JOB_DIR_S = 24 * 3600  # job folders untouched this long were left by a killed worker
# In a job folder: the file its worker holds an flock on while the job runs (the kernel drops it if the worker
# dies), so that no sweep removes a folder in use, however long its job runs.
IN_USE = ".in-use"
_IN_USE_MARKS: dict[Path, IO] = {}  # this process's job folders and their held in-use files


def safe_job_id(raw: Any) -> str:
    """The job id as it may appear in a path, an object key or a log line (see archive.key_safe_id); a
    fresh id when there is none."""
    return key_safe_id(str(raw)) if raw else uuid.uuid4().hex


def workdir() -> Path:
    """Where job folders are made: $WORKDIR, else the temporary folder."""
    return settings.workdir() or Path(tempfile.gettempdir())


def check_settings() -> None:
    """Refuse to start, with one line naming the variable, on a malformed setting, a WORKDIR this worker
    cannot write in, or more device memory than the device has; rather than fail every job on it."""
    from alphafold_msa.model import memory
    from alphafold_msa.msa.limits import AlignmentLimits

    try:
        settings.check_all()
        AlignmentLimits.from_settings()
        _check_writable(workdir())
        if settings.device_memory_gb() is not None:
            memory.device_memory()  # imports jax: only then is the device's own memory known
    except AlphafoldMsaError as error:
        raise SystemExit(f"worker settings: {error}") from None


def _check_writable(base: Path) -> None:
    """A ConfigError unless `base` is, or can be made, a folder this worker can create job folders in."""
    try:
        base.mkdir(parents=True, exist_ok=True)
        os.rmdir(tempfile.mkdtemp(prefix=".write-check-", dir=base))
    except OSError as error:
        where = f"{settings.WORKDIR.name}={base}" if settings.workdir() else f"the temporary folder {base}"
        raise ConfigError(f"{printable(where)} is not a folder the worker can write in "
                          f"({error.strerror or error})") from None


def claim_job_dir(job_id: str) -> Path:
    """A new job-<id>-* folder under workdir(), marked in use (its IN_USE file locked) until release_job_dir."""
    base = workdir()
    base.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"job-{job_id}-", dir=base))
    mark = open(folder / IN_USE, "w")
    fcntl.flock(mark, fcntl.LOCK_EX)
    _IN_USE_MARKS[folder] = mark
    return folder


def release_job_dir(folder: Path) -> None:
    """Remove a folder claim_job_dir made, then drop its in-use mark."""
    shutil.rmtree(folder, ignore_errors=True)
    mark = _IN_USE_MARKS.pop(folder, None)
    if mark is not None:
        mark.close()


def sweep_stale_job_dirs(base: Path | None = None, max_age_s: float = STALE_JOB_DIR_S) -> list[Path]:
    """Remove the job-* folders under `base` (default $WORKDIR; nothing when it is unset, as the shared
    temporary folder is not ours to sweep) that no live worker uses and in which nothing changed for
    `max_age_s` seconds: a worker killed mid-job leaves its folder behind. Workers sharing `base` may sweep
    it at the same time. Returns the folders this call removed."""
    base = base or settings.workdir()
    if base is None:
        return []
    cutoff = time.time() - max_age_s
    removed = [folder for folder in _job_dirs(base) if _remove_if_stale(folder, cutoff)]
    if removed:
        logger.info("removed %d stale job folder(s) under %s", len(removed), base)
    return removed


def _job_dirs(base: Path) -> list[Path]:
    """The job-* folders (not links) under `base`; none when it does not exist."""
    try:
        with os.scandir(base) as entries:
            return [base / entry.name for entry in entries
                    if entry.name.startswith("job-") and entry.is_dir(follow_symlinks=False)]
    except OSError:
        return []


def _remove_if_stale(folder: Path, cutoff: float) -> bool:
    """Remove `folder` unless a live worker holds its in-use mark or something in it changed after `cutoff`
    (a folder without a mark, just made or from an older worker, has only its age to go by). False when
    kept, or when another sweeper removed it first."""
    try:
        mark = os.open(folder / IN_USE, os.O_RDONLY)
    except FileNotFoundError:
        mark = None
    except OSError:
        return False
    try:
        if mark is not None:
            fcntl.flock(mark, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held while removing: one sweeper per folder
        if _last_change(folder) >= cutoff:
            return False
        shutil.rmtree(folder, ignore_errors=True)
        return True
    except (BlockingIOError, FileNotFoundError):  # in use, or removed meanwhile
        return False
    finally:
        if mark is not None:
            os.close(mark)


def _last_change(folder: Path) -> float:
    """The latest modification time of `folder` and the folders inside it; FileNotFoundError once it is gone."""
    latest = os.stat(folder).st_mtime
    for root, _, _ in os.walk(folder):
        with contextlib.suppress(FileNotFoundError):  # a subfolder removed meanwhile
            latest = max(latest, os.stat(root).st_mtime)
    return latest


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


def _model_entry(model: RankedModel, spec: JobSpec) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "rank": model.rank, "model": model.model_name, "seed": model.seed,
        **({"msa_cluster": model.msa_cluster} if model.msa_cluster is not None else {}), "recycles": model.recycles,
        "mean_plddt": model.mean_plddt, "ptm": model.ptm, "iptm": model.iptm, "max_pae": model.max_pae,
        "structures": {fmt: encode_payload(model.structures[fmt]) for fmt in spec.formats},
    }
    if spec.scores:
        entry["scores"] = encode_payload(json.dumps(model.scores))
    return entry


def build_result(result: PredictionResult, spec: JobSpec) -> dict[str, Any]:
    """The job's output, from the prediction's values: the top structure and scores, more models and full
    scores on request."""
    best = result.best
    output: dict[str, Any] = {
        "structure": best.final_structure(spec.formats[0]),  # relaxed when it was
        "structure_format": spec.formats[0],
        "model": best.model_name,
        **({"msa_cluster": best.msa_cluster} if best.msa_cluster is not None else {}),
        "mean_plddt": best.mean_plddt,
        "ptm": best.ptm,
        "max_pae": best.max_pae,
        "plddt": best.scores["plddt"],
        "ranking": [{"rank": m.rank, "model": m.model_name, "seed": m.seed,
                     **({"msa_cluster": m.msa_cluster} if m.msa_cluster is not None else {}),
                     "mean_plddt": m.mean_plddt, "ptm": m.ptm, **({"iptm": m.iptm} if m.iptm is not None else {})}
                    for m in result.models],
        "msa": {k: v for k, v in result.msa_summary.items() if k != "source"},  # source: a job-local path
        "timings": result.timings,
        "version": __version__,
    }
    output.update({k: best.scores[k] for k in COMPLEX_SCORES if k in best.scores})
    output["relaxed"] = best.relaxed is not None
    if "relax" in best.scores:
        output["relax"] = best.scores["relax"]
    returned = result.models if spec.all_models else [best]
    if spec.all_models or spec.scores or len(spec.formats) > 1:
        output["models"] = [_model_entry(m, spec) for m in returned]
    return output


def fetch_on_demand(names: list[str], report: Callable[[str], None]) -> None:
    """Parameter sets outside the archive start.sh provisions (AlphaFold-Multimer v1 and v2), fetched into the
    weights folder the first time a job asks for them (the same verified, locked, resumable path); files already
    there, provisioned or put there by hand, are used as they are."""
    from alphafold_msa.model.provision import ensure_weights

    param_dir = default_param_dir()
    extra = [name for name in names if archive_of(name) is not ARCHIVES[0]]
    missing = [name for name in extra if not params_file(param_dir, name).is_file()]
    if not missing:
        return
    sources = " and ".join(dict.fromkeys(archive_of(name).label for name in missing))
    report(f"fetching {sources} into {param_dir / 'params'} (once per volume; several GB)")
    try:
        ensure_weights(param_dir, models=missing)
    except OSError as error:  # the volume cannot be written
        raise WeightsError(f"{param_dir}: cannot hold {sources} ({error.strerror or error})") from None


def check_archive_deliverable(length: int, spec: JobSpec, bucket: Bucket | None, alignments: int = 1) -> None:
    """Before any compute: refuse a job whose results archive could only travel through a bucket
    when none is configured (rather than computing and losing the result). `alignments`: how many the job
    predicts from (AF-Cluster's clusters and controls), each with the spec's predictions."""
    kept = spec.kept(alignments)
    relaxed = len(configs.relaxed_ranks(configs.resolve_relax(spec.relax), kept))
    # save_all adds every sample's structure, counted as a model's files (an upper estimate)
    models = kept + (len(spec.samples_run(alignments)) if spec.save_all else 0)
    estimate = estimate_archive_bytes(length, models, len(spec.formats), relaxed)
    if estimate > INLINE_ARCHIVE_BYTES and bucket is None:
        raise ResultTooLargeError(
            f"the result files of this job ({length} residues, {kept} model(s) kept"
            f"{f', {models} structures' if spec.save_all else ''}) would be about "
            f"{estimate / 1e6:.0f} MB, over the {INLINE_ARCHIVE_BYTES / 1e6:.0f} MB a result can carry, and the "
            f"worker has no bucket for larger ones: set BUCKET_ENDPOINT_URL, BUCKET_ACCESS_KEY_ID, "
            f"BUCKET_SECRET_ACCESS_KEY and BUCKET_NAME on the endpoint, or ask for fewer models or seeds")


def deliver_archive(job_id: str, output_dir: Path, bucket: Bucket | None) -> dict[str, Any]:
    """Every output file as one tar.gz: inline (base64) when small, else uploaded to the bucket
    with a presigned URL; with its SHA-256 either way. Without a bucket, an archive too large to travel
    inline is packed again without the files it can do without (job_record.spare_files: the copies under
    ColabFold's names, msa.a3m), which `left_out` names: the estimate before the job (check_archive_deliverable)
    counts the others."""
    data, left_out = pack(output_dir), []
    if len(base64.b64encode(data)) > INLINE_ARCHIVE_BYTES and bucket is None:
        left_out = spare_files(path.name for path in output_dir.iterdir())
        data = pack(output_dir, left_out)
    files: dict[str, Any] = {"archive": "tar.gz", "bytes": len(data), "sha256": sha256(data)}
    if left_out:
        files["left_out"] = left_out
    encoded = base64.b64encode(data).decode("ascii")
    if len(encoded) <= INLINE_ARCHIVE_BYTES:
        return {**files, "data": encoded}
    if bucket is None:
        raise ResultTooLargeError(f"the result files are {len(encoded) / 1e6:.1f} MB encoded, over the "
                                  f"{INLINE_ARCHIVE_BYTES / 1e6:.0f} MB a result can carry, and no bucket is "
                                  f"configured (BUCKET_ENDPOINT_URL...); the top model and its scores are returned")
    key = f"{results_prefix(job_id)}results.tar.gz"
    return {**files, "url": bucket.upload(key, data), "key": f"s3://{bucket.name}/{key}"}


def _read_job_msa(job_dir: Path, spec: JobSpec, alignment: JobAlignment, bucket: Bucket | None):
    """The job's alignment, read as a stream within the alignment limits (alphafold_msa.msa.limits): from the
    bytes the job carries, or from the file its msa_url names, fetched into `job_dir` first. A fetched file
    that does not parse gets an error naming the line, never echoing its bytes (they may be an internal
    answer, not the caller's data)."""
    from alphafold_msa.msa import parse_input, read_input

    if alignment.url is None:
        assert alignment.data is not None, "a job's alignment is its bytes or its URL (protocol.spec)"
        return parse_input(alignment.data, spec.format, spec.query, source=f"input.{alignment.field}")
    msa_path = job_dir / "input.msa"
    fetch(alignment.url, bucket, settings.msa_url_max_bytes(), msa_path)
    try:
        return read_input(msa_path, format=spec.format, query=spec.query)
    except MsaError as error:
        if isinstance(error, MsaTooLargeError):
            raise
        line = re.search(r"\bline (\d+)", str(error))
        where = f" (problem at line {line.group(1)})" if line else ""
        raise MsaError(f"input.msa_url: the fetched file is not an alignment the worker can read{where}; its "
                       f"content is not echoed back: check the file with `launch.py --check --msa FILE`") from None


def handle_job(job: dict[str, Any]) -> dict[str, Any]:
    """Run one job; an error of the package's tree (bad input, a job too large for the device, a failed
    download...) and an unexpected failure come back as {'error': one line}."""
    from alphafold_msa.predict import PreparedInput, run_prediction

    job_id = safe_job_id(job.get("id"))
    job_dir: Path | None = None
    try:
        spec, alignment = parse_job(job.get("input"))
        logger.info("job %s received: models %s, %d recycles, %d seed(s)", job_id, list(spec.models),
                    spec.num_recycle, spec.num_seeds)
        bucket = Bucket.from_env()
        job_dir = claim_job_dir(job_id)
        msa = _read_job_msa(job_dir, spec, alignment, bucket)
        progress = _progress_reporter(job)

        def before_predicting(prepared: PreparedInput) -> None:
            if spec.files:
                check_archive_deliverable(prepared.msa.length, spec, bucket, prepared.num_alignments)
            fetch_on_demand([configs.model_name(number, prepared.preset) for number in spec.models], progress)

        result = run_prediction(msa, job_dir / "output", spec=spec, runners=RUNNERS, progress=progress,
                                before_predicting=before_predicting)
        logger.info("job %s done in %.1f s; runner counters %s", job_id, result.timings["total_s"],
                    result.timings["counters"])
        output = build_result(result, spec)
        if spec.files:
            try:
                output["files"] = deliver_archive(job_id, result.output_dir, bucket)
            except (ResultTooLargeError, StorageError) as error:  # keep what fits rather than fail the job
                output["files_error"] = str(error)
        check_result_size(output)
        return output
    except AlphafoldMsaError as error:
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
            release_job_dir(job_dir)
