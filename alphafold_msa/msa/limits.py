"""What reading one alignment may cost, and the limits that stop a reader before it spends more.

An alignment is read as a stream (alphafold_msa/msa/read.py): the reader counts decompressed bytes,
rows, each row's aligned characters, all rows' aligned characters and each header's length as it
goes, and stops at the first limit passed, before anything proportional to the rest is held. So the
memory a read can take is bounded by the limits alone, whatever the file's compression:

    held <= BYTES_PER_RESIDUE * max_residues + max_bytes (headers at most) + BYTES_PER_ROW * max_rows

Every limit is a setting. Unset, the three that memory depends on follow from the job memory
($ALPHAFOLD_MSA_JOB_MEMORY_GB; default an eighth of the machine's memory, within 0.5 to 1.5 GB), in
shares that fit it together: an eighth for the text (its headers are held as read), five eighths for
the residues, a quarter for the rows. Query length, one row's columns, the file's lines (each costs
reading time, however little it holds), header and species-key length have fixed defaults: they
stop pathological shapes early with a clear message.
Client-safe: the standard library only (`--check` applies the same limits as the worker).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from alphafold_msa import settings
from alphafold_msa.errors import MsaError, MsaTooLargeError

GB = 1e9
# Bytes held per unit while reading, measured with benchmarks/hostile_inputs.py: a residue is one
# character of row text while it is read, then one byte of the residue matrix and four of the
# deletion counts; a row costs its Python objects (name, description, row text, line number) and its
# share of the deduplication and pairing that follow.
BYTES_PER_RESIDUE = 6
BYTES_PER_ROW = 400
JOB_MEMORY_SHARE = 1 / 8
# The job memory's shares of the limits derived from it: they fit it together.
TEXT_SHARE, RESIDUES_SHARE, ROWS_SHARE = 1 / 8, 5 / 8, 1 / 4
JOB_MEMORY_RANGE_GB = (0.5, 1.5)
_CGROUP_LIMITS = (Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"))


def machine_memory_bytes() -> int:
    """The memory this process may use: the container's limit (cgroup v2 or v1) when it has one, else
    the machine's physical memory."""
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for path in _CGROUP_LIMITS:
        try:
            value = path.read_text().strip()
        except OSError:
            continue
        if value.isdigit():
            return min(physical, int(value))
    return physical


def job_memory_bytes() -> int:
    """Host memory one job's input may use: $ALPHAFOLD_MSA_JOB_MEMORY_GB, else an eighth of the
    machine's memory within 0.5 to 1.5 GB."""
    configured = settings.job_memory_gb()
    if configured is not None:
        return int(configured * GB)
    low, high = JOB_MEMORY_RANGE_GB
    return int(min(max(machine_memory_bytes() * JOB_MEMORY_SHARE, low * GB), high * GB))


@dataclasses.dataclass(frozen=True)
class AlignmentLimits:
    """The most an alignment may hold; each field names the setting that raises it (see `SETTING_OF`)."""

    max_bytes: int  # decompressed text
    max_rows: int  # sequences
    max_residues: int  # aligned characters (residues, gaps, insertions) of all rows together
    max_columns: int  # aligned characters of one row
    max_lines: int  # lines of the file (each costs the reader's time, whatever it holds)
    max_header_chars: int  # one row's name and description
    max_key_chars: int  # one row's species key (pairing)
    max_length: int | None = None  # residues of the query (of a complex: all chains together)

    @classmethod
    def from_settings(cls, query_length: bool = True) -> AlignmentLimits:
        """The limits the settings give (derived from the job memory where unset); `query_length` False
        leaves the query's length to be checked later (for a complex's chains read one by one)."""
        memory = job_memory_bytes()
        configured = settings.alignment_limits()

        def derived(setting: settings.Setting, share: float, per_unit: float) -> int:
            value = configured[setting.name]
            return value if value is not None else int(memory * share / per_unit)

        def fixed(setting: settings.Setting) -> int:
            return int(configured[setting.name] or setting.default or 0)  # these settings have defaults

        return cls(max_bytes=derived(settings.MAX_MSA_BYTES, TEXT_SHARE, 1),
                   max_rows=derived(settings.MAX_ROWS, ROWS_SHARE, BYTES_PER_ROW),
                   max_residues=derived(settings.MAX_RESIDUES, RESIDUES_SHARE, BYTES_PER_RESIDUE),
                   max_columns=fixed(settings.MAX_COLUMNS), max_lines=fixed(settings.MAX_LINES),
                   max_header_chars=fixed(settings.MAX_HEADER_CHARS),
                   max_key_chars=fixed(settings.MAX_KEY_CHARS),
                   max_length=settings.max_query_length() if query_length else None)

    def held_bytes(self) -> int:
        """The most a read within these limits holds (see the module docstring)."""
        return BYTES_PER_RESIDUE * self.max_residues + self.max_bytes + BYTES_PER_ROW * self.max_rows


