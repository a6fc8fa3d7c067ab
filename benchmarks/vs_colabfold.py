"""Side by side with ColabFold: the same alignments, weights and settings through `colabfold_batch`
and through this project's `run_prediction`, each in a fresh process, first job and whole batch.

    python benchmarks/vs_colabfold.py [--num-models 5] [--num-recycle 0] [--first-only] [--inputs A.sto ...]

ColabFold is installed into its own virtualenv on first use (`pip install 'colabfold[alphafold]'`,
which pins its own `alphafold-colabfold`). Both read the same full-size randomly initialised
weights in the official layout (generated once; timing does not depend on weight values) and run
the monomer pTM models without templates or relaxation, seed 0. Alignments are given to both as
a3m. Prints one JSON object with wall times and the ratios ours / ColabFold.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PFAM = REPO.parent / "shared" / "testdata" / "pfam"
DEFAULT_INPUTS = [PFAM / "RRM_1.sto", PFAM / "fn3.sto", PFAM / "globins4.sto"]
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "alphafold-msa"

OURS = """
import json, sys, time
start = time.perf_counter()
from alphafold_msa import run_prediction
from alphafold_msa.model.runner import RunnerCache
imported = time.perf_counter()
out, params, models, recycles, *inputs = sys.argv[1:]
jobs, per_model, runners = [], [], RunnerCache()
for path in inputs:
    begun = time.perf_counter()
    result = run_prediction(path, f"{out}/{len(jobs)}", params, model_config="full",
                            models=range(1, int(models) + 1), num_recycle=int(recycles), random_seed=0,
                            relax="none", runners=runners)
    jobs.append(round(time.perf_counter() - begun, 1))
    per_model.append([round(s, 1) for s in result.timings["models"].values()])
print(json.dumps({"import_s": round(imported - start, 1), "jobs_s": jobs, "models_s": per_model}))
"""


def ensure_colabfold(venv: Path) -> Path:
    """colabfold_batch from `venv`, installing ColabFold there first if needed."""
    program = venv / "bin" / "colabfold_batch"
    if not program.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "colabfold[alphafold]"], check=True)
    return program


def ensure_weights(param_dir: Path, num_models: int) -> Path:
    """Full-size random pTM weights for models 1..num_models, marked as downloaded for ColabFold."""
    models = ",".join(str(n) for n in range(1, num_models + 1))
    missing = [n for n in range(1, num_models + 1) if not (param_dir / "params" / f"params_model_{n}_ptm.npz").exists()]
    if missing:
        subprocess.run([sys.executable, "-m", "alphafold_msa.testing.make_weights", "--config", "full",
                        "--preset", "monomer_ptm", "--models", models, str(param_dir)], check=True, stdout=sys.stderr)
    (param_dir / "params" / "download_finished.txt").touch()
    return param_dir


def as_a3m(paths: list[Path], folder: Path) -> list[Path]:
    """Each alignment written as a3m (query first), the input both programs read."""
    from alphafold_msa.msa import read_msa

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for path in paths:
        target = folder / f"{path.name.split('.')[0]}.a3m"
        target.write_text(read_msa(path).to_a3m())
        written.append(target)
    return written




def run_ours(inputs: list[Path], params: Path, args: argparse.Namespace, work: Path) -> dict:
    start = time.perf_counter()
    output = subprocess.run([sys.executable, "-c", OURS, str(work), str(params), str(args.num_models),
                             str(args.num_recycle), *map(str, inputs)],
                            check=True, capture_output=True, text=True).stdout
    return {"wall_s": round(time.perf_counter() - start, 1), **json.loads(output.strip().splitlines()[-1])}


def run_colabfold(program: Path, inputs: list[Path], params: Path, args: argparse.Namespace, work: Path) -> dict:
    source = inputs[0] if len(inputs) == 1 else inputs[0].parent
    command = [str(program), "--num-models", str(args.num_models), "--num-recycle", str(args.num_recycle),
               "--model-type", "alphafold2_ptm", "--random-seed", "0", "--data", str(params),
               str(source), str(work)]
    start = time.perf_counter()
    completed = subprocess.run(command, check=True, capture_output=True, text=True)
    log = completed.stdout + completed.stderr
    return {"wall_s": round(time.perf_counter() - start, 1),
            "models_s": [float(s) for s in re.findall(r" took ([0-9.]+)s", log)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", nargs="+", type=Path, default=DEFAULT_INPUTS)
    parser.add_argument("--num-models", type=int, default=5)
    parser.add_argument("--num-recycle", type=int, default=0)
    parser.add_argument("--first-only", action="store_true", help="time the first job only, not the batch")
    parser.add_argument("--venv", type=Path, default=CACHE / "colabfold-venv")
    parser.add_argument("--weights", type=Path, default=CACHE / "full-random-weights")
    args = parser.parse_args()

    program = ensure_colabfold(args.venv)
    params = ensure_weights(args.weights, args.num_models)
    report: dict = {"benchmark": "vs_colabfold", "machine": platform.processor() or platform.machine(),
                    "cpus": os.cpu_count(), "num_models": args.num_models, "num_recycle": args.num_recycle}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        first = as_a3m(args.inputs[:1], work / "first")
        batch = as_a3m(args.inputs, work / "batch")
        cases = {"first_job": first} if args.first_only else {"first_job": first, "batch": batch}
        for case, inputs in cases.items():
            ours = run_ours(inputs, params, args, work / f"ours-{case}")
            colabfold = run_colabfold(program, inputs, params, args, work / f"colabfold-{case}")
            report[case] = {"inputs": [p.name for p in inputs], "ours": ours, "colabfold": colabfold,
                            "ratio_ours_over_colabfold": round(ours["wall_s"] / colabfold["wall_s"], 2)}
            print(json.dumps(report[case]), file=sys.stderr)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
