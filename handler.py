"""RunPod serverless worker: one alignment in, the top-ranked AlphaFold2 structure and its scores out."""

from __future__ import annotations

import logging
import os
import time

# The RunPod SDK reads its level once, on import, and at DEBUG logs every job's whole output.
os.environ.setdefault("RUNPOD_LOG_LEVEL", "INFO")

import runpod  # noqa: E402

from alphafold_msa.worker.handler import check_settings, handle_job, sweep_stale_job_dirs  # noqa: E402

if __name__ == "__main__":
    # force: importing the SDK already gave the root logger a handler of its own
    logging.basicConfig(level=logging.WARNING, format="%(asctime)sZ %(levelname)s %(name)s: %(message)s",
                        force=True)
    logging.getLogger("alphafold_msa").setLevel(logging.INFO)  # one line per job stage; dependencies: warnings
    logging.Formatter.converter = time.gmtime
    check_settings()
    sweep_stale_job_dirs()
    runpod.serverless.start({"handler": handle_job})
