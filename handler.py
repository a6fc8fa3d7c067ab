"""RunPod serverless worker: one alignment in, the top-ranked AlphaFold2 structure and its scores out."""

from __future__ import annotations

import runpod

from alphafold_msa.worker.handler import check_settings, handle_job, sweep_stale_job_dirs

if __name__ == "__main__":
    check_settings()
    sweep_stale_job_dirs()
    runpod.serverless.start({"handler": handle_job})
