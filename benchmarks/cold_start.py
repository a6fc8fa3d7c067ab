"""Cold-start cost of a worker: first prediction in a fresh process, with an empty vs a warm JAX
compilation cache (the cache start.sh puts on the network volume), and a warm second job.

    python benchmarks/cold_start.py [--full | --config full|reduced] [--msa FILE] [--params DIR]
                                    [--cases no_cache,empty_cache,warm_cache]

Each case runs in a new Python process, as a newly started worker would. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MSA = REPO.parent / "shared" / "testdata" / "colabfold" / "3G5O_A.a3m"
# In this order: the cache cases share one cache folder, so warm_cache follows empty_cache.
CASES = ("no_cache", "empty_cache", "warm_cache")

JOB = """
import json, sys, time
start = time.perf_counter()
from alphafold_msa import run_prediction
from alphafold_msa.model.runner import RunnerCache
imported = time.perf_counter()
msa, out, params, config = sys.argv[1:5]
runners = RunnerCache()
first = run_prediction(msa, out + "/1", params, model_config=config, models=[1], num_recycle=0, relax="none",
                       runners=runners)
done_first = time.perf_counter()
second = run_prediction(msa, out + "/2", params, model_config=config, models=[1], num_recycle=0, relax="none",
                        runners=runners)
done_second = time.perf_counter()
print(json.dumps({"import_s": round(imported - start, 2), "first_job_s": round(done_first - imported, 2),
                  "second_job_s": round(done_second - done_first, 2),
                  "first_model_s": first.timings["models"]["model_1_ptm_seed_0"]}))
"""


def run_case(msa: Path, params: Path, config: str, cache: Path | None, work: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
    if cache is not None:
        env["JAX_COMPILATION_CACHE_DIR"] = str(cache)
    completed = subprocess.run([sys.executable, "-c", JOB, str(msa), str(work), str(params), config],
                               cwd=REPO, env=env, capture_output=True, text=True, check=True)
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="the full-size network (minutes on a CPU)")
    parser.add_argument("--config", choices=("full", "reduced"), help="the model config (default: reduced, or --full)")
    parser.add_argument("--msa", type=Path, default=DEFAULT_MSA)
    parser.add_argument("--params", type=Path, help="weights already on disk (default: model 1 generated)")
    parser.add_argument("--cases", default=",".join(CASES), help="some of " + ", ".join(CASES))
    args = parser.parse_args(argv)
    config = args.config or ("full" if args.full else "reduced")
    cases = args.cases.split(",")
    if set(cases) - set(CASES):
        parser.error(f"--cases: expected some of {', '.join(CASES)}")
    sys.path.insert(0, str(REPO))
    from alphafold_msa.testing.make_weights import make_weights

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        params = args.params
        if params is None:
            params = tmp / "weights"
            make_weights(params, config, presets=["monomer_ptm"], numbers=[1])
        results = {case: run_case(args.msa, params, config, None if case == "no_cache" else tmp / "cache",
                                  tmp / case) for case in CASES if case in cases}
        cache_mb = sum(f.stat().st_size for f in (tmp / "cache").rglob("*") if f.is_file()) / 1e6
    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores", "model_config": config, "msa": args.msa.name,
        "models": 1, "num_recycle": 0, "cases": results, "cache_mb": round(cache_mb, 1),
    }
    if {"empty_cache", "warm_cache"} <= set(results):
        report["first_job_speedup_from_cache"] = round(
            results["empty_cache"]["first_job_s"] / results["warm_cache"]["first_job_s"], 2)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
