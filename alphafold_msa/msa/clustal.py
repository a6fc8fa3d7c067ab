"""Clustal (.aln, also written by MUSCLE and MAFFT): a header line, then blocks of '<name> <sequence> [count]'."""

from __future__ import annotations

from alphafold_msa.errors import MsaError
from alphafold_msa.msa.alignment import InterleavedRows, Msa, Records, encode_aligned


def read_clustal_records(lines: list[str], source: str) -> Records:
    """Collect each sequence's pieces across blocks; conservation lines (indented) are skipped."""
    rows = InterleavedRows()
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip() or line[0].isspace():
            continue
        fields = line.split()
        if len(fields) == 3 and fields[2].isdigit():
            fields = fields[:2]
        if len(fields) != 2:
            raise MsaError(f"{source}: line {number}: expected '<name> <aligned sequence>', found {line[:60]!r}")
        rows.add(fields[0], fields[1], number)
    if not rows.pieces:
        raise MsaError(f"{source}: the Clustal file has no sequence lines")
    return rows.records("clustal", source)


def parse_clustal(lines: list[str], source: str, query: str | None = None) -> Msa:
    """Parse Clustal text lines; the first sequence (or the one named `query`) is the query."""
    return encode_aligned(read_clustal_records(lines, source).select_query(query))
