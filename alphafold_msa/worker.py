"""The RunPod job handler: validate, predict in a private job directory, return a dict, clean up.

The model runner behind `run_prediction` is per process, so every job after the first reuses the
loaded parameters and compiled network.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any, Callable

from alphafold_msa import __version__
from alphafold_msa.errors import UserError
from alphafold_msa.jobs import COMPLEX_SCORES, check_result_size, encode_text, validate_input
from alphafold_msa.results import PredictionResult, RankedModel

logger = logging.getLogger(__name__)
WORKDIR_ENV = "WORKDIR"


def _progress_reporter(job: dict[str, Any]) -> Callable[[str], None]:
    """Send progress to RunPod when running on the platform; always log it."""
    hosted = bool(os.environ.get("RUNPOD_WEBHOOK_POST_OUTPUT"))

    def report(message: str) -> None:
        logger.info("job %s: %s", job.get("id"), message)
        if hosted:
            import runpod

            runpod.serverless.progress_update(job, message)

    return report


def _model_entry(model: RankedModel, formats: list[str], scores: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "rank": model.rank, "model": model.model_name, "seed": model.seed, "recycles": model.recycles,
        "mean_plddt": model.mean_plddt, "ptm": model.ptm, "iptm": model.iptm, "max_pae": model.max_pae,
        "structures": {fmt: encode_text(model.structure_paths[fmt].read_text()) for fmt in formats},
    }
    if scores:
        entry["scores"] = encode_text(model.scores_path.read_text())
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
    check_result_size(output)
    return output


def handle_job(job: dict[str, Any]) -> dict[str, Any]:
    """Run one job; bad input and unexpected failures come back as {'error': one line}."""
    from alphafold_msa.predict import run_prediction

    job_id = str(job.get("id") or uuid.uuid4())
    base = Path(os.environ.get(WORKDIR_ENV) or tempfile.gettempdir())
    job_dir: Path | None = None
    try:
        options = validate_input(job.get("input"))
        base.mkdir(parents=True, exist_ok=True)
        job_dir = Path(tempfile.mkdtemp(prefix=f"job-{job_id[:40]}-", dir=base))
        msa_path = job_dir / "input.msa"
        msa_path.write_text(options["msa"])
        result = run_prediction(
            msa_path, job_dir / "output",
            models=options["models"], num_recycle=options["num_recycle"],
            recycle_early_stop_tolerance=options["recycle_early_stop_tolerance"], random_seed=options["random_seed"],
            num_seeds=options["num_seeds"], max_msa_depth=options["max_msa_depth"], formats=options["formats"],
            relax=options["relax"], msa_format=options["format"], query=options["query"],
            complex_mode=options["complex_mode"],
            progress=_progress_reporter(job),
        )
        logger.info("job %s done in %.1f s; runner counters %s", job_id, result.timings["total_s"],
                    result.timings["counters"])
        return build_result(result, options)
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
