"""Depth reduction before featurizing: drop exact duplicates, then subsample to a maximum depth."""

from __future__ import annotations

import numpy as np

from alphafold_msa.errors import MsaError
from alphafold_msa.msa.alignment import Msa


def check_length(msa: Msa, max_length: int) -> None:
    """Reject a query longer than `max_length` before any model is loaded."""
    if msa.length > max_length:
        raise MsaError(
            f"{msa.source}: the query '{msa.query_name}' has {msa.length} residues, over the maximum of "
            f"{max_length} this worker accepts (ALPHAFOLD_MSA_MAX_LENGTH); predict a shorter region or domain"
        )


def filter_msa(msa: Msa, max_depth: int, seed: int = 0) -> tuple[Msa, dict[str, int]]:
    """Remove rows identical to an earlier one, then keep the query plus a seeded random sample.

    Returns the filtered alignment and a record of what was done (depths before and after).
    """
    width = msa.length
    blob = np.ascontiguousarray(msa.matrix).tobytes()
    first_index: dict[bytes, int] = {}
    for row in range(msa.depth):
        first_index.setdefault(blob[row * width:(row + 1) * width], row)
    keep = np.fromiter(first_index.values(), dtype=np.int64, count=len(first_index))  # ascending
    unique_depth = len(keep)
    if len(keep) > max_depth:
        rng = np.random.default_rng(seed)
        # First occurrences are kept, so the query (row 0) is keep[0].
        sample = np.sort(rng.choice(keep[1:], size=max_depth - 1, replace=False))
        keep = np.concatenate([[0], sample])
    record = {"input_depth": msa.depth, "unique_depth": unique_depth, "filtered_depth": len(keep),
              "max_msa_depth": max_depth}
    return (msa if len(keep) == msa.depth else msa.take(keep)), record
