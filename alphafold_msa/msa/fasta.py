"""FASTA-syntax alignments: aligned FASTA ('-'/'.' gaps, equal-length rows) and the record reader a3m shares."""

from __future__ import annotations

from alphafold_msa.errors import MsaError
from alphafold_msa.msa.alignment import Msa, Records, encode_aligned


def read_records(lines: list[str], source: str, format_name: str) -> Records:
    """Split '>'-headed records; the row name is the header's first word. '#' lines before the first record are skipped."""
    names: list[str] = []
    rows: list[str] = []
    starts: list[int] = []
    pieces: list[str] = []
    for number, line in enumerate(lines, start=1):
        if line.startswith(">"):
            if names:
                rows.append("".join(pieces))
            header = line[1:].split(None, 1)
            names.append(header[0] if header else "")
            starts.append(number)
            pieces = []
        elif names:
            pieces.append("".join(line.split()))
        elif line.strip() and not line.startswith("#"):
            raise MsaError(
                f"{source}: line {number}: expected a '>' header before any sequence, found {line[:40]!r}"
            )
    if names:
        rows.append("".join(pieces))
    if not names:
        raise MsaError(f"{source}: no '>' records found; expected {format_name} with '>' headers")
    for index, row in enumerate(rows):
        row = row.rstrip("*")
        if not row:
            raise MsaError(f"{source}: line {starts[index]}: record '{names[index]}' has no sequence")
        rows[index] = row
    return Records(names=names, rows=rows, lines=starts, format=format_name, source=source)


def parse_fasta(lines: list[str], source: str, query: str | None = None) -> Msa:
    """Aligned FASTA: every row has the same length; the query's gap columns become insertions."""
    return encode_aligned(read_records(lines, source, "fasta").select_query(query))