SETTING_OF = {"max_bytes": settings.MAX_MSA_BYTES, "max_rows": settings.MAX_ROWS,
              "max_residues": settings.MAX_RESIDUES, "max_columns": settings.MAX_COLUMNS,
              "max_lines": settings.MAX_LINES,
              "max_header_chars": settings.MAX_HEADER_CHARS, "max_key_chars": settings.MAX_KEY_CHARS,
              "max_length": settings.MAX_LENGTH}


class ReadBudget:
    """What a reader has taken from one alignment so far, checked against `limits` as it grows: each
    method raises MsaTooLargeError (naming the line, the limit and its setting) at the first limit passed."""

    def __init__(self, limits: AlignmentLimits, source: str):
        self.limits, self.source = limits, source
        self.rows = 0
        self.residues = 0

    def _refuse(self, line: int | None, what: str, field: str) -> MsaTooLargeError:
        where = f"{self.source}: line {line}: " if line is not None else f"{self.source}: "
        return MsaTooLargeError(f"{where}{what} ({SETTING_OF[field].name} raises this limit)")

    def header(self, header: str, line: int) -> None:
        """A row's header (name and description)."""
        self.header_length(len(header), line)

    def header_length(self, length: int, line: int) -> None:
        """A row's header of `length` characters (a Stockholm row's name and '#=GS' lines together)."""
        if length > self.limits.max_header_chars:
            raise self._refuse(line, f"a header of {length:,} characters, over the "
                                     f"{self.limits.max_header_chars:,} a row header may have", "max_header_chars")

    def add_row(self, line: int) -> None:
        """One more row (sequence)."""
        self.rows += 1
        self.rows_within(self.rows, line)

    def rows_within(self, count: int, line: int) -> None:
        """`count` rows (or rows' annotations) read so far."""
        if count > self.limits.max_rows:
            raise self._refuse(line, f"more than {self.limits.max_rows:,} sequences (rows), the most one alignment "
                                     "may have; remove redundant rows first (e.g. hhfilter -id 90)", "max_rows")

    def add_residues(self, count: int, row_length: int, name: str, line: int) -> None:
        """`count` more aligned characters, making row `name` (or its header) `row_length` long."""
        self.residues += count
        if row_length > self.limits.max_columns:
            shown = (name.split() or [""])[0][:60]
            raise self._refuse(line, f"row '{shown}' has more than {self.limits.max_columns:,} aligned characters, "
                                     "the most one row may have", "max_columns")
        if self.residues > self.limits.max_residues:
            raise self._refuse(line, f"the rows hold more than {self.limits.max_residues:,} aligned characters "
                                     "(residues, gaps and insertions) in all; remove redundant rows first (e.g. "
                                     "hhfilter -id 90)", "max_residues")

    def query_length(self, name: str, residues: int) -> None:
        """The query's residues (of a complex: all chains', copies included), once known."""
        if self.limits.max_length is not None and residues > self.limits.max_length:
            raise query_too_long(self.source, name, residues, self.limits.max_length)


def query_too_long(source: str, name: str, residues: int, max_length: int) -> MsaError:
    """The error for a query (or complex) longer than this worker accepts."""
    return MsaError(f"{source}: the query '{name}' has {residues} residues, over the maximum of {max_length} this "
                    f"worker accepts ({settings.MAX_LENGTH.name}); predict a shorter region or domain")
