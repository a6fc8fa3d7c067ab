"""How many alignment rows a job featurizes: at most `max_msa_depth` per chain, fewer when the input
pipeline would otherwise hold more than the job memory for them, never fewer than the network reads.

AlphaFold's input pipeline (the fork's numpy port) works on every featurized row before it samples the
network's crops: about BYTES_PER_CELL["pipeline"] bytes per row and residue (profiles, masks, one-hot
copies), measured with benchmarks/feature_memory.py. A complex's chains are laid side by side
(block-diagonally), so its cells grow with copies times the whole complex's length. On top of the rows'
share comes a part fixed by the length (the network's crops), which belongs with the network's own
memory. Importing this module does not import jax.
"""

from __future__ import annotations

from typing import Callable

from alphafold_msa.msa import ComplexMsa, Msa
from alphafold_msa.msa.limits import BYTES_PER_ROW

# Host bytes per row x residue: AlphaFold's pipeline (monomer and pTM complex), AlphaFold-Multimer's per
# chain copy, and a complex's chains side by side (its summary's coverage and plot).
BYTES_PER_CELL = {"pipeline": 150, "multimer": 24, "concatenated": 10}


def featurized(msa: Msa | ComplexMsa, complex_mode: str, depth: int) -> tuple[int, int]:
    """(rows the network can read, bytes the pipeline holds for them) when every chain, and the paired
    block, keeps at most `depth` rows (its query included)."""
    if isinstance(msa, Msa):
        rows = min(depth, msa.depth)
        return rows, rows * msa.length * BYTES_PER_CELL["pipeline"]
    kept = [min(depth, chain.depth) for chain in msa.chains]
    paired = min(depth, msa.paired_rows + 1) - 1  # paired rows are kept at `depth` too, the joined query included
    rows = 1 + paired + sum((k - 1) * copies for k, copies in zip(kept, msa.copies))
    if complex_mode != "multimer":
        return rows, rows * msa.length * BYTES_PER_CELL["pipeline"]
    per_copy = sum((k + paired) * chain.length * copies for k, chain, copies in zip(kept, msa.chains, msa.copies))
    return rows, per_copy * BYTES_PER_CELL["multimer"] + rows * msa.length * BYTES_PER_CELL["concatenated"]


def held_bytes(msa: Msa | ComplexMsa) -> int:
    """What the alignment read for the job holds: its residue and deletion matrices and its rows' objects."""
    if isinstance(msa, Msa):
        return msa.matrix.nbytes + msa.deletions.nbytes + BYTES_PER_ROW * msa.depth
    return sum(held_bytes(chain) for chain in (*msa.chains, *(msa.paired or ())))


def feature_depth(msa: Msa | ComplexMsa, complex_mode: str, requested: int, network_rows: int,
                  budget_bytes: int) -> int:
    """The most rows per chain to featurize: `requested`, lowered while the rows' share of the pipeline's
    memory would pass `budget_bytes`, but not below the depth at which the network reads `network_rows`."""
    def fits(depth: int) -> bool:
        return featurized(msa, complex_mode, depth)[1] <= budget_bytes

    def reads_enough(depth: int) -> bool:
        return featurized(msa, complex_mode, depth)[0] >= network_rows

    if fits(requested):
        return requested
    return max(_least(reads_enough, requested), _most(fits, requested))


def _least(true_from: Callable[[int], bool], high: int) -> int:
    """The least depth in 1..high for which the monotone test holds (high when none does)."""
    low = 1
    while low < high:
        middle = (low + high) // 2
        if true_from(middle):
            high = middle
        else:
            low = middle + 1
    return high


def _most(true_until: Callable[[int], bool], high: int) -> int:
    """The greatest depth in 1..high for which the monotone test holds (1 when none does)."""
    low = 1
    while low < high:
        middle = (low + high + 1) // 2
        if true_until(middle):
            low = middle
        else:
            high = middle - 1
    return low
