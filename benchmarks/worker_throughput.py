"""Warm-worker throughput: six jobs of different lengths, seed-style (reload parameters and build a
new jit-compiled model for every model of every job) vs the warm ModelRunner, on the same machine.

    python benchmarks/worker_throughput.py [--full] [--models 1,2,3,4,5] [--num-recycle 3]

Jobs: 60, 93, 120, 93, 60, 150 residues (93 is the real 3G5O_A a3m; the others are column windows
of the real Pkinase seed). Each mode runs in its own fresh process. With --full (the full-size
network; minutes per compile on a CPU) the jobs are 60 and 93 residues with one model. Prints JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TESTDATA = REPO.parent / "shared" / "testdata"
FULL_JOBS = (60, 93)
REDUCED_JOBS = (60, 93, 120, 93, 60, 150)


def job_msa(length: int):
    """The real 93-residue a3m, or a window of `length` query columns of the real Pkinase seed."""
    from alphafold_msa.msa import read_msa

    if length == 93:
        return read_msa(TESTDATA / "colabfold" / "3G5O_A.a3m")
    seed = read_msa(TESTDATA / "pfam" / "Pkinase.sto")
    window = slice(20, 20 + length)
    return dataclasses.replace(seed, matrix=seed.matrix[:, window].copy(), deletions=seed.deletions[:, window].copy(),
                               query_sequence=seed.query_sequence[window], source=f"Pkinase.sto[{length}]")


def run_seed_style(lengths, param_dir: Path, config: str, models: list[int], num_recycle: int) -> list[dict]:
    """What the original worker did: per job and model, load parameters and build a new RunModel."""
    from alphafold.model import model as af_model

    from alphafold_msa.model.config import model_name, network_config
    from alphafold_msa.model.features import build_features, process_features
    from alphafold_msa.model.weights import load_params

    jobs = []
    for length in lengths:
        start = time.perf_counter()
        raw = build_features(job_msa(length))
        for number in models:
            cfg = network_config("monomer_ptm", config)
            params = load_params(param_dir, model_name(number, "monomer_ptm"), cfg, config)
            runner = af_model.RunModel(cfg, params)
            runner.config.model.num_recycle = num_recycle
            runner.predict(process_features(raw, cfg, num_recycle, 0), random_seed=0)
        jobs.append({"length": length, "wall_s": round(time.perf_counter() - start, 2)})
    return jobs


def run_warm(lengths, param_dir: Path, config: str, models: list[int], num_recycle: int) -> list[dict]:
    """This project's worker: one ModelRunner for every job."""
    from alphafold_msa.model.runner import ModelRunner
    from alphafold_msa.predict import run_prediction

    runner = ModelRunner(param_dir, config, "monomer_ptm")
    jobs = []
    with tempfile.TemporaryDirectory() as out:
        for index, length in enumerate(lengths):
            start = time.perf_counter()
            run_prediction(job_msa(length), Path(out) / str(index), runner=runner, models=models,
                           num_recycle=num_recycle, relax="none")
            jobs.append({"length": length, "wall_s": round(time.perf_counter() - start, 2),
                         "compilations_so_far": runner.counters["compilations"]})
    return jobs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="full-size network (slow on a CPU)")
    parser.add_argument("--models", default=None, help="model numbers (default 1,2,3,4,5; with --full 1)")
    parser.add_argument("--num-recycle", type=int, default=3)
    parser.add_argument("--mode", choices=("seed", "warm"), help=argparse.SUPPRESS)
    parser.add_argument("--param-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    config = "full" if args.full else "reduced"
    lengths = FULL_JOBS if args.full else REDUCED_JOBS
    models = [int(n) for n in (args.models or ("1" if args.full else "1,2,3,4,5")).split(",")]
    sys.path.insert(0, str(REPO))
    if args.mode:  # one mode, in its own process
        run = run_seed_style if args.mode == "seed" else run_warm
        print(json.dumps(run(lengths, args.param_dir, config, models, args.num_recycle)))
        return 0

    from alphafold_msa.testing.make_weights import make_weights

    with tempfile.TemporaryDirectory() as tmp:
        make_weights(tmp, config, presets=["monomer_ptm"], numbers=models)
        results = {}
        for mode in ("seed", "warm"):
            command = [sys.executable, __file__, "--mode", mode, "--param-dir", tmp, "--models",
                       ",".join(map(str, models)), "--num-recycle", str(args.num_recycle)]
            command += ["--full"] if args.full else []
            completed = subprocess.run(command, capture_output=True, text=True, check=True)
            results[mode] = json.loads(completed.stdout.strip().splitlines()[-1])
    seed_total = sum(j["wall_s"] for j in results["seed"][1:])
    warm_total = sum(j["wall_s"] for j in results["warm"][1:])
    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores (CPU backend)",
        "model_config": config, "models": models, "num_recycle": args.num_recycle,
        "seed_style": results["seed"], "warm_runner": results["warm"],
        "total_s": {"seed_style": round(sum(j["wall_s"] for j in results["seed"]), 1),
                    "warm_runner": round(sum(j["wall_s"] for j in results["warm"]), 1)},
        "speedup_from_second_job": round(seed_total / warm_total, 1),
        "compilations": results["warm"][-1]["compilations_so_far"],
        "target": "speedup_from_second_job >= 5 and compilations <= number of length buckets used",
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
