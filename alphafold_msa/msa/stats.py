"""Numbers that describe an alignment: each row's identity to the query, coverage per position."""

from __future__ import annotations

import numpy as np

from alphafold_msa.msa.alignment import GAP_ID, Msa


def sequence_identity(msa: Msa) -> np.ndarray:
    """Each row's identity to the query over the positions the row covers (0 for an empty row)."""
    covered = msa.matrix != GAP_ID
    same = (msa.matrix == msa.matrix[0]) & covered
    return same.sum(axis=1) / np.maximum(covered.sum(axis=1), 1)


def coverage(msa: Msa) -> np.ndarray:
    """Rows with a residue (not a gap) at each query position."""
    return (msa.matrix != GAP_ID).sum(axis=0)
