"""report.html's size for a prediction of about 500 residues: five ranked models in a result folder, written with
the page writer (results/html_report.py), against the 3 MB target.

    python benchmarks/report_size.py [--models 5] [--copies 2]

The folder is made from a deposited structure (shared/testdata/structures/2rbg.pdb, its two chains of 124
residues with every atom, repeated --copies times side by side: 496 residues), each model's PAE drawn from the Cβ
distances with noise (smooth as a real one, which matters to its compression) and pLDDT from 40 to 95. Prints
one JSON object: residues, models (and how many the page holds: html_report.PAE_BUDGET_BYTES), the page's bytes,
its parts (viewer, script, data) and whether it is under 3 MB.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from alphafold_msa.results import html_report

STRUCTURE = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "structures" / "2rbg.pdb"
TARGET_BYTES = 3_000_000


def atoms(copies: int) -> tuple[list[str], np.ndarray]:
    """The structure's protein atoms repeated `copies` times (each copy shifted 60 Å, residues renumbered per
    chain), as PDB lines; each residue's Cβ (Cα for glycine)."""
    lines = [line for line in STRUCTURE.read_text().splitlines() if line.startswith("ATOM")]
    out, cb = [], []
    for copy in range(copies):
        for line in lines:
            x = float(line[30:38]) + 60.0 * copy
            chain = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[2 * copy + "AB".index(line[21])]
            out.append(f"{line[:21]}{chain}{line[22:30]}{x:8.3f}{line[38:]}")
            if line[12:16] == " CB " or (line[12:16] == " CA " and line[17:20] == "GLY"):
                cb.append([x, float(line[38:46]), float(line[46:54])])
    return out, np.array(cb)


def folder_of(path: Path, models: int, copies: int) -> int:
    """A result folder at `path` with `models` ranked models; its residues."""
    lines, cb = atoms(copies)
    n = len(cb)
    distance = np.linalg.norm(cb[:, None] - cb[None], axis=-1)
    summary_models = []
    for rank in range(models):
        rng = np.random.default_rng(rank)
        pae = np.clip(distance / 3 + rng.normal(0, 1.5, (n, n)), 0.25, 31.75).round(2)
        plddt = rng.uniform(40, 95, n).round(2)
        (path / f"ranked_{rank}.pdb").write_text("\n".join(lines) + "\nEND\n")
        (path / f"scores_rank_{rank}.json").write_text(json.dumps({"plddt": plddt.tolist(), "pae": pae.tolist(),
                                                                   "ptm": 0.8}))
        summary_models.append({"rank": rank, "model": f"model_{rank + 1}_ptm", "seed": 0,
                               "mean_plddt": float(plddt.mean()), "ptm": 0.8})
    (path / "summary.json").write_text(json.dumps({"query_name": "2rbg", "query_length": n, "num_sequences": 1000,
                                                   "num_sequences_filtered": 900, "models": summary_models}))
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=5)
    parser.add_argument("--copies", type=int, default=2, choices=range(1, 14))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        residues = folder_of(folder, args.models, args.copies)
        page = html_report.write_report(folder)
        assert page is not None
        size = page.stat().st_size
        data = html_report.report_data(folder)
        assert data is not None
    viewer = len(html_report._asset("3Dmol-min.js").encode())
    script = len(html_report._asset("report.js").encode())
    print(json.dumps({"benchmark": "report_size", "residues": residues, "models": args.models,
                      "models_in_page": len(data["models"]), "bytes": size,
                      "viewer_bytes": viewer, "script_bytes": script, "data_bytes": len(html_report._packed(data)),
                      "under_target": size < TARGET_BYTES}, indent=2))


if __name__ == "__main__":
    main()
