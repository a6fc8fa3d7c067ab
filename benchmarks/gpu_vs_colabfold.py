"""Side by side with ColabFold on the same card: the same a3m, the same random full-size weights, 5 pTM models,
3 recycles (all of them: early stop off), no templates, no relaxation, through `colabfold_batch` with its fused
kernels and through this project's `run_prediction`, each in a fresh process.

    python benchmarks/gpu_vs_colabfold.py --out DIR [--budget-s 180] [--lengths 100,300,1000]
                                          [--peer-python python3] [--peer-site DIR] [--cpu]

Each length's alignment (generated: 30% substitutions, 5% gaps, --depth rows) is written twice under two names,
so each program predicts it as a first query (compiling) and again as a warm one. ColabFold's per-query time is
read from its log (from one "Query i/N" line to the next, or to the end of its run); ours is each
run_prediction's wall time. Writes DIR/vs_colabfold.json after each length (a run cut short keeps what it
measured) and prints it. ColabFold 1.6.3 pins alphafold-colabfold 2.3.20, so it runs from its own packages:
--peer-site (a folder of them, put first on its PYTHONPATH; benchmarks/gpu_wheels.sh --peer makes their wheels)
or --peer-python (a virtualenv's interpreter, as benchmarks/vs_colabfold.py installs). `--cpu` proves the script
here: 2 models, 24 residues, no fused kernels.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from model_speed import generated_msa  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
# Rough seconds both programs take for one length on an H100 (compile + two 5-model queries each).
EXPECTED_S = {100: 50, 300: 70, 1000: 200}

OURS = """
import json, sys, time
start = time.perf_counter()
from alphafold_msa import run_prediction
from alphafold_msa.model.runner import RunnerCache
out, params, models, recycles, *inputs = sys.argv[1:]
runners, jobs = RunnerCache(), []
for index, path in enumerate(inputs):
    begun = time.perf_counter()
    result = run_prediction(path, f"{out}/{index}", params, model_config="full",
                            models=list(range(1, int(models) + 1)), num_recycle=int(recycles),
                            recycle_early_stop_tolerance=0.0, random_seed=0, relax="none", runners=runners)
    jobs.append({"wall_s": round(time.perf_counter() - begun, 2), "models_s": result.timings["models"],
                 "process_features_s": result.timings["process_features_s"],
                 "mean_plddt": round(result.best.mean_plddt, 2), "kernels": result.timings["kernels"]})
print(json.dumps({"process_s": round(time.perf_counter() - start, 2), "jobs": jobs}))
"""


def weights(folder: Path, config: str = "full") -> Path:
    """Random pTM weights of `config` (in a child process: this one keeps off the GPU): models 1 (with template
    weights) and 3 generated, 2 and 4-5 the same files under their names (timing does not depend on the values),
    marked as downloaded for ColabFold."""
    params = folder / "params"
    if not (params / "params_model_3_ptm.npz").exists():
        subprocess.run([sys.executable, "-m", "alphafold_msa.testing.make_weights", "--config", config, "--preset",
                        "monomer_ptm", "--models", "1,3", str(folder)], check=True, stdout=sys.stderr)
    for copy, source in ((2, 1), (4, 3), (5, 3)):
        target = params / f"params_model_{copy}_ptm.npz"
        if not target.exists():
            target.symlink_to(f"params_model_{source}_ptm.npz")
    (params / "download_finished.txt").touch()
    return folder


def queries(folder: Path, length: int, depth: int) -> list[Path]:
    """The length's alignment as a3m twice (first and warm query), alone in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    text = generated_msa(length, depth, seed=length).to_a3m()
    paths = [folder / f"L{length}_{which}.a3m" for which in ("a", "b")]
    for path in paths:
        path.write_text(text)
    return paths


def run_ours(inputs: list[Path], params: Path, models: int, recycles: int, out: Path, timeout: float) -> dict:
    start = time.perf_counter()
    completed = subprocess.run([sys.executable, "-c", OURS, str(out), str(params), str(models), str(recycles),
                                *map(str, inputs)], capture_output=True, text=True, timeout=timeout,
                               env={**os.environ, "PYTHONPATH": f"{REPO}:{os.environ.get('PYTHONPATH', '')}"})
    wall = round(time.perf_counter() - start, 2)
    if completed.returncode != 0:
        return {"error": completed.stderr[-1500:], "wall_s": wall}
    return {"wall_s": wall, **json.loads(completed.stdout.strip().splitlines()[-1])}


