"""Depth reduction before featurizing: drop exact duplicates, then subsample to a maximum depth."""

from __future__ import annotations

import hashlib

import numpy as np

from alphafold_msa.msa.alignment import Msa
from alphafold_msa.msa.complex import ComplexMsa
from alphafold_msa.msa.limits import query_too_long


def check_length(msa: Msa | ComplexMsa, max_length: int) -> None:
    """Reject a query longer than `max_length` (a complex's: all chains) before any model is loaded."""
    if msa.length > max_length:
        raise query_too_long(msa.source, msa.query_name, msa.length, max_length)


def unique_rows(msa: Msa) -> np.ndarray:
    """The rows not identical to an earlier one (residues compared, deletions not), in order; each row is
    hashed in place (a 16-byte digest per distinct row), the alignment is not copied."""
    matrix = np.ascontiguousarray(msa.matrix)
    first_index: dict[bytes, int] = {}
    for row in range(msa.depth):
        first_index.setdefault(hashlib.blake2b(matrix[row], digest_size=16).digest(), row)
    return np.fromiter(first_index.values(), dtype=np.int64, count=len(first_index))  # ascending


def filter_msa(msa: Msa, max_depth: int, seed: int = 0) -> tuple[Msa, dict[str, int]]:
    """Remove rows identical to an earlier one, then keep the query plus a seeded random sample.

    Returns the filtered alignment and a record of what was done (depths before and after).
    """
    keep = unique_rows(msa)
    unique_depth = len(keep)
    if len(keep) > max_depth:
        rng = np.random.default_rng(seed)
        # First occurrences are kept, so the query (row 0) is keep[0].
        sample = np.sort(rng.choice(keep[1:], size=max_depth - 1, replace=False))
        keep = np.concatenate([[0], sample])
    record = {"input_depth": msa.depth, "unique_depth": unique_depth, "filtered_depth": len(keep),
              "max_msa_depth": max_depth}
    return (msa if len(keep) == msa.depth else msa.take(keep)), record
