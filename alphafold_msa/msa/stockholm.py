"""Stockholm 1.0 (Pfam, HMMER): interleaved blocks, '#=' annotation, '.', '-' and '~' gaps, '//' terminator."""

from __future__ import annotations

import dataclasses
import logging
from typing import Iterable

from alphafold_msa.errors import MsaError
from alphafold_msa.msa.alignment import InterleavedRows, Records
from alphafold_msa.msa.limits import ReadBudget

logger = logging.getLogger(__name__)


def read_stockholm_records(lines: Iterable[tuple[int, str]], budget: ReadBudget) -> Records:
    """Collect each sequence's pieces across blocks, in order of first appearance; stops at the first '//'.
    A row's description is its '#=GS <name> <feature> <text>' lines ('DE ... OX=9606' from jackhmmer)."""
    source = budget.source
    rows = InterleavedRows(budget)
    annotations: dict[str, list[str]] = {}
    terminated = False
    lines = iter(lines)
    for number, line in lines:
        if line.startswith("#=GS"):
            fields = line.split(None, 2)
            if len(fields) == 3:
                budget.header(line, number)
                annotations.setdefault(fields[1], []).append(fields[2].strip())
            continue
        if not line or line[0] == "#":
            continue
        stripped = line.strip() if line[0].isspace() or line[-1].isspace() else line
        if not stripped or stripped[0] == "#":
            continue
        if stripped == "//":
            terminated = True
            if any(rest.strip() and not rest.startswith("#") for _, rest in lines):
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
    records = rows.records("stockholm")
    return dataclasses.replace(records, descriptions=[" ".join(annotations.get(name, ())) for name in records.names])
