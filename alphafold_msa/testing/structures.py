"""Protein structures of ideal geometry for relaxation tests and benchmarks (no prediction involved)."""

from __future__ import annotations

import dataclasses
import io
from typing import Sequence

import numpy as np


def ideal_structure(sequences: Sequence[str], spacing: float = 40.0):
    """An `alphafold.common.protein.Protein` with one chain per sequence, built by Biopython from
    standard internal coordinates (bond lengths, angles, backbone and side-chain dihedrals), the
    chains `spacing` Angstrom apart."""
    from alphafold.common import protein
    from Bio.PDB import PDBIO
    from Bio.PDB.PICIO import read_PIC_seq
    from Bio.Seq import Seq
    from Bio.SeqRecord import SeqRecord

    chains = []
    for index, sequence in enumerate(sequences):
        structure = read_PIC_seq(SeqRecord(Seq(sequence), id=f"chain{index}", description=""))
        structure.internal_to_atom_coordinates()
        text = io.StringIO()
        writer = PDBIO()
        writer.set_structure(structure)
        writer.save(text)
        chain = protein.from_pdb_string(text.getvalue())
        chains.append(dataclasses.replace(
            chain,
            atom_positions=chain.atom_positions + np.array([spacing * index, 0.0, 0.0]) * chain.atom_mask[..., None],
            chain_index=np.full(len(chain.aatype), index)))
    return protein.Protein(**{field.name: np.concatenate([getattr(c, field.name) for c in chains])
                              for field in dataclasses.fields(chains[0])})


def perturbed(structure, noise: float, seed: int = 0):
    """A copy with every atom moved by Gaussian noise of `noise` Angstrom (clashes and strained bonds)."""
    rng = np.random.default_rng(seed)
    moved = structure.atom_positions + rng.normal(0.0, noise, structure.atom_positions.shape)
    return dataclasses.replace(structure, atom_positions=moved * structure.atom_mask[..., None],
                               atom_mask=structure.atom_mask.copy())
