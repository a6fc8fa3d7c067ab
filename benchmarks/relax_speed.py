"""Amber relaxation time by length: structures of ideal geometry with clashes added, relaxed as
predictions are (alphafold.relax, OpenMM; CUDA platform when present, else CPU).

    python benchmarks/relax_speed.py [--lengths 50,100,200,400] [--noise 0.4]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import platform

import numpy as np

AMINO_ACIDS = np.array(list("ACDEFGHIKLMNPQRSTVWY"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default="50,100,200,400")
    parser.add_argument("--noise", type=float, default=0.4, help="Angstrom of Gaussian noise added to every atom")
    args = parser.parse_args()

    from alphafold_msa.model.relax import openmm_platform, relax
    from alphafold_msa.testing.structures import ideal_structure, perturbed

    rng = np.random.default_rng(0)
    rows = []
    for length in (int(x) for x in args.lengths.split(",")):
        sequence = "".join(rng.choice(AMINO_ACIDS, length))
        outcome = relax(perturbed(ideal_structure([sequence]), noise=args.noise, seed=length))
        rows.append({"length": length, **outcome.info})
    print(json.dumps({"benchmark": "relax_speed", "platform": openmm_platform(),
                      "machine": platform.processor() or platform.machine(), "noise_angstrom": args.noise,
                      "lengths": rows}, indent=2))


if __name__ == "__main__":
    main()
