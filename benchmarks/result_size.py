"""Results archive size by query length: measured (packed output folder) against the estimate the
worker uses to decide, before computing, whether a job's files need the bucket.

    python benchmarks/result_size.py [--lengths 50,100,200,400] [--models 5] [--formats pdb,cif]

Runs the reduced network with generated weights (the files' sizes do not depend on the network's
depth; random weights give noisier PAE values, which compress worse than real ones). Prints JSON.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default="50,100,200,400")
    parser.add_argument("--models", type=int, default=5)
    parser.add_argument("--formats", default="pdb")
    args = parser.parse_args()

    from alphafold_msa.model.runner import RunnerCache
    from alphafold_msa.msa import parse_msa
    from alphafold_msa.predict import run_prediction
    from alphafold_msa.protocol.archive import pack
    from alphafold_msa.protocol.schema import INLINE_ARCHIVE_BYTES, estimate_archive_bytes
    from alphafold_msa.testing.demo import demo_param_dir

    models = list(range(1, args.models + 1))
    formats = args.formats.split(",")
    param_dir = demo_param_dir("reduced", "monomer_ptm", models)
    rng = random.Random(0)
    rows = []
    runners = RunnerCache()
    for length in (int(n) for n in args.lengths.split(",")):
        query = "".join(rng.choice("ACDEFGHIKLMNPQRSTVWY") for _ in range(length))
        relatives = ["".join(c if rng.random() < 0.7 else rng.choice("ACDEFGHIKLMNPQRSTVWY-") for c in query)
                     for _ in range(30)]
        msa = parse_msa("".join(f">s{i}\n{s}\n" for i, s in enumerate([query, *relatives])))
        with tempfile.TemporaryDirectory() as out:
            started = time.perf_counter()
            run_prediction(msa, out, param_dir, model_config="reduced", models=models, num_recycle=0,
                           formats=formats, relax="none", runners=runners)
            predict_s = time.perf_counter() - started
            started = time.perf_counter()
            archive = pack(Path(out))
            pack_s = time.perf_counter() - started
            raw = sum(p.stat().st_size for p in Path(out).iterdir())
        encoded = len(base64.b64encode(archive))
        estimate = estimate_archive_bytes(length, len(models), len(formats), 0)
        rows.append({"length": length, "files_bytes": raw, "archive_bytes": len(archive), "encoded_bytes": encoded,
                     "estimate_bytes": estimate, "estimate_over_measured": round(estimate / encoded, 2),
                     "inline": encoded <= INLINE_ARCHIVE_BYTES, "pack_s": round(pack_s, 2),
                     "predict_and_write_s": round(predict_s, 1)})
    print(json.dumps({"benchmark": "result_size", "models": len(models), "formats": formats,
                      "inline_limit_bytes": INLINE_ARCHIVE_BYTES, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
