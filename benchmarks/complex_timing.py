"""Time a heterodimer: the 3G5O A/B chains with their paired alignment, through run_prediction.

    python benchmarks/complex_timing.py [--config reduced|full] [--mode multimer|ptm] [--models 1] [--num-recycle 3]

Two jobs in one process: the first includes compilation, the second reuses it. Weights are
generated random ones (timing does not depend on their values). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "testdata" / "colabfold"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="reduced", choices=("full", "reduced"))
    parser.add_argument("--mode", default="multimer", choices=("multimer", "ptm"))
    parser.add_argument("--models", default="1")
    parser.add_argument("--num-recycle", type=int, default=3)
    args = parser.parse_args()

    import jax

    from alphafold_msa.model.runner import RunnerCache
    from alphafold_msa.msa import assemble_complex, read_msa
    from alphafold_msa.predict import run_prediction
    from alphafold_msa.testing.demo import demo_param_dir

    models = [int(n) for n in args.models.split(",")]
    preset = "multimer" if args.mode == "multimer" else "monomer_ptm"
    param_dir = demo_param_dir(args.config, preset, models)
    chains = [read_msa(DATA / "3G5O_A.a3m"), read_msa(DATA / "3G5O_B.a3m")]
    paired = [read_msa(DATA / "3G5O_A.paired.a3m"), read_msa(DATA / "3G5O_B.paired.a3m")]
    complex_msa = assemble_complex(chains, paired=paired)
    jobs, runners = [], RunnerCache()
    with tempfile.TemporaryDirectory() as out:
        for index in range(2):
            start = time.perf_counter()
            result = run_prediction(complex_msa, Path(out) / str(index), param_dir, model_config=args.config,
                                    complex_mode=args.mode, models=models, num_recycle=args.num_recycle,
                                    relax="none", runners=runners)
            jobs.append({"job_s": round(time.perf_counter() - start, 1), "models_s": result.timings["models"],
                         "recycles": [m.recycles for m in result.models],
                         "compilations": result.timings["counters"]["this_job"].get("compilations", 0)})
    print(json.dumps({"benchmark": "complex_timing", "config": args.config, "mode": args.mode,
                      "device": str(jax.devices()[0]), "machine": platform.processor() or platform.machine(),
                      "chains": complex_msa.chain_lengths, "paired_rows": complex_msa.paired_rows,
                      "num_recycle": args.num_recycle, "jobs": jobs}, indent=2))


if __name__ == "__main__":
    main()
