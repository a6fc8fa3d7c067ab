"""How far the fused kernels' outputs are from plain XLA's, next to bfloat16's own noise: calibrates the self-check.

    python benchmarks/kernel_agreement.py [--config full] [--recycles 0,1] [--param-dir DIR]

Runs the self-check's fixed input (alphafold_msa.model.kernel_check) through plain XLA in float32, plain
XLA in bfloat16 and the fused path (bfloat16), with the given weights (default: generated random
ones), and prints one JSON object: for each pair and recycle count, the self-check's measures
(pLDDT, PAE, Cα RMSD) and the relative difference of the pair and single representations. The
XLA-bfloat16 against XLA-float32 row is the noise any bfloat16 path has; the fused path should stay
near it. On a CPU only the two XLA rows run.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def relative(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return round(float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-12)), 5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="full", choices=("full", "reduced"))
    parser.add_argument("--recycles", default="0,1")
    parser.add_argument("--param-dir", type=Path)
    args = parser.parse_args()

    from alphafold_msa.model import kernel_check, kernels
    from alphafold_msa.model.runner import ModelRunner, check_features, unpad_result
    from alphafold_msa.testing.demo import demo_param_dir

    param_dir = args.param_dir or demo_param_dir(args.config, "monomer_ptm", [1])
    bf16 = ModelRunner(param_dir, args.config, kernels="xla")
    f32 = ModelRunner(param_dir, args.config, bfloat16=False, kernels="xla")
    fused = kernels.fused_path_for(kernels.current_device())
    variants = {"xla_f32": (f32, "xla"), "xla_bf16": (bf16, "xla")}
    if fused:
        variants[f"{fused}_bf16"] = (bf16, fused)
    rows = []
    for recycles in (int(x) for x in args.recycles.split(",")):
        processed = bf16.process(check_features(False), recycles, random_seed=0)
        outputs = {}
        for label, (runner, path) in variants.items():
            network = runner.network(path)
            network.params = runner.params(1)
            network.config.model.num_recycle = recycles
            network.config.model.recycle_early_stop_tolerance = 0.0
            start = time.perf_counter()
            result, _ = network.predict(processed, random_seed=0, return_representations=True)
            out = unpad_result(result, kernel_check.CHECK_LENGTH)
            out["representations"] = result["representations"]
            out["seconds"] = round(time.perf_counter() - start, 2)
            out["max_abs_coordinate"] = round(float(np.abs(out["structure_module"]["final_atom_positions"]).max()), 1)
            outputs[label] = out
        names = list(outputs)
        for other in names[1:]:
            for reference in names[:names.index(other)]:
                a, b = outputs[other], outputs[reference]
                rows.append({"recycles": recycles, "compare": f"{other} vs {reference}",
                             **kernel_check.compare(a, b),
                             "pair_rel": relative(a["representations"]["pair"], b["representations"]["pair"]),
                             "single_rel": relative(a["representations"]["single"], b["representations"]["single"])})
        rows.append({"recycles": recycles,
                     "max_abs_coordinate": {k: v["max_abs_coordinate"] for k, v in outputs.items()},
                     "seconds": {k: v["seconds"] for k, v in outputs.items()}})
    device = kernels.current_device()
    print(json.dumps({"benchmark": "kernel_agreement", "device": device.name, "config": args.config,
                      "weights": str(param_dir), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
