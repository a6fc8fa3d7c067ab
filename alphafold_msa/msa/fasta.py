"""The '>'-headed record reader shared by a3m/a2m and aligned FASTA (which encoder applies is decided by read.py)."""

from __future__ import annotations

from typing import Iterable

from alphafold_msa.errors import MsaError
from alphafold_msa.msa.alignment import Records
from alphafold_msa.msa.limits import ReadBudget


class _Record:
    """The record being read: its header, first line and sequence pieces (wrapped lines)."""

    def __init__(self, header: str, line: int):
        self.header, self.line = header, line
        self.pieces: list[str] = []
        self.length = 0


def read_records(lines: Iterable[tuple[int, str]], source: str, format_name: str, budget: ReadBudget,
                 first_is_query: bool = True) -> Records:
    """Split '>'-headed records from numbered lines; the row name is the header's first word, the rest its
    description. '#' lines before the first record are skipped. Rows, headers and residues are counted
    against `budget` as they are read; with `first_is_query`, the first record's length is checked at once."""
    names: list[str] = []
    descriptions: list[str] = []
    rows: list[str] = []
    numbers: list[int] = []
    record: _Record | None = None

    def finish(record: _Record) -> None:
        header = record.header.split(None, 1)
        names.append(header[0] if header else "")
        descriptions.append(header[1].rstrip() if len(header) > 1 else "")
        row = record.pieces[0] if len(record.pieces) == 1 else "".join(record.pieces)
        if " " in row or "\t" in row:
            row = "".join(row.split())
        row = row.rstrip("*")
        if not row:
            raise MsaError(f"{source}: line {record.line}: record '{names[-1]}' has no sequence")
        rows.append(row)
        numbers.append(record.line)
        if first_is_query and len(rows) == 1:
            budget.query_length(names[0], sum(map(str.isupper, row)))

    for number, line in lines:
        if line[:1] == ">":
            if record is not None:
                finish(record)
            budget.header(line, number)
            budget.add_row(number)
            record = _Record(line[1:], number)
        elif record is not None:
            if not line:
                continue
            record.pieces.append(line)
            record.length += len(line)
            budget.add_residues(len(line), record.length, record.header, number)
        elif line.strip() and not line.startswith("#"):
            raise MsaError(f"{source}: line {number}: expected a '>' header before any sequence, found {line[:40]!r}")
    if record is None:
        raise MsaError(f"{source}: no '>' records found; expected {format_name} with '>' headers")
    finish(record)
    return Records(names=names, rows=rows, lines=numbers, format=format_name, source=source,
                   descriptions=descriptions)


def check_query_length(records: Records, budget: ReadBudget) -> None:
    """Refuse a query longer than the budget's limit before its alignment is encoded (residues: the
    query row's upper-case letters in a3m/a2m, all its letters in the aligned formats)."""
    row = records.rows[0]
    counted = str.isupper if records.format in ("a3m", "a2m") else str.isalpha
    budget.query_length(records.names[0], sum(map(counted, row)))
