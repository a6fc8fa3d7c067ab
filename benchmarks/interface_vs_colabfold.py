"""Interface scores side by side with ColabFold 1.6.3's (`colabfold/alphafold/ipsae.py`): the same structure and
PAE through results/interface.py here and through ColabFold's `get_interface_scores` in its own virtualenv.

    python benchmarks/interface_vs_colabfold.py [--seeds 10] [--venv DIR]

The structure is the deposited two-chain entry of the test data (shared/testdata/structures/2rbg.pdb), read into
AlphaFold's atom37 arrays; each seed draws pLDDTs and a PAE from the Cβ distances (CASES: residues with many
confident partners, and with few). Both implementations get a PAE cutoff of 10 Å. Prints one JSON object: per
score, the largest difference over seeds and ordered chain pairs, and for ipSAE how many of them differ by more
than 1e-3. ColabFold pins other versions of biopython and pandas than this project, so it cannot be imported
beside it: it runs in the peer virtualenv that benchmarks/vs_colabfold.py installs
(`pip install 'colabfold[alphafold]'`).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from vs_colabfold import CACHE, ensure_colabfold

from alphafold_msa.results.interface import PAE_CUTOFF, interface_scores

STRUCTURE = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "structures" / "2rbg.pdb"

# PAE drawn as the Cβ distance x scale plus noise (Å): many confident partners per residue, more, and few (under
# 27 within the cutoff, where ipSAE's d0 floor counts).
CASES = (("pae_from_distance", 1 / 3, 3.0), ("sharp_pae", 1 / 10, 1.0), ("sparse_pae", 1.0, 1.0))

THEIRS = """
import json, sys
import numpy as np
from colabfold.alphafold.ipsae import get_interface_scores
arrays = np.load(sys.argv[1])
cutoff = float(sys.argv[2])
out = []
for index in range(arrays["pae"].shape[0]):
    out.append(get_interface_scores(arrays["pae"][index], arrays["plddt"][index], arrays["asym_id"],
                                    arrays["atom_positions"], arrays["atom_mask"], pae_cutoff=cutoff))
print(json.dumps(out))
"""


def two_chains() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The entry's first two chains' residues with a Cα (not its waters): atom37 positions and mask, chain index."""
    from alphafold.common import protein, residue_constants

    text = STRUCTURE.read_text()
    chains = sorted({line[21] for line in text.splitlines() if line.startswith("ATOM")})[:2]
    parts = [protein.from_pdb_string(text, chain_id=chain) for chain in chains]
    positions = np.concatenate([p.atom_positions for p in parts])
    mask = np.concatenate([p.atom_mask for p in parts])
    chain_index = np.concatenate([np.full(len(p.aatype), index) for index, p in enumerate(parts)])
    placed = mask[:, residue_constants.atom_order["CA"]] > 0.5
    return positions[placed], mask[placed], chain_index[placed]


def cb_of(positions: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Cβ, Cα where a residue has none (glycine), as both implementations read them."""
    from alphafold.common import residue_constants

    ca, cb = residue_constants.atom_order["CA"], residue_constants.atom_order["CB"]
    return np.where(mask[:, cb, None] > 0.5, positions[:, cb], positions[:, ca])


def draw(cb: np.ndarray, seeds: int, scale: float, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """PAE (the Cβ distance x `scale`, plus normal noise of `noise` Å) and pLDDT for each seed."""
    distance = np.linalg.norm(cb[:, None] - cb[None], axis=-1)
    paes, plddts = [], []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        n = len(cb)
        paes.append(np.clip(distance * scale + rng.normal(0, noise, (n, n)), 0.5, 31.0).round(2))
        plddts.append(rng.uniform(40, 95, n).round(2))
    return np.array(paes), np.array(plddts)


def compare(ours: list[dict], theirs: list[dict]) -> dict:
    """The largest difference per score, and how many ordered pairs' ipSAE differ by more than 1e-3."""
    worst = {"ipsae": 0.0, "pdockq": 0.0, "pdockq2": 0.0}
    ipsae_over = 0
    for mine, reference in zip(ours, theirs):
        for key, pair in mine["pairs"].items():
            difference = abs(pair["ipsae_asym"] - reference["ipsae"][key])
            worst["ipsae"] = max(worst["ipsae"], difference)
            ipsae_over += difference > 1e-3
            worst["pdockq2"] = max(worst["pdockq2"], abs(pair["pdockq2"] - reference["pdockq2"][key]))
            if key in reference["pdockq"]:  # ColabFold gives pDockQ once per unordered pair
                worst["pdockq"] = max(worst["pdockq"], abs(pair["pdockq"] - reference["pdockq"][key]))
    return {"max_abs_difference": {k: round(v, 6) for k, v in worst.items()},
            "ipsae_pairs_over_1e-3": ipsae_over, "pairs": sum(len(m["pairs"]) for m in ours)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--venv", type=Path, default=CACHE / "colabfold-venv")
    args = parser.parse_args()
    ensure_colabfold(args.venv)
    version = subprocess.run([str(args.venv / "bin" / "python"), "-c",
                              "import importlib.metadata as m; print(m.version('colabfold'))"],
                             check=True, capture_output=True, text=True).stdout.strip()
    positions, mask, chain_index = two_chains()
    cb = cb_of(positions, mask)
    report: dict = {"benchmark": "interface_vs_colabfold", "colabfold": version, "pae_cutoff": PAE_CUTOFF,
                    "residues": len(cb), "seeds": args.seeds}
    for case, scale, noise in CASES:
        pae, plddt = draw(cb, args.seeds, scale, noise)
        ours = [interface_scores(p, c, cb, chain_index, ["A", "B"]) for p, c in zip(pae, plddt)]
        with tempfile.TemporaryDirectory() as tmp:
            arrays = Path(tmp) / "arrays.npz"
            np.savez(arrays, pae=pae, plddt=plddt, asym_id=chain_index, atom_positions=positions, atom_mask=mask)
            output = subprocess.run([str(args.venv / "bin" / "python"), "-c", THEIRS, str(arrays), str(PAE_CUTOFF)],
                                    check=True, capture_output=True, text=True).stdout
        report[case] = compare(ours, json.loads(output.strip().splitlines()[-1]))
        print(json.dumps({case: report[case]}), file=sys.stderr)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
