"""The GPU benchmark: its steps in order of importance, each written to OUT as soon as it is measured.

    python benchmarks/gpu_suite.py --out DIR [--budget-s 450] [--steps kernel_check,vs_colabfold,...] [--cpu]
                                   [--peer-python PY] [--peer-site DIR] [--config full|reduced] [--depth 6000]

Steps (files), skipped with the reason when the budget left would not finish them:
- kernel_check (kernel_check.json): the self-check's verdict on the fused kernels: the whole network, the
  module-level cases of ColabFold 1.6.2's two fused-path bugs (kernel_cases) and a batch of four samples;
- vs_colabfold (vs_colabfold/vs_colabfold.json): ColabFold 1.6.3 beside us on the same card, 5 models, 3
  recycles, at --peer-lengths (benchmarks/gpu_vs_colabfold.py, from --peer-site or --peer-python);
- batched (batched.json): samples per second at --batch-lengths with --batch-sizes samples per network call, each
  batched sample against its run alone, and the size `auto` picks;
- warm_job (warm_job.json): two whole --job-models jobs at 100 residues through run_prediction (the second warm:
  where the time outside the network goes), then one of model 1 over --job-seeds seeds (samples per call: auto);
- memory_table (memory_table.json, gpu_memory.json): XLA's buffer assignment with the fused kernels at
  --memory-lengths, monomer and AlphaFold-Multimer: gpu_memory.json is the table a GPU worker plans with
  (copy it to alphafold_msa/model/gpu_memory.json);
- model_speed (model_speed.json): seconds per model at --lengths per kernel path in --paths, compile time, peak
  device memory against the estimate;
- multimer (multimer.json): a 2 x 300 heterodimer through AlphaFold-Multimer v3, --job-models models;
- cold_start (cold_start.json): a fresh process to its first model with the weights on disk, with an empty and
  with a warm compilation cache (benchmarks/cold_start.py);
- relax (relax.json): Amber on the GPU at 300 residues, when OpenMM is installed.
Full-size random weights are generated on the spot (models 1 and 3; 2, 4 and 5 are their files under their
names: timing does not depend on the values). `--cpu` runs every step with the reduced network and small
lengths to prove the script.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Callable, TypeVar

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from gpu_vs_colabfold import weights  # noqa: E402
from model_speed import PUBLISHED, generated_msa  # noqa: E402

STEPS = ("kernel_check", "vs_colabfold", "batched", "warm_job", "memory_table", "model_speed", "multimer",
         "cold_start", "relax")
# Rough seconds each step takes on an H100, to skip what cannot finish.
STEP_S = {"kernel_check": 80, "vs_colabfold": 120, "batched": 120, "warm_job": 40, "memory_table": 90,
          "model_speed": 90, "multimer": 90, "cold_start": 90, "relax": 40}
T = TypeVar("T")
# Environment variables this suite changes for itself, as it found them: its steps' processes get them back.
INHERITED: dict[str, str] = {}
# Rough seconds a (length, path) measurement of model_speed takes on an H100 (compile + 2 models).
EXPECTED_S = {100: 20, 300: 25, 500: 35, 1000: 50}


class Suite:
    """Writes each result file as soon as its measurement ends; knows the time left."""

    def __init__(self, out: Path, budget_s: float):
        self.out = out
        self.deadline = time.monotonic() + budget_s
        out.mkdir(parents=True, exist_ok=True)

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def write(self, name: str, data: dict) -> None:
        partial = self.out / f".{name}.json"
        partial.write_text(json.dumps(data, indent=2, default=str))
        partial.replace(self.out / f"{name}.json")
        print(f"[{name}] {json.dumps(data, default=str)[:2000]}", flush=True)


class Context:
    """What the steps share: the arguments, the suite, the weights and the runners (one per kernel path)."""

    def __init__(self, args: argparse.Namespace, suite: Suite, param_dir: Path, config: str):
        self.args, self.suite, self.param_dir, self.config = args, suite, param_dir, config
        self.runners: dict[str, object] = {}
        self.env: dict = {}

    def runner(self, path: str):
        """The warm runner of kernel path `path` ('auto' for the worker's own choice)."""
        from alphafold_msa.model.runner import ModelRunner

        if path not in self.runners:
            self.runners[path] = ModelRunner(self.param_dir, self.config, "monomer_ptm", kernels=path)
        return self.runners[path]

    @property
    def fused(self) -> str:
        from alphafold_msa.model import kernels

        return kernels.fused_path_for(kernels.current_device()) or "xla"

    def msa(self, length: int, seed: int = 0, depth: int | None = None):
        return generated_msa(length, depth or self.args.depth, seed=seed)


def environment(device_name: str) -> dict:
    import jax

    from alphafold_msa.model import kernel_check, kernels

    device = kernels.current_device()
    return {"device": device.name, "platform": device.platform, "compute_capability": device.compute_capability,
            "driver": kernel_check.driver_version(), "versions": kernel_check.package_versions(),
            "jax_backend": jax.default_backend(), "python": platform.python_version(),
            "cpu": platform.processor() or platform.machine(), "cpus": os.cpu_count(), "requested": device_name}


def peak_bytes() -> int | None:
    import jax

    stats = jax.devices()[0].memory_stats() or {}
    return stats.get("peak_bytes_in_use")


def first_and_warm(call: Callable[[], T]) -> tuple[float, float, T]:
    """(seconds of the first call, which compiles; of the second, warm; the second's result). The runner returns
    its outputs on the host, so the device has finished when it returns."""
    seconds = []
    for _ in range(2):
        start = time.perf_counter()
        result = call()
        seconds.append(time.perf_counter() - start)
    return seconds[0], seconds[1], result


def step_kernel_check(ctx: Context) -> dict:
    """The worker's own choice (`auto`): on a GPU the self-check runs and its verdict is the record."""
    from alphafold_msa.model import kernel_check

    start = time.perf_counter()
    auto = ctx.runner("auto")
    record = dict(auto.kernel_record)
    if ctx.args.cpu:  # no fused kernels on a CPU: run the check's XLA-against-XLA form to prove the code path
        record["cpu_proof"] = kernel_check.run_and_judge("xla", auto.self_check)
    elif "check" not in record:
        record["note"] = "no check ran"
    return {"record": record, "wall_s": round(time.perf_counter() - start, 1)}


def step_vs_colabfold(ctx: Context) -> dict:
    """benchmarks/gpu_vs_colabfold.py in its own process, within the time left."""
    args = ctx.args
    if not (args.peer_site or args.peer_python):
        return {"skipped": "no ColabFold packages (--peer-site or --peer-python)"}
    command = [sys.executable, str(HERE / "gpu_vs_colabfold.py"), "--out", str(ctx.suite.out / "vs_colabfold"),
               "--budget-s", str(int(min(ctx.suite.left() - 5, args.peer_budget_s))), "--lengths", args.peer_lengths,
               "--peer-python", args.peer_python or sys.executable]
    if args.peer_site:
        command += ["--peer-site", str(args.peer_site)]
    command += ["--cpu"] if args.cpu else ["--weights", str(ctx.param_dir)]
    start = time.perf_counter()
    completed = run_child(command, ctx.suite.left())
    sys.stdout.write(completed.stdout[-6000:])
    row = {"returncode": completed.returncode, "wall_s": round(time.perf_counter() - start, 1),
           "file": "vs_colabfold/vs_colabfold.json"}
    if completed.returncode:
        row["stderr"] = completed.stderr[-1500:]
    return row


def run_child(command: list[str], timeout: float) -> subprocess.CompletedProcess:
    """`command` in its own process group with the environment this suite was started with (jax's default GPU
    memory settings, not this process's), killed with its children when `timeout` passes."""
    env = {k: v for k, v in os.environ.items() if k != "XLA_PYTHON_CLIENT_PREALLOCATE"}
    env.update(INHERITED)
    child = subprocess.Popen(command, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                             start_new_session=True)
    try:
        stdout, stderr = child.communicate(timeout=max(timeout, 10))
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        stdout, stderr = child.communicate()
        return subprocess.CompletedProcess(command, -9, stdout, stderr + "\n(killed: out of time)")
    return subprocess.CompletedProcess(command, child.returncode, stdout, stderr)


def step_batched(ctx: Context) -> dict:
    """Samples per second with 1, 2, 4, 8 samples per network call (fused kernels, all recycles); sample 0 of each
    batch against its run alone; the size `auto` picks and the most that fit."""
    from alphafold_msa import settings
    from alphafold_msa.model import kernel_check
    from alphafold_msa.model.features import build_features

    runner = ctx.runner(ctx.fused)
    recycles = ctx.args.num_recycle
    report: dict = {"kernels": runner.kernels, "num_recycle": recycles, "rows": []}
    os.environ.pop(settings.SAMPLES_PER_CALL.name, None)
    for length in ctx.args.batch_lengths:
        sizes = ctx.args.batch_sizes
        raw = build_features(ctx.msa(length, seed=length))
        processed = [runner.process(raw, recycles, seed) for seed in range(max(sizes))]
        row: dict = {"length": length, "auto": ctx.runner("auto").samples_per_call(length, [1]), "sizes": []}
        report["rows"].append(row)
        alone = None
        for size in sizes:
            if ctx.suite.left() < 25 and not ctx.args.cpu:
                row["sizes"].append({"size": size, "skipped": f"{ctx.suite.left():.0f} s left"})
                continue
            try:
                first, warm, outputs = first_and_warm(
                    functools.partial(runner.predict_batch, processed[:size], 1, recycles, list(range(size)), 0.0))
                entry = {"size": size, "first_s": round(first, 2), "warm_s": round(warm, 3),
                         "samples_per_s": round(size / warm, 2), "peak_bytes": peak_bytes()}
                if alone is None:
                    alone = outputs[0][0]
                else:
                    entry["sample_0_against_alone"] = kernel_check.compare(outputs[0][0], alone)
                row["sizes"].append(entry)
            except Exception as error:  # keep measuring the rest
                row["sizes"].append({"size": size, "error": f"{type(error).__name__}: {error}"[:1500]})
                traceback.print_exc()
            ctx.suite.write("batched", report)
    return report


def step_warm_job(ctx: Context) -> dict:
    """Two whole jobs at the first batch length (the second warm), then one model over several seeds."""
    from alphafold_msa.predict import run_prediction

    length, jobs = ctx.args.batch_lengths[0], []
    runner = ctx.runner("auto")
    fields = {"runner": runner, "num_recycle": ctx.args.num_recycle, "recycle_early_stop_tolerance": 0.0,
              "relax": "none"}
    depth = 100 if ctx.args.cpu else 2000
    for index in range(2):
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            result = run_prediction(ctx.msa(length, index, depth), out, models=list(range(1, ctx.args.job_models + 1)),
                                    **fields)
            jobs.append({"wall_s": round(time.perf_counter() - start, 2), "timings": result.timings})
    report = {"length": length, "kernels": runner.kernels, "models": ctx.args.job_models, "jobs": jobs}
    ctx.suite.write("warm_job", report)
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        result = run_prediction(ctx.msa(length, 2, depth), out, models=[1], num_seeds=ctx.args.job_seeds, **fields)
        jobs.append({"seeds": ctx.args.job_seeds, "wall_s": round(time.perf_counter() - start, 2),
                     "timings": result.timings})
    return report


def step_memory_table(ctx: Context) -> dict:
    """memory_model's measurement with this device's fused kernels, and the table a GPU worker would read."""
    import memory_model

    from alphafold_msa.model import kernel_check, memory

    report = memory_model.measure(ctx.config, ["monomer", "multimer"], ctx.args.memory_lengths, "fused",
                                  ctx.suite.left, 5 if ctx.args.cpu else 30)
    ctx.suite.write("gpu_memory", memory_model.table(report, kernel_check.package_versions()))
    cpu = {str(length): memory.working_bytes(length, ctx.config) for length in ctx.args.memory_lengths}
    return {**report, "cpu_table_working_bytes": cpu}


def step_model_speed(ctx: Context) -> dict:
    """Seconds per model by length and kernel path; compile time; peak memory against the estimate."""
    from alphafold_msa.model import memory
    from alphafold_msa.model.features import build_features

    paths = [ctx.fused if name == "fused" else name for name in ctx.args.paths.split(",")]
    rows: list[dict] = []
    speed = {"benchmark": "gpu_model_speed", "config": ctx.config, "depth": ctx.args.depth,
             "num_recycle": ctx.args.num_recycle, "rows": rows, "published_per_model_s": PUBLISHED,
             "memory_note": "peak_bytes is the process's peak so far (lengths run in the order listed)"}
    table = memory.table_for("gpu", ctx.config)
    for length in ctx.args.lengths:
        features = None
        for path in dict.fromkeys(paths):
            runner = ctx.runner(path)
            expected = EXPECTED_S.get(length, 120) * (3 if path == "xla" else 1)
            row: dict = {"length": length, "kernels": path}
            if ctx.suite.left() < expected and not ctx.args.cpu:
                rows.append({**row, "skipped": f"{ctx.suite.left():.0f} s left, about {expected} s needed"})
                continue
            try:
                if features is None:
                    stage = time.perf_counter()
                    features = runner.process(build_features(ctx.msa(length)), ctx.args.num_recycle, 0)
                    speed.setdefault("features_s", {})[length] = round(time.perf_counter() - stage, 2)
                first, warm, (result, _) = first_and_warm(functools.partial(
                    runner.predict, features, 1, ctx.args.num_recycle, 0, recycle_early_stop_tolerance=0.0))
                row.update(first_model_s=round(first, 2), warm_model_s=round(warm, 2),
                           compile_s=round(first - warm, 1), peak_bytes=peak_bytes(),
                           estimate_bytes=memory.estimate_peak_bytes(length, ctx.config, 1, table),
                           mean_plddt=round(float(np.mean(result["plddt"])), 2))
            except Exception as error:  # keep measuring the rest
                row["error"] = f"{type(error).__name__}: {error}"[:1500]
                traceback.print_exc()
            rows.append(row)
            ctx.suite.write("model_speed", speed)
    return speed


def step_multimer(ctx: Context) -> dict:
    """A heterodimer of two generated chains through AlphaFold-Multimer v3: one job, --job-models models (each
    model's weights the first model's, under its name); seconds per model, the job's wall time, peak memory."""
    from alphafold_msa.msa import assemble_complex
    from alphafold_msa.predict import run_prediction
    from alphafold_msa.testing.make_weights import make_weights

    chain = 20 if ctx.args.cpu else 300
    make_weights(ctx.param_dir, ctx.config, seed=0, presets=["multimer"], numbers=[1])
    params = ctx.param_dir / "params"
    for number in range(2, ctx.args.job_models + 1):
        target = params / f"params_model_{number}_multimer_v3.npz"
        if not target.exists():
            target.symlink_to("params_model_1_multimer_v3.npz")
    depth = 200 if ctx.args.cpu else 2000
    msa = assemble_complex([ctx.msa(chain, seed, depth) for seed in (7, 8)])
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        result = run_prediction(msa, out, ctx.param_dir, models=list(range(1, ctx.args.job_models + 1)),
                                num_recycle=ctx.args.num_recycle, recycle_early_stop_tolerance=0.0, relax="none",
                                model_config=ctx.config)
    return {"chains": [chain, chain], "models": ctx.args.job_models, "wall_s": round(time.perf_counter() - start, 1),
            "models_s": result.timings["models"], "peak_bytes": peak_bytes(), "iptm": result.best.iptm,
            "peak_note": "the process's peak so far"}


def step_cold_start(ctx: Context) -> dict:
    """benchmarks/cold_start.py with these weights: fresh processes, empty then warm compilation cache."""
    msa = ctx.suite.out / "cold_start_query.a3m"
    msa.write_text(ctx.msa(ctx.args.batch_lengths[0], seed=5, depth=200 if ctx.args.cpu else 2000).to_a3m())
    completed = run_child([sys.executable, str(HERE / "cold_start.py"), "--params", str(ctx.param_dir),
                           "--config", ctx.config, "--msa", str(msa), "--cases", "empty_cache,warm_cache"],
                          ctx.suite.left())
    if completed.returncode:
        return {"returncode": completed.returncode, "stderr": completed.stderr[-1500:]}
    return json.loads(completed.stdout)


def step_relax(ctx: Context) -> dict:
    """Amber relaxation on this device of a fused-kernel prediction at 300 residues (40 with --cpu)."""
    try:
        import openmm  # noqa: F401
    except ImportError:
        return {"skipped": "OpenMM is not installed"}
    from alphafold_msa.model.features import build_features
    from alphafold_msa.model.relax import relax
    from alphafold_msa.results.structures import to_prediction

    length = 40 if ctx.args.cpu else 300
    runner = ctx.runner(ctx.fused)
    features = runner.process(build_features(ctx.msa(length)), ctx.args.num_recycle, 0)
    result, recycles = runner.predict(features, 1, ctx.args.num_recycle, 0, recycle_early_stop_tolerance=0.0)
    prediction = to_prediction("model_1_ptm", 0, recycles, features, result, 0.0)
    start = time.perf_counter()
    outcome = relax(prediction.structure, timeout_s=max(20.0, ctx.suite.left() - 10))
    return {"length": length, "wall_s": round(time.perf_counter() - start, 1), "info": outcome.info}


STEP_FUNCTIONS: dict[str, Callable[[Context], dict]] = {
    "kernel_check": step_kernel_check, "vs_colabfold": step_vs_colabfold, "batched": step_batched,
    "warm_job": step_warm_job, "memory_table": step_memory_table, "model_speed": step_model_speed,
    "multimer": step_multimer, "cold_start": step_cold_start, "relax": step_relax,
}


def numbers(text: str) -> list[int]:
    return [int(x) for x in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--budget-s", type=float, default=450)
    parser.add_argument("--steps", default=",".join(STEPS), help="steps to run, in this order")
    parser.add_argument("--config", choices=("full", "reduced"))
    parser.add_argument("--depth", type=int)
    parser.add_argument("--num-recycle", type=int, default=3)
    parser.add_argument("--cpu", action="store_true", help="reduced network, small lengths: prove the script")
    parser.add_argument("--peer-python", help="the interpreter that runs ColabFold (default: this one)")
    parser.add_argument("--peer-site", type=Path, help="a folder of ColabFold's packages")
    parser.add_argument("--peer-lengths", help="vs_colabfold's lengths (default 100,300,1000)")
    parser.add_argument("--peer-budget-s", type=float, default=200)
    parser.add_argument("--batch-lengths", type=numbers)
    parser.add_argument("--batch-sizes", type=numbers)
    parser.add_argument("--job-models", type=int, default=5, choices=range(1, 6))
    parser.add_argument("--job-seeds", type=int, default=8)
    parser.add_argument("--memory-lengths", type=numbers)
    parser.add_argument("--lengths", type=numbers, help="model_speed's lengths (default 100,300,1000)")
    parser.add_argument("--paths", default="fused", help="model_speed's kernel paths, in order (fused,xla)")
    args = parser.parse_args()
    cpu = args.cpu
    config = args.config or ("reduced" if cpu else "full")
    args.depth = args.depth or (200 if cpu else 6000)
    args.peer_lengths = args.peer_lengths or ("24" if cpu else "100,300,1000")
    args.batch_lengths = args.batch_lengths or ([24, 40] if cpu else [100, 300])
    args.batch_sizes = args.batch_sizes or ([1, 2, 4] if cpu else [1, 2, 4, 8])
    args.memory_lengths = args.memory_lengths or ([64, 128] if cpu else [256, 1024, 2048])
    args.lengths = args.lengths or ([24, 40] if cpu else [100, 300, 1000])
    steps = args.steps.split(",")
    unknown = sorted(set(steps) - set(STEPS))
    if unknown:
        sys.exit(f"gpu_suite: unknown steps {', '.join(unknown)}; expected some of {', '.join(STEPS)}")
    suite = Suite(args.out, args.budget_s)
    # This process grows its GPU memory as it needs it, leaving the card to the steps' own processes (ColabFold,
    # cold starts), which start with jax's defaults.
    INHERITED.update({k: os.environ[k] for k in ("XLA_PYTHON_CLIENT_PREALLOCATE",) if k in os.environ})
    os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"

    import jax

    device = jax.devices()[0]
    if not cpu and device.platform != "gpu":
        sys.exit(f"gpu_suite: no GPU visible to jax (devices: {jax.devices()}); use --cpu to prove the script")
    start = time.perf_counter()
    param_dir = weights(Path(tempfile.mkdtemp(prefix="bench-weights-")), config)
    ctx = Context(args, suite, param_dir, config)
    ctx.env = {**environment(device.device_kind), "config": config, "num_recycle": args.num_recycle,
               "depth": args.depth, "steps": steps, "weights_generated_s": round(time.perf_counter() - start, 1)}
    suite.write("env", ctx.env)
    status = 0
    for name in steps:
        if suite.left() < STEP_S[name] and not cpu:
            suite.write(name, {"skipped": f"{suite.left():.0f} s left, about {STEP_S[name]} s needed"})
            continue
        start = time.perf_counter()
        try:
            data = STEP_FUNCTIONS[name](ctx)
        except Exception as error:  # keep measuring the rest
            traceback.print_exc()
            data, status = {"error": f"{type(error).__name__}: {error}"[:1500]}, 1
        suite.write(name, {**data, "step_s": round(time.perf_counter() - start, 1)})
    sys.exit(status)


if __name__ == "__main__":
    main()
