"""The GPU benchmark, most important measurement first, each written to OUT as soon as it exists.

    python benchmarks/gpu_suite.py --out DIR [--budget-s 330] [--config full|reduced]
                                   [--lengths 100,300,1000,500] [--depth 6000] [--job-models 1] [--job-seeds 4] [--cpu]

Files: env.json (card, driver, versions), kernel_check.json (the self-check's verdict, time and
differences), model_speed.json (per length and kernel path: compile + first model, warm model,
peak device memory next to memory.py's estimate), warm_job.json (two whole jobs with --job-models models
at the first length through run_prediction: where the time outside the network goes; then one of model 1 over
--job-seeds seeds: how much of the features' processing the network's runs hide), multimer.json (a 2 x 300
heterodimer through AlphaFold-Multimer v3, --job-models models: seconds per model, peak memory) and relax.json
(Amber on the GPU at 300 residues, when OpenMM is installed). Full-size random weights are generated on the
spot (as many models as --job-models). A measurement that would not fit in the remaining budget is skipped and says so.
`--cpu` runs the same steps with the reduced network and small lengths to prove the script.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from model_speed import PUBLISHED, generated_msa  # noqa: E402

# Rough seconds a (length, path) measurement takes on an H100 (compile + 2 models), to skip what cannot finish.
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


def time_model(runner, processed, num_recycle: int) -> tuple[float, dict]:
    start = time.perf_counter()
    result, _ = runner.predict(processed, 1, num_recycle, 0, recycle_early_stop_tolerance=0.0)
    np.asarray(result["plddt"])  # wait for the device
    return time.perf_counter() - start, result


def multimer_job(param_dir: Path, config: str, chain_length: int, args: argparse.Namespace) -> dict:
    """A heterodimer of two generated chains through AlphaFold-Multimer v3: one job, --job-models models (each
    model's weights the first model's, under its name: timing does not depend on the values); seconds per model,
    the job's wall time, peak device memory."""
    from alphafold_msa.msa import assemble_complex
    from alphafold_msa.predict import run_prediction
    from alphafold_msa.testing.make_weights import make_weights

    row: dict = {"chains": [chain_length, chain_length], "models": args.job_models}
    try:
        make_weights(param_dir, config, seed=0, presets=["multimer"], numbers=[1])
        params = param_dir / "params"
        for number in range(2, args.job_models + 1):
            target = params / f"params_model_{number}_multimer_v3.npz"
            if not target.exists():
                target.symlink_to("params_model_1_multimer_v3.npz")
        msa = assemble_complex([generated_msa(chain_length, 200 if args.cpu else 2000, seed=seed) for seed in (7, 8)])
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            result = run_prediction(msa, out, param_dir, models=list(range(1, args.job_models + 1)),
                                    num_recycle=args.num_recycle, recycle_early_stop_tolerance=0.0, relax="none",
                                    model_config=config)
        row.update(wall_s=round(time.perf_counter() - start, 1), models_s=result.timings["models"],
                   peak_bytes=peak_bytes(), peak_note="the process's peak so far", iptm=result.best.iptm)
    except Exception as error:  # keep measuring the rest
        row["error"] = f"{type(error).__name__}: {error}"[:1500]
        traceback.print_exc()
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--budget-s", type=float, default=330)
    parser.add_argument("--config", choices=("full", "reduced"))
    parser.add_argument("--lengths")
    parser.add_argument("--depth", type=int)
    parser.add_argument("--num-recycle", type=int, default=3)
    parser.add_argument("--paths", default="fused,xla", help="kernel paths to time, in order (fused: the GPU's)")
    parser.add_argument("--no-check", action="store_true", help="skip the self-check (already measured)")
    parser.add_argument("--cpu", action="store_true", help="reduced network, small lengths: prove the script")
    parser.add_argument("--job-models", type=int, default=1, choices=range(1, 6),
                        help="models per whole job (step 3): 5 shows the per-job time outside the network")
    parser.add_argument("--job-seeds", type=int, default=4,
                        help="seeds of model 1 in step 3's last job: the features of one overlap the next's network")
    args = parser.parse_args()
    config = args.config or ("reduced" if args.cpu else "full")
    lengths = [int(x) for x in (args.lengths or ("24,40" if args.cpu else "100,300,1000,500")).split(",")]
    depth = args.depth or (200 if args.cpu else 6000)
    relax_length = 40 if args.cpu else 300
    suite = Suite(args.out, args.budget_s)

    import jax

    from alphafold_msa.model import kernels, memory
    from alphafold_msa.model.features import build_features
    from alphafold_msa.model.runner import ModelRunner
    from alphafold_msa.testing.make_weights import make_weights

    device = jax.devices()[0]
    if not args.cpu and device.platform != "gpu":
        sys.exit(f"gpu_suite: no GPU visible to jax (devices: {jax.devices()}); use --cpu to prove the script")
    env = environment(device.device_kind)
    env.update(config=config, num_recycle=args.num_recycle, depth=depth, lengths=lengths)
    suite.write("env", env)

    start = time.perf_counter()
    param_dir = Path(tempfile.mkdtemp(prefix="bench-weights-"))
    make_weights(param_dir, config, seed=0, presets=["monomer_ptm"], numbers=list(range(1, args.job_models + 1)))
    env["weights_generated_s"] = round(time.perf_counter() - start, 1)
    suite.write("env", env)

    # 1. The self-check: its verdict decides what users get; its distances show bfloat16's noise.
    if not args.no_check:
        auto = ModelRunner(param_dir, config, "monomer_ptm", kernels="auto")
        start = time.perf_counter()
        record = auto.kernel_record
        if "check" not in record and not args.cpu:
            record["note"] = "no check ran"
        if args.cpu:  # no fused kernels on a CPU: run the check's XLA-against-XLA form to prove the code path
            from alphafold_msa.model import kernel_check

            record["cpu_proof"] = kernel_check.run_and_judge("xla", auto.self_check)
        suite.write("kernel_check", {"record": record, "wall_s": round(time.perf_counter() - start, 1)})
    fused = kernels.fused_path_for(kernels.current_device()) or "xla"

    # 2. Seconds per model by length, fused against XLA; compile time; peak memory against the estimate.
    paths = [fused if name == "fused" else name for name in args.paths.split(",")]
    runners = {path: ModelRunner(param_dir, config, "monomer_ptm", kernels=path) for path in dict.fromkeys(paths)}
    rows: list[dict] = []
    speed = {"benchmark": "gpu_model_speed", "device": env["device"], "config": config, "depth": depth,
             "num_recycle": args.num_recycle, "rows": rows, "published_per_model_s": PUBLISHED,
             "memory_note": "peak_bytes is the process's peak so far (lengths run in the order listed)"}
    structure_300 = None
    for length in lengths:
        features = None
        for path, runner in runners.items():
            expected = EXPECTED_S.get(length, 120) * (3 if path == "xla" else 1)
            row = {"length": length, "kernels": path}
            if suite.left() < expected and not args.cpu:
                rows.append({**row, "skipped": f"{suite.left():.0f} s left, about {expected} s needed"})
                suite.write("model_speed", speed)
                continue
            try:
                if features is None:
                    stage = time.perf_counter()
                    raw = build_features(generated_msa(length, depth))
                    features = runner.process(raw, args.num_recycle, 0)
                    speed.setdefault("features_s", {})[length] = round(time.perf_counter() - stage, 2)
                first, _ = time_model(runner, features, args.num_recycle)
                warm, result = time_model(runner, features, args.num_recycle)
                row.update(first_model_s=round(first, 2), warm_model_s=round(warm, 2),
                           compile_s=round(first - warm, 1), peak_bytes=peak_bytes(),
                           estimate_bytes=memory.estimate_peak_bytes(length, config, 1),
                           mean_plddt=round(float(np.mean(result["plddt"])), 2))
                if length == relax_length and path == fused:
                    structure_300 = (features, result)
            except Exception as error:  # keep measuring the rest
                row["error"] = f"{type(error).__name__}: {error}"[:1500]
                traceback.print_exc()
            rows.append(row)
            suite.write("model_speed", speed)

    # 3. Whole jobs through run_prediction: the second is warm; where the time outside the network goes.
    if suite.left() > (60 if not args.cpu else -1):
        from alphafold_msa.predict import run_prediction

        jobs = []
        for index in range(2):
            with tempfile.TemporaryDirectory() as out:
                start = time.perf_counter()
                result = run_prediction(generated_msa(lengths[0], 2000 if not args.cpu else 100, seed=index),
                                        out, runner=next(iter(runners.values())),
                                        models=list(range(1, args.job_models + 1)), num_recycle=args.num_recycle,
                                        recycle_early_stop_tolerance=0.0, relax="none")
                jobs.append({"wall_s": round(time.perf_counter() - start, 2), "timings": result.timings})
        suite.write("warm_job", {"length": lengths[0], "kernels": paths[0], "models": args.job_models, "jobs": jobs})
        # One model over several seeds: the next seed's features are processed while this seed's model runs
        # (features_wait_s against process_features_s).
        if suite.left() > (30 if not args.cpu else -1):
            try:
                with tempfile.TemporaryDirectory() as out:
                    start = time.perf_counter()
                    result = run_prediction(generated_msa(lengths[0], 2000 if not args.cpu else 100, seed=2), out,
                                            runner=next(iter(runners.values())), models=[1],
                                            num_seeds=args.job_seeds, num_recycle=args.num_recycle,
                                            recycle_early_stop_tolerance=0.0, relax="none")
                    jobs.append({"seeds": args.job_seeds, "wall_s": round(time.perf_counter() - start, 2),
                                 "timings": result.timings})
            except Exception as error:  # keep what was measured
                jobs.append({"seeds": args.job_seeds, "error": f"{type(error).__name__}: {error}"[:1500]})
            suite.write("warm_job", {"length": lengths[0], "kernels": paths[0], "models": args.job_models,
                                     "jobs": jobs})

    # 4. AlphaFold-Multimer on a two-chain complex (2 x 300 residues; 2 x 20 with --cpu), --job-models models.
    if suite.left() > (120 if not args.cpu else -1):
        suite.write("multimer", multimer_job(param_dir, config, 20 if args.cpu else 300, args))

    # 5. Amber relaxation on the GPU at 300 residues (40 with --cpu).
    try:
        import openmm  # noqa: F401
    except ImportError:
        suite.write("relax", {"skipped": "OpenMM is not installed"})
        return
    if structure_300 is None or suite.left() < 30:
        suite.write("relax", {"skipped": f"no {relax_length}-residue structure, or no time left"})
        return
    from alphafold_msa.model.relax import relax
    from alphafold_msa.results.structures import to_prediction

    prediction = to_prediction("model_1_ptm", 0, args.num_recycle, structure_300[0], structure_300[1], 0.0)
    start = time.perf_counter()
    outcome = relax(prediction.structure, timeout_s=max(20.0, suite.left() - 10))
    suite.write("relax", {"length": relax_length, "wall_s": round(time.perf_counter() - start, 1),
                          "info": outcome.info})


if __name__ == "__main__":
    main()
