"""a3m and a2m (HH-suite, ColabFold/MMseqs2): lower case and '.' are insertions relative to the query."""

from __future__ import annotations

from alphafold_msa.msa.alignment import Msa, encode_a3m
from alphafold_msa.msa.fasta import read_records


def parse_a3m(lines: list[str], source: str, query: str | None = None, format_name: str = "a3m") -> Msa:
    """Parse a3m (or a2m) text lines; the first record (or the one named `query`) is the query."""
    return encode_a3m(read_records(lines, source, format_name).select_query(query))
