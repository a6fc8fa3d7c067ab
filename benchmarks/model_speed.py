"""Seconds per model by sequence length on this machine's jax device, next to published figures.

    python benchmarks/model_speed.py [--config full|reduced] [--lengths 100,300,500,1000]
                                     [--models 1,2,3,4,5] [--num-recycle 3] [--depth 6000]

Each length gets a generated alignment deep enough to fill AlphaFold's MSA crops (512 clusters,
5,120 extra rows), as the published timings assume; the first model includes compilation, the
others reuse it. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

# Seconds per model (3 recycles) from AlphaFold's documentation (A100) and NVIDIA's OpenFold2 (H100).
PUBLISHED = {"alphafold_a100": {100: 4.9, 300: 13.0, 500: 29.0},
             "openfold2_h100": {98: 4.3, 562: 19.4}}
AMINO_ACIDS = np.array(list("ACDEFGHIKLMNPQRSTVWY"))


def generated_msa(length: int, depth: int, seed: int = 0):
    """A random query and `depth` homologs with 30% substitutions and 5% gaps."""
    from alphafold_msa.msa import from_sequences

    rng = np.random.default_rng(seed)
    query = rng.choice(AMINO_ACIDS, length)
    rows = np.repeat(query[None], depth, axis=0)
    mutate = rng.random(rows.shape) < 0.30
    rows[mutate] = rng.choice(AMINO_ACIDS, int(mutate.sum()))
    rows[rng.random(rows.shape) < 0.05] = "-"
    rows[0] = query
    return from_sequences(["".join(row) for row in rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="full", choices=("full", "reduced"))
    parser.add_argument("--lengths", default="100,300,500,1000")
    parser.add_argument("--models", default="1,2,3,4,5")
    parser.add_argument("--num-recycle", type=int, default=3)
    parser.add_argument("--depth", type=int, default=6000)
    parser.add_argument("--param-dir", type=Path, help="weights to use (default: generated random ones)")
    args = parser.parse_args()

    import jax

    from alphafold_msa.model.runner import ModelRunner
    from alphafold_msa.predict import run_prediction
    from alphafold_msa.testing.demo import demo_param_dir

    models = [int(n) for n in args.models.split(",")]
    param_dir = args.param_dir or demo_param_dir(args.config, "monomer_ptm", models)
    runner = ModelRunner(param_dir, args.config, "monomer_ptm")
    rows = []
    with tempfile.TemporaryDirectory() as out:
        for length in (int(x) for x in args.lengths.split(",")):
            msa = generated_msa(length, args.depth)
            start = time.perf_counter()
            result = run_prediction(msa, Path(out) / str(length), runner=runner, models=models,
                                    num_recycle=args.num_recycle, recycle_early_stop_tolerance=0.0, relax="none")
            seconds = list(result.timings["models"].values())
            warm = seconds[1:] or seconds
            rows.append({"length": length, "job_s": round(time.perf_counter() - start, 1),
                         "first_model_s": round(seconds[0], 2), "per_model_warm_s": round(float(np.mean(warm)), 2),
                         "compile_s_estimate": round(seconds[0] - float(np.mean(warm)), 1)})
    device = jax.devices()[0]
    print(json.dumps({"benchmark": "model_speed", "config": args.config, "device": device.device_kind,
                      "platform": device.platform, "machine": platform.processor() or platform.machine(),
                      "num_recycle": args.num_recycle, "models": models, "depth": args.depth,
                      "lengths": rows, "published_per_model_s": PUBLISHED}, indent=2))


if __name__ == "__main__":
    main()
