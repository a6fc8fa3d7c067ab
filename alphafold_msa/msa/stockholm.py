"""Stockholm 1.0 (Pfam, HMMER): interleaved blocks, '#=' annotation, '.', '-' and '~' gaps, '//' terminator."""

from __future__ import annotations

import dataclasses
import logging
from typing import Iterable

from alphafold_msa.errors import MsaError
from alphafold_msa.msa.alignment import InterleavedRows, Records
from alphafold_msa.msa.limits import ReadBudget

logger = logging.getLogger(__name__)


class _Annotations:
    """Each row's '#=GS <name> <feature> <text>' texts; a row's name and texts together count against the
    header limit, and the rows annotated against the row limit."""

    def __init__(self, budget: ReadBudget) -> None:
        self.budget = budget
        self.texts: dict[str, list[str]] = {}
        self.lengths: dict[str, int] = {}

    def add(self, name: str, text: str, line: int) -> None:
        if name not in self.texts:
            self.budget.rows_within(len(self.texts) + 1, line)
            self.texts[name], self.lengths[name] = [], len(name)
        self.texts[name].append(text)
        self.lengths[name] += 1 + len(text)
        self.budget.header_length(self.lengths[name], line)

    def description(self, name: str) -> str:
        return " ".join(self.texts.get(name, ()))


def read_stockholm_records(lines: Iterable[tuple[int, str]], budget: ReadBudget) -> Records:
    """Collect each sequence's pieces across blocks, in order of first appearance; stops at the first '//'.
    A row's description is its '#=GS <name> <feature> <text>' lines ('DE ... OX=9606' from jackhmmer)."""
    source = budget.source
    rows = InterleavedRows(budget)
    annotations = _Annotations(budget)
    terminated = False
    lines = iter(lines)
    for number, line in lines:
        if line.startswith("#=GS"):
            fields = line.split(None, 2)
            if len(fields) == 3:
                annotations.add(fields[1], fields[2].strip(), number)
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
    return dataclasses.replace(records, descriptions=[annotations.description(name) for name in records.names])