def run_colabfold(folder: Path, params: Path, models: int, recycles: int, out: Path, args: argparse.Namespace,
                  timeout: float) -> dict:
    command = [args.peer_python, "-m", "colabfold.batch", str(folder), str(out), "--num-models", str(models),
               "--num-recycle", str(recycles), "--recycle-early-stop-tolerance", "0", "--model-type",
               "alphafold2_ptm", "--random-seed", "0", "--data", str(params)]
    if not args.cpu:
        command.append("--use-fast-kernels")
    env = dict(os.environ)
    if args.peer_site:
        env["PYTHONPATH"] = f"{args.peer_site}:{env.get('PYTHONPATH', '')}"
    start = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    wall = time.perf_counter() - start
    log = (out / "log.txt").read_text() if (out / "log.txt").exists() else completed.stdout + completed.stderr
    if completed.returncode != 0:
        return {"error": (completed.stderr or completed.stdout)[-1500:], "wall_s": round(wall, 2)}
    return {"wall_s": round(wall, 2), "queries_s": query_seconds(log),
            "models_s": [float(s) for s in re.findall(r" took ([0-9.]+)s \(", log)]}


def query_seconds(log: str) -> list[float]:
    """Each query's seconds in a colabfold_batch log: from its 'Query i/N' line to the next query's, the last to
    the log's last line."""
    stamps = []
    for line in log.splitlines():
        match = re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) (.*)", line)
        if match:
            stamps.append((datetime.strptime(match[1], "%Y-%m-%d %H:%M:%S,%f"), match[2]))
    starts = [index for index, (_, text) in enumerate(stamps) if re.match(r"Query \d+/\d+", text)]
    ends = [*starts[1:], len(stamps) - 1]
    return [round((stamps[end][0] - stamps[begin][0]).total_seconds(), 2) for begin, end in zip(starts, ends)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--budget-s", type=float, default=180)
    parser.add_argument("--lengths")
    parser.add_argument("--depth", type=int)
    parser.add_argument("--num-recycle", type=int, default=3)
    parser.add_argument("--peer-python", default="python3")
    parser.add_argument("--peer-site", type=Path, help="a folder of ColabFold's packages, first on its PYTHONPATH")
    parser.add_argument("--weights", type=Path, help="where the random weights go (default: under --out)")
    parser.add_argument("--cpu", action="store_true", help="2 models, 24 residues, no fused kernels: prove the script")
    args = parser.parse_args()
    deadline = time.monotonic() + args.budget_s
    lengths = [int(x) for x in (args.lengths or ("24" if args.cpu else "100,300,1000")).split(",")]
    models, depth = (2, 64) if args.cpu else (5, args.depth or 2000)
    args.out.mkdir(parents=True, exist_ok=True)
    params = weights(args.weights or args.out / "weights")
    report: dict = {"benchmark": "gpu_vs_colabfold", "models": models, "num_recycle": args.num_recycle,
                    "depth": depth, "lengths": {}}
    for length in lengths:
        left = deadline - time.monotonic()
        if not args.cpu and left < EXPECTED_S.get(length, 200):
            report["lengths"][str(length)] = {"skipped": f"{left:.0f} s left, about {EXPECTED_S.get(length)} needed"}
            continue
        folder = queries(args.out / f"inputs-{length}", length, depth)[0].parent
        inputs = sorted(folder.glob("*.a3m"))
        row: dict = {}
        try:
            row["ours"] = run_ours(inputs, params, models, args.num_recycle, args.out / f"ours-{length}", left)
            left = deadline - time.monotonic()
            row["colabfold"] = run_colabfold(folder, params, models, args.num_recycle, args.out / f"colabfold-{length}",
                                             args, max(left, 1.0))
            ours, theirs = row["ours"].get("jobs", []), row["colabfold"].get("queries_s", [])
            if len(ours) == 2 and len(theirs) == 2:
                row["colabfold_over_ours"] = {"first": round(theirs[0] / ours[0]["wall_s"], 2),
                                              "warm": round(theirs[1] / ours[1]["wall_s"], 2)}
        except (subprocess.SubprocessError, OSError, ValueError) as error:  # keep what was measured
            row["error"] = f"{type(error).__name__}: {error}"[-1500:]
        report["lengths"][str(length)] = row
        (args.out / "vs_colabfold.json").write_text(json.dumps(report, indent=2))
        print(f"[vs_colabfold] {length}: {json.dumps(row)[:1500]}", flush=True)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
