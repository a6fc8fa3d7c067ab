"""Stockholm 1.0 (Pfam, HMMER): interleaved blocks, '#=' annotation, '.', '-' and '~' gaps, '//' terminator."""

from __future__ import annotations

import dataclasses
import logging

from alphafold_msa.errors import MsaError
from alphafold_msa.msa.alignment import InterleavedRows, Msa, Records, encode_aligned

logger = logging.getLogger(__name__)


def read_stockholm_records(lines: list[str], source: str) -> Records:
    """Collect each sequence's pieces across blocks, in order of first appearance; stops at the first '//'.
    A row's description is its '#=GS <name> <feature> <text>' lines ('DE ... OX=9606' from jackhmmer)."""
    rows = InterleavedRows()
    annotations: dict[str, list[str]] = {}
    terminated = False
    for number, line in enumerate(lines, start=1):
        if line.startswith("#=GS"):
            fields = line.split(None, 2)
            if len(fields) == 3:
                annotations.setdefault(fields[1], []).append(fields[2].strip())
            continue
        if not line or line[0] == "#":
            continue
        stripped = line.strip() if line[0].isspace() or line[-1].isspace() else line
        if not stripped or stripped[0] == "#":
            continue
        if stripped == "//":
            terminated = True
            if any(rest.strip() and not rest.startswith("#") for rest in lines[number:]):
                logger.warning("%s holds several alignments; using the first one", source)
            break
        fields = stripped.split()
        if len(fields) != 2:
            raise MsaError(
                f"{source}: line {number}: expected '<name> <aligned sequence>', found {stripped[:60]!r}"
            )
        rows.add(fields[0], fields[1], number)
    if not rows.pieces:
        raise MsaError(f"{source}: the Stockholm file has no sequence lines")
    if not terminated:
        raise MsaError(f"{source}: the Stockholm alignment ends without its '//' line; the file looks truncated")
    records = rows.records("stockholm", source)
    return dataclasses.replace(records, descriptions=[" ".join(annotations.get(name, ())) for name in records.names])


def parse_stockholm(lines: list[str], source: str, query: str | None = None) -> Msa:
    """Parse Stockholm text lines; the first sequence (or the one named `query`) is the query."""
    return encode_aligned(read_stockholm_records(lines, source).select_query(query))
