"""The RunPod job handler: validate the input, predict in a private job directory, return a dict, clean up."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

from alphafold_msa import __version__
from alphafold_msa.errors import UserError

logger = logging.getLogger(__name__)
WORKDIR_ENV = "WORKDIR"


def _job_input(job: dict[str, Any]) -> dict[str, Any]:
    job_input = job.get("input")
    if not isinstance(job_input, dict):
        raise UserError("input: expected a JSON object with an 'msa' field")
    msa = job_input.get("msa")
    if not isinstance(msa, str) or not msa.strip():
        raise UserError("input.msa: expected the alignment as non-empty text")
    return job_input


def handle_job(job: dict[str, Any]) -> dict[str, Any]:
    """Predict the structure for `job['input']['msa']`; user errors come back as {'error': message}."""
    from alphafold_msa.predict import run_prediction

    job_id = str(job.get("id") or uuid.uuid4())
    base = Path(os.environ.get(WORKDIR_ENV) or tempfile.gettempdir())
    base.mkdir(parents=True, exist_ok=True)
    job_dir = Path(tempfile.mkdtemp(prefix=f"job-{job_id[:32]}-", dir=base))
    try:
        job_input = _job_input(job)
        msa_path = job_dir / "input.msa"
        msa_path.write_text(job_input["msa"])
        result = run_prediction(msa_path, job_dir / "output", msa_format=job_input.get("format"),
                                query=job_input.get("query"))
        best = result.best
        return {
            "structure": best.structure_path.read_text(),
            "structure_format": "pdb",
            "model": best.model_name,
            "mean_plddt": best.mean_plddt,
            "ptm": best.ptm,
            "max_pae": best.max_pae,
            "msa": result.msa_summary,
            "timings": result.timings,
            "version": __version__,
        }
    except UserError as error:
        return {"error": str(error).replace(str(job_dir) + "/", "")}
    except Exception:
        logger.exception("job %s failed", job_id)
        return {"error": f"internal error in job {job_id}; see the worker log for this job id"}
    finally:
        shutil.rmtree(job_dir, ignore_errors=True)
