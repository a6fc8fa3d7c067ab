"""Clustal (.aln, also written by MUSCLE and MAFFT): a header line, then blocks of '<name> <sequence> [count]'."""

from __future__ import annotations

from alphafold_msa.errors import MsaError
from alphafold_msa.msa.alignment import Msa, Records, encode_aligned


def read_clustal_records(lines: list[str], source: str) -> Records:
    """Collect each sequence's pieces across blocks; conservation lines (indented) are skipped."""
    pieces: dict[str, list[str]] = {}
    first_line: dict[str, int] = {}
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip() or line[0].isspace():
            continue
        fields = line.split()
        if len(fields) == 3 and fields[2].isdigit():
            fields = fields[:2]
        if len(fields) != 2:
            raise MsaError(f"{source}: line {number}: expected '<name> <aligned sequence>', found {line[:60]!r}")
        name, piece = fields
        if name not in pieces:
            pieces[name] = []
            first_line[name] = number
        pieces[name].append(piece)
    if not pieces:
        raise MsaError(f"{source}: the Clustal file has no sequence lines")
    names = list(pieces)
    return Records(names=names, rows=["".join(pieces[n]) for n in names],
                   lines=[first_line[n] for n in names], format="clustal", source=source)


def parse_clustal(lines: list[str], source: str, query: str | None = None) -> Msa:
    """Parse Clustal text lines; the first sequence (or the one named `query`) is the query."""
    return encode_aligned(read_clustal_records(lines, source).select_query(query))
