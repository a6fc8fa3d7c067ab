"""Sampling at scale: samples per second and peak memory against the number of samples, on the reduced network.

    python benchmarks/sampling.py [--counts 1,10,100,1000] [--keep-top 5] [--dropout] [--mask 0.1]

Each count runs in a fresh process: one run_prediction of the real 6A5J a3m (13 residues) with model 1,
--num-seeds COUNT, no recycles, generated reduced weights; the compile happens in a warm-up job first, so
seconds per sample are the warm ones. Peak RSS (ru_maxrss) is the process's; "above warm-up" is what the
sampling job added on top of the warm-up job's peak: a job that held every sample would grow with the count,
one that keeps `keep_top` structures (and the 200 most confident samples' Cα atoms for the ensemble) stays flat;
ensemble_s is the structural clustering of those samples. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TESTDATA = REPO.parent / "shared" / "testdata"


def one_count(count: int, keep_top: int, dropout: bool, mask: float, weights: Path) -> dict:
    """One sampling job of `count` samples after a warm-up job, in this process."""
    from alphafold_msa.model.runner import RunnerCache
    from alphafold_msa.predict import run_prediction
    from alphafold_msa.protocol.spec import JobSpec

    runners = RunnerCache()
    msa = TESTDATA / "colabfold" / "6A5J.a3m"
    recipe = {"models": (1,), "num_recycle": 0, "relax": "none", "dropout": dropout, "msa_mask_fraction": mask}
    with tempfile.TemporaryDirectory() as folder:
        run_prediction(msa, Path(folder) / "warm", weights, JobSpec(**recipe), model_config="reduced",
                       runners=runners)
        warm_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        start = time.perf_counter()
        result = run_prediction(msa, Path(folder) / "job", weights,
                                JobSpec(**recipe, num_seeds=count, keep_top=keep_top),
                                model_config="reduced", runners=runners)
        seconds = time.perf_counter() - start
        lines = len((Path(folder) / "job" / "samples.tsv").read_text().splitlines()) - 1
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"samples": count, "samples_tsv_lines": lines, "kept": len(result.models), "job_s": round(seconds, 2),
            "samples_per_s": round(count / seconds, 2), "network_s_per_sample": round(
                sum(result.timings["models"].values()) / count, 4),
            "ensemble_s": result.timings.get("ensemble_s"), "peak_rss_mb": round(peak / 1e6),
            "above_warm_up_mb": round((peak - warm_peak) / 1e6)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--counts", default="1,10,100,1000")
    parser.add_argument("--keep-top", type=int, default=5)
    parser.add_argument("--dropout", action="store_true")
    parser.add_argument("--mask", type=float, default=0.0)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # a child process's count
    parser.add_argument("--weights", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(one_count(args.one, args.keep_top, args.dropout, args.mask, args.weights)))
        return
    from alphafold_msa.testing.make_weights import make_weights

    with tempfile.TemporaryDirectory() as weights:
        make_weights(Path(weights), "reduced", seed=0, presets=["monomer_ptm"], numbers=[1])
        rows = []
        for count in (int(c) for c in args.counts.split(",")):
            command = [sys.executable, __file__, "--one", str(count), "--keep-top", str(args.keep_top), "--mask",
                       str(args.mask), "--weights", weights, *(["--dropout"] if args.dropout else [])]
            done = subprocess.run(command, capture_output=True, text=True, check=True,
                                  env={**os.environ, "PYTHONPATH": str(REPO)})
            rows.append(json.loads(done.stdout.splitlines()[-1]))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print(json.dumps({"benchmark": "sampling", "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
                      "network": "reduced", "query_residues": 13, "keep_top": args.keep_top, "dropout": args.dropout,
                      "msa_mask_fraction": args.mask, "rows": rows}))


if __name__ == "__main__":
    main()
