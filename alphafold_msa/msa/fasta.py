"""The '>'-headed record reader shared by a3m/a2m and aligned FASTA (which encoder applies is decided by read.py)."""

from __future__ import annotations

from alphafold_msa.errors import MsaError
from alphafold_msa.msa.alignment import Records


def read_records(lines: list[str], source: str, format_name: str) -> Records:
    """Split '>'-headed records; the row name is the header's first word, the rest its description.
    '#' lines before the first record are skipped."""
    starts = [index for index, line in enumerate(lines) if line[:1] == ">"]
    if not starts:
        raise MsaError(f"{source}: no '>' records found; expected {format_name} with '>' headers")
    for number, line in enumerate(lines[: starts[0]], start=1):
        if line.strip() and not line.startswith("#"):
            raise MsaError(
                f"{source}: line {number}: expected a '>' header before any sequence, found {line[:40]!r}"
            )
    if len(starts) * 2 == len(lines) - starts[0] and starts[-1] == len(lines) - 2 and \
            all(b - a == 2 for a, b in zip(starts, starts[1:])):
        fast = _two_line_records(lines, starts, source, format_name)
        if fast is not None:
            return fast
    ends = starts[1:] + [len(lines)]
    names, descriptions, rows = [], [], []
    for start, end in zip(starts, ends):
        header = lines[start][1:].split(None, 1)
        names.append(header[0] if header else "")
        descriptions.append(header[1].rstrip() if len(header) > 1 else "")
        row = lines[start + 1] if end == start + 2 else "".join(lines[start + 1:end])
        if " " in row or "\t" in row:
            row = "".join(row.split())
        row = row.rstrip("*")
        if not row:
            raise MsaError(f"{source}: line {start + 1}: record '{names[-1]}' has no sequence")
        rows.append(row)
    return Records(names=names, rows=rows, lines=[s + 1 for s in starts], format=format_name, source=source,
                   descriptions=descriptions)


def _two_line_records(lines: list[str], starts: list[int], source: str, format_name: str) -> Records | None:
    """The common layout, one sequence line per record, without per-record Python work; None if unusual."""
    rows = lines[starts[0] + 1::2]
    joined = "".join(rows)
    if not all(rows) or " " in joined or "\t" in joined or "*" in joined:
        return None  # empty rows, spaces or stop codons: the general reader reports or cleans them
    headers = [line[1:].split(None, 1) for line in lines[starts[0]::2]]
    names = [header[0] if header else "" for header in headers]
    descriptions = [header[1].rstrip() if len(header) > 1 else "" for header in headers]
    return Records(names=names, rows=rows, lines=[s + 1 for s in starts], format=format_name, source=source,
                   descriptions=descriptions)
