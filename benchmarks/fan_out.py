"""--fan-out: what spreading one prediction's samples over many endpoint workers gains and costs.

    python benchmarks/fan_out.py simulate [--price-per-s 0.00116]
    python benchmarks/fan_out.py measure [--samples 40] [--workers 1,2]

simulate: wall time and cost of 100 / 1,000 / 8,000 samples at 300 and 1,000 residues over 1, 10 and 100 workers,
from measured numbers: a sample's seconds on an H200 with the fused kernels (alphafold_msa/model/speed.py, from
docs/benchmarks.md), a new worker's start (WORKER_START_S: container, weights, the network from the compilation
cache) and the launcher's split (launcher/fanout.py: jobs of at least the samples that are worth a worker's
start). Each worker used pays one start; the samples run back to back. Cost is billed worker seconds x
--price-per-s (an assumed per-second GPU price by default: pass your endpoint's). "efficiency" is the samples' GPU time
over the billed time: where it falls, fan-out stops paying.

measure: this machine, the reduced network: an emulated endpoint (tests/batch_endpoint.py: RunPod's /run,
/status, /cancel) whose K workers are K processes running the real handler, and launch.py --fan-out splitting
SAMPLES samples into jobs of one model and seed; wall time, and whether the merged result equals K = 1's.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import multiprocessing
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TESTDATA = REPO.parent / "shared" / "testdata"
LENGTHS, SAMPLES, WORKERS = (300, 1000), (100, 1000, 8000), (1, 10, 100)


def simulate(price_per_s: float) -> dict:
    from alphafold_msa.launcher.fanout import worth_a_worker
    from alphafold_msa.model.speed import WORKER_START_S, seconds_per_sample

    rows = []
    for length in LENGTHS:
        per_sample = seconds_per_sample(length)
        least = worth_a_worker(length, 3)
        for samples in SAMPLES:
            for workers in WORKERS:
                per_job = min(samples, max(least, math.ceil(samples / workers)))
                jobs = math.ceil(samples / per_job)
                used = min(workers, jobs)
                wall = WORKER_START_S + math.ceil(jobs / used) * per_job * per_sample
                billed = used * WORKER_START_S + samples * per_sample
                rows.append({"length": length, "samples": samples, "workers": workers, "jobs": jobs,
                             "samples_per_job": per_job, "wall_s": round(wall), "billed_s": round(billed),
                             "cost_usd": round(billed * price_per_s, 2),
                             "efficiency": round(samples * per_sample / billed, 2)})
    return {"benchmark": "fan_out_simulation", "worker_start_s": WORKER_START_S, "price_per_s": price_per_s,
            "seconds_per_sample": {length: round(seconds_per_sample(length), 3) for length in LENGTHS},
            "rows": rows}


def _start_worker(environment: dict) -> None:
    """A worker process's environment: the reduced weights, their config, its own work folder."""
    os.environ.update(environment)


def _apply(pool, job: dict) -> dict:
    """The job run in one of `pool`'s worker processes."""
    return pool.apply(_run_job, (job,))


def _run_job(job: dict) -> dict:
    """One job through the real handler, in a worker process."""
    from alphafold_msa.worker.handler import handle_job

    return handle_job(job)


def measure(samples: int, worker_counts: list[int]) -> dict:
    sys.path.insert(0, str(REPO / "tests"))
    from batch_endpoint import BatchEndpoint

    from alphafold_msa.launcher.cli import main
    from alphafold_msa.testing.make_weights import make_weights

    rows, merged = [], {}
    with tempfile.TemporaryDirectory() as scratch:
        weights = Path(scratch) / "weights"
        make_weights(weights, "reduced", presets=["monomer_ptm"], numbers=[1])
        environment = {"PARAM_DIR": str(weights), "ALPHAFOLD_MSA_MODEL_CONFIG": "reduced",
                       "WORKDIR": str(Path(scratch) / "work"), "ALPHAFOLD_MSA_RELAX": "none"}
        for count in worker_counts:
            pool = multiprocessing.get_context("spawn").Pool(count, initializer=_start_worker,
                                                             initargs=(environment,))
            out = Path(scratch) / f"out{count}"
            run_job = functools.partial(_apply, pool)
            with pool, BatchEndpoint(run_job, workers=count) as endpoint:
                arguments = ["--msa", str(TESTDATA / "colabfold" / "6A5J.a3m"), "--output", str(out / "top.pdb"),
                             "--output-dir", str(out), "--endpointId", "ep1", "--api-key", "k", "--api-url",
                             endpoint.url, "--models", "1", "--num-seeds", str(samples), "--use-dropout",
                             "--num-recycle", "0", "--relax", "none", "--fan-out", str(samples),
                             "--samples-per-job", "1", "--concurrency", str(2 * count), "--poll-interval", "0.2"]
                started = time.perf_counter()
                code = main(arguments)
                wall = time.perf_counter() - started
            merged[count] = [(out / name).read_text() for name in ("samples.tsv", "ranked_0.pdb", "ranking.json")]
            rows.append({"workers": count, "exit_code": code, "wall_s": round(wall, 1),
                         "samples_per_s": round(samples / wall, 2)})
    first = merged[worker_counts[0]]
    for row in rows:
        tsv, *rest = merged[row["workers"]]
        row["merged_equal_to_first"] = rest == first[1:] and _untimed(tsv) == _untimed(first[0])
    return {"benchmark": "fan_out_measured", "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
            "network": "reduced", "samples": samples, "query_residues": 13, "rows": rows}


def _untimed(tsv: str) -> list[list[str]]:
    """samples.tsv without its seconds column."""
    rows = [line.split("\t") for line in tsv.splitlines()]
    seconds = rows[0].index("seconds")
    return [[cell for index, cell in enumerate(row) if index != seconds] for row in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    modes = parser.add_subparsers(dest="mode", required=True)
    simulated = modes.add_parser("simulate")
    simulated.add_argument("--price-per-s", type=float, default=0.00116)
    measured = modes.add_parser("measure")
    measured.add_argument("--samples", type=int, default=40)
    measured.add_argument("--workers", default="1,2")
    args = parser.parse_args()
    if args.mode == "simulate":
        print(json.dumps(simulate(args.price_per_s)))
    else:
        print(json.dumps(measure(args.samples, [int(w) for w in args.workers.split(",")])))


if __name__ == "__main__":
    main()
