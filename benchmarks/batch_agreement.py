"""Samples run together in one network call against each run alone, in bfloat16 and in float32: how far a batch
moves a sample (the same sums in another order) next to how far bfloat16 itself is from float32.

    python benchmarks/batch_agreement.py [--length 40] [--sizes 2,4] [--num-recycle 0]

The reduced network with generated weights, a generated alignment (model_speed.generated_msa, 200 rows), plain
XLA on this machine's device, seeds 0.. as the samples. Distances are kernel_check.compare's (pLDDT mean and
largest absolute difference, Cα RMSD without superposition), averaged over a batch's samples. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from model_speed import generated_msa  # noqa: E402


def mean_distance(pairs) -> dict[str, float]:
    """kernel_check.compare's distances of each (output, reference) pair, averaged (largest: the largest)."""
    from alphafold_msa.model.kernel_check import compare

    distances = [compare(output, reference) for output, reference in pairs]
    return {"plddt_mean_abs": round(float(np.mean([d["plddt_mean_abs"] for d in distances])), 4),
            "plddt_max_abs": round(max(d["plddt_max_abs"] for d in distances), 4),
            "ca_rmsd": round(float(np.mean([d["ca_rmsd"] for d in distances])), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=40)
    parser.add_argument("--sizes", default="2,4")
    parser.add_argument("--num-recycle", type=int, default=0)
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    from alphafold_msa.model.features import build_features
    from alphafold_msa.model.runner import ModelRunner
    from alphafold_msa.testing.make_weights import make_weights

    with tempfile.TemporaryDirectory() as folder:
        make_weights(Path(folder), "reduced", seed=0, presets=["monomer_ptm"], numbers=[1])
        raw = build_features(generated_msa(args.length, 200, seed=args.length))
        seeds = list(range(max(sizes)))
        report: dict = {"benchmark": "batch_agreement", "machine": platform.processor() or platform.machine(),
                        "length": args.length, "num_recycle": args.num_recycle, "samples": len(seeds)}
        alone = {}
        for precision, bfloat16 in (("bfloat16", True), ("float32", False)):
            runner = ModelRunner(folder, "reduced", bfloat16=bfloat16, kernels="xla")
            processed = [runner.process(raw, args.num_recycle, seed) for seed in seeds]
            alone[precision] = [runner.predict(features, 1, args.num_recycle, seed, 0.0)[0]
                                for features, seed in zip(processed, seeds)]
            report[precision] = {
                f"batch_of_{size}_against_alone": mean_distance(zip(
                    [result for result, _ in runner.predict_batch(processed[:size], 1, args.num_recycle,
                                                                   seeds[:size], 0.0)], alone[precision]))
                for size in sizes}
        report["bfloat16_alone_against_float32_alone"] = mean_distance(zip(alone["bfloat16"], alone["float32"]))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
