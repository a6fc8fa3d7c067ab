"""Clustal (.aln, also written by MUSCLE and MAFFT): a header line, then blocks of '<name> <sequence> [count]'."""

from __future__ import annotations

import itertools
from typing import Iterable

from alphafold_msa.errors import MsaError
from alphafold_msa.msa.alignment import InterleavedRows, Records
from alphafold_msa.msa.limits import ReadBudget


def read_clustal_records(lines: Iterable[tuple[int, str]], budget: ReadBudget) -> Records:
    """Collect each sequence's pieces across blocks, after the header line; conservation lines (indented)
    are skipped."""
    rows = InterleavedRows(budget)
    for number, line in itertools.islice(lines, 1, None):
        if not line.strip() or line[0].isspace():
            continue
        fields = line.split()
        if len(fields) == 3 and fields[2].isdigit():
            fields = fields[:2]
        if len(fields) != 2:
            raise MsaError(f"{budget.source}: line {number}: expected '<name> <aligned sequence>', "
                           f"found {line[:60]!r}")
        rows.add(fields[0], fields[1], number)
    if not rows.pieces:
        raise MsaError(f"{budget.source}: the Clustal file has no sequence lines")
    return rows.records("clustal")
