"""The query-relative alignment every format is converted to, and the numpy encoders that build it.

An `Msa` is what AlphaFold reads from an a3m file: one row per sequence, one column per query
residue, residues as HHblits ids (0-19 amino acids, 20 unknown, 21 gap) and, per cell, the number
of residues the row inserts before that column (its deletion count).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Iterator, Sequence

import numpy as np

from alphafold_msa.errors import MsaError
from alphafold_msa.msa.limits import ReadBudget

GAP_ID = 21
INVALID_ID = 255
# HHblits residue ids, as AlphaFold's `residue_constants.HHBLITS_AA_TO_ID` (B->D, Z->E, U->C, J/O->X).
_HHBLITS_IDS = {
    "A": 0, "B": 2, "C": 1, "D": 2, "E": 3, "F": 4, "G": 5, "H": 6, "I": 7, "J": 20, "K": 8,
    "L": 9, "M": 10, "N": 11, "O": 20, "P": 12, "Q": 13, "R": 14, "S": 15, "T": 16, "U": 1,
    "V": 17, "W": 18, "X": 20, "Y": 19, "Z": 3,
}
GAP_CHARACTERS = b"-.~"
# Rows are encoded a chunk at a time; a chunk's scratch arrays take about 16 bytes per character.
_CHARS_PER_CHUNK = 4_000_000


def _lookup_table() -> np.ndarray:
    table = np.full(256, INVALID_ID, dtype=np.uint8)
    for letter, index in _HHBLITS_IDS.items():
        table[ord(letter)] = index
        table[ord(letter.lower())] = index
    for gap in GAP_CHARACTERS:
        table[gap] = GAP_ID
    return table


_RESIDUE_IDS = _lookup_table()
_IS_LETTER = np.zeros(256, dtype=bool)
_IS_LETTER[ord("A"):ord("Z") + 1] = True
_IS_LETTER[ord("a"):ord("z") + 1] = True
# The fewest residues a query (a complex's: each chain's) may have: the shortest peptides that bind as
# chains, a PDZ domain's C-terminal ligand motif (MHC and SH3 ligands are 8-10). A shorter chain has at
# most one residue with both backbone torsions, no conformation to predict; one residue breaks relaxation.
MIN_QUERY_LENGTH = 4
_NUCLEOTIDES = frozenset("ACGTUN")
MIN_NUCLEOTIDE_QUERY = 6  # shorter queries of those letters are as likely peptides (GTNA) as DNA
# bytes.translate tables: one C pass per chunk instead of numpy fancy indexing.
_RESIDUE_TABLE = _RESIDUE_IDS.tobytes()
_A3M_MATCH, _A3M_INSERTION, _A3M_PAD, _A3M_INVALID = 0, 1, 2, 3
_A3M_KINDS = bytes(
    _A3M_INSERTION if chr(b).islower() and chr(b).isascii() and chr(b).isalpha()
    else _A3M_PAD if b == ord(".")
    else _A3M_MATCH if (chr(b).isupper() and chr(b).isascii()) or b == ord("-")
    else _A3M_INVALID
    for b in range(256)
)


@dataclasses.dataclass(frozen=True)
class Msa:
    """A protein MSA relative to its query (row 0), as AlphaFold consumes it."""

    names: list[str]
    matrix: np.ndarray  # (depth, length) uint8 HHblits ids
    deletions: np.ndarray  # (depth, length) int32 deletion counts
    query_sequence: str  # the query's residues, upper case, as written in the file
    format: str
    source: str
    descriptions: list[str] | None = None  # per row, the header text after the name ('' for none)

    @property
    def query_name(self) -> str:
        return self.names[0]

    @property
    def depth(self) -> int:
        return int(self.matrix.shape[0])

    @property
    def length(self) -> int:
        return int(self.matrix.shape[1])

    def gap_fraction(self) -> float:
        """Fraction of gap cells over the whole alignment."""
        return float(np.mean(self.matrix == GAP_ID)) if self.matrix.size else 0.0

    def a3m_rows(self) -> list[str]:
        """Each row as a3m text: aligned columns upper case or '-', deletions written as 'x' insertions."""
        letters = np.frombuffer(b"ACDEFGHIKLMNPQRSTVWYX-", dtype=np.uint8)
        rows = []
        for row, dels in zip(self.matrix, self.deletions):
            text = letters[row].tobytes().decode("ascii")
            if dels.any():
                text = "".join("x" * int(d) + c for d, c in zip(dels, text))
            rows.append(text)
        return rows

    def description(self, row: int) -> str:
        """The header text after row `row`'s name ('' when the format has none)."""
        return self.descriptions[row] if self.descriptions is not None else ""

    def take(self, rows: Sequence[int] | np.ndarray) -> Msa:
        """The alignment reduced to `rows` (in that order)."""
        rows = np.asarray(rows, dtype=np.int64)
        descriptions = None if self.descriptions is None else [self.descriptions[i] for i in rows]
        return dataclasses.replace(self, names=[self.names[i] for i in rows], matrix=self.matrix[rows],
                                   deletions=self.deletions[rows], descriptions=descriptions)

    def to_a3m(self) -> str:
        """The alignment as a3m text (deletions are written as 'x' insertions)."""
        return "".join(f">{name}\n{row}\n" for name, row in zip(self.names, self.a3m_rows()))


@dataclasses.dataclass(frozen=True)
class Records:
    """Rows as read from a file, before conversion: names, aligned text, first line of each row."""

    names: list[str]
    rows: list[str]
    lines: list[int]
    format: str
    source: str
    descriptions: list[str] | None = None  # per row, the header text after the name

    def select_query(self, query: str | None) -> Records:
        """Move the row named `query` to the front (the first row is the query by default)."""
        if query is None:
            return self
        if query not in self.names:
            shown = ", ".join(self.names[:5]) + (", ..." if len(self.names) > 5 else "")
            raise MsaError(f"{self.source}: no row named '{query}' to use as query (rows: {shown})")
        index = self.names.index(query)
        order = [index] + [i for i in range(len(self.names)) if i != index]
        return dataclasses.replace(
            self,
            names=[self.names[i] for i in order],
            rows=[self.rows[i] for i in order],
            lines=[self.lines[i] for i in order],
            descriptions=None if self.descriptions is None else [self.descriptions[i] for i in order],
        )


def _check_ascii(records: Records) -> None:
    """Report the first non-ASCII character with its row, line and column."""
    if all(map(str.isascii, records.rows)):
        return
    for index, row in enumerate(records.rows):
        if not row.isascii():
            column = next(i for i, char in enumerate(row) if not char.isascii())
            raise MsaError(
                f"{records.source}: line {records.lines[index]}: row '{records.names[index]}' has the non-ASCII "
                f"character {row[column]!r} at alignment column {column + 1}; expected amino-acid letters and "
                f"'-' or '.' gaps"
            )



def _raise_illegal_character(records: Records, index: int, column: int) -> None:
    """Report the character at `column` of row `index` as illegal, naming row, line and column."""
    raise MsaError(
        f"{records.source}: line {records.lines[index]}: row '{records.names[index]}' has the "
        f"illegal character {records.rows[index][column]!r} at alignment column {column + 1}; expected "
        f"amino-acid letters (A-Z) and '-' or '.' gaps"
    )


def _query_checks(records: Records, query_sequence: str, kinds: bytes, invalid: int) -> None:
    """The query row's characters (`kinds`: a translate table marking an illegal one `invalid`), then its
    residues: an illegal character is reported as such, not as a query too short."""
    marked = records.rows[0].encode("ascii").translate(kinds)
    if invalid in marked:
        _raise_illegal_character(records, 0, marked.index(invalid))
    check_query(records.source, records.names[0], records.lines[0], query_sequence)


def check_query(source: str, name: str, line: int, query_sequence: str, chain: int | None = None) -> None:
    """Refuse a query without residues, shorter than MIN_QUERY_LENGTH, or of MIN_NUCLEOTIDE_QUERY or more
    nucleotide letters only (GAATTC).
    Every reader applies it to every query (a complex's: each chain's, `chain` numbered from 1), so
    `launch.py --check`, the launcher and the worker accept the same inputs."""
    where = f"line {line}" if chain is None else f"line {line}, chain {chain}"
    query, residues = f"the query row '{name}' ({where})", len(query_sequence)
    if not query_sequence:
        raise MsaError(f"{source}: {query} has no residues, only gaps")
    if residues < MIN_QUERY_LENGTH:
        raise MsaError(f"{source}: {query} has {residues} residue{'' if residues == 1 else 's'}, fewer than the "
                       f"{MIN_QUERY_LENGTH} a query or chain needs (a shorter peptide has no conformation for "
                       "AlphaFold2 to predict)")
    if residues >= MIN_NUCLEOTIDE_QUERY and set(query_sequence) <= _NUCLEOTIDES:
        raise MsaError(f"{source}: {query} looks like DNA/RNA: its {residues} residues are all nucleotide letters "
                       "(A, C, G, T, U, N); AlphaFold2 predicts proteins: translate it first and align the protein")


def _running_to_counts(running: np.ndarray, base, out: np.ndarray) -> None:
    """Deletion counts from a running count of inserted residues sampled at each query column."""
    out[:, 0] = running[:, 0] - base
    np.subtract(running[:, 1:], running[:, :-1], out=out[:, 1:])


def _build(records: Records, matrix: np.ndarray, deletions: np.ndarray, query_sequence: str) -> Msa:
    return Msa(names=list(records.names), matrix=matrix, deletions=deletions, query_sequence=query_sequence,
               format=records.format, source=records.source, descriptions=records.descriptions)


class InterleavedRows:
    """Pieces of named rows spread over blocks (Stockholm, Clustal), joined in order of first appearance.

    Each row grows in one bytearray, so a row cut into many small pieces costs its characters, not an
    object per piece; rows and characters are counted against `budget` as they arrive."""

    def __init__(self, budget: ReadBudget) -> None:
        self.budget = budget
        self.pieces: dict[str, bytearray] = {}
        self.first_line: dict[str, int] = {}

    def add(self, name: str, piece: str, line: int) -> None:
        row = self.pieces.get(name)
        if row is None:
            self.budget.header(name, line)
            self.budget.add_row(line)
            row = self.pieces[name] = bytearray()
            self.first_line[name] = line
        row += piece.encode("utf-8")
        self.budget.add_residues(len(piece), len(row), name, line)

    def records(self, format_name: str) -> Records:
        names = list(self.pieces)
        rows = []
        for name in names:  # each row's bytes are let go as soon as its text exists
            rows.append(self.pieces[name].decode("utf-8"))
            self.pieces[name] = bytearray()
        return Records(names=names, rows=rows, lines=[self.first_line[n] for n in names], format=format_name,
                       source=self.budget.source)


def encode_aligned(records: Records) -> Msa:
    """Encode equal-length rows (Stockholm, aligned FASTA, Clustal).

    Columns where the query has a gap are insertions: their residues become deletion counts of
    the next query column, exactly as a conversion to a3m would write them.
    """
    _check_ascii(records)
    rows = records.rows
    width = len(rows[0])
    for name, row, line in zip(records.names, rows, records.lines):
        if len(row) != width and records.format == "fasta":
            raise MsaError(
                f"{records.source}: line {line}: row '{name}' has {len(row)} columns, the query "
                f"'{records.names[0]}' has {width}; aligned FASTA rows must all have the same length"
            )
        if len(row) != width:
            raise MsaError(
                f"{records.source}: line {line}: row '{name}' has {len(row)} alignment columns but "
                f"the query '{records.names[0]}' has {width}; all rows of an aligned "
                f"{records.format} file must have the same length"
            )
    query = np.frombuffer(rows[0].encode("ascii"), dtype=np.uint8)
    keep = _IS_LETTER[query]
    query_sequence = query[keep].tobytes().decode("ascii").upper()
    _query_checks(records, query_sequence, _RESIDUE_TABLE, INVALID_ID)
    kept_columns = np.flatnonzero(keep)
    inserted_columns = np.flatnonzero(~keep)
    # Deletion count of kept column k: inserted residues between the previous kept column and k,
    # i.e. a difference of the running count over insert columns at the boundaries.
    boundaries = np.searchsorted(inserted_columns, kept_columns)
    matrix = np.empty((len(rows), len(kept_columns)), dtype=np.uint8)
    deletions = np.empty((len(rows), len(kept_columns)), dtype=np.int32)
    step = max(1, _CHARS_PER_CHUNK // width)
    for start in range(0, len(rows), step):
        stop = start + step
        text = "".join(rows[start:stop]).encode("ascii").translate(_RESIDUE_TABLE)
        if bytes([INVALID_ID]) in text:
            position = text.index(bytes([INVALID_ID]))
            _raise_illegal_character(records, start + position // width, position % width)
        codes = np.frombuffer(text, dtype=np.uint8).reshape(-1, width)
        matrix[start:stop] = codes[:, kept_columns]
        inserted = codes[:, inserted_columns] < GAP_ID  # residues (ids 0-20) in insert columns
        counts = np.zeros((len(codes), len(inserted_columns) + 1), dtype=np.int32)
        np.cumsum(inserted, axis=1, dtype=np.int32, out=counts[:, 1:])
        _running_to_counts(counts[:, boundaries], 0, deletions[start:stop])
    return _build(records, matrix, deletions, query_sequence)


def _chunks(rows: Sequence[str]) -> Iterator[tuple[int, int]]:
    """(start, stop) of consecutive rows holding about _CHARS_PER_CHUNK characters (at least one row)."""
    start, size = 0, 0
    for index, row in enumerate(rows):
        size += len(row)
        if size >= _CHARS_PER_CHUNK:
            yield start, index + 1
            start, size = index + 1, 0
    if start < len(rows):
        yield start, len(rows)


def encode_a3m(records: Records) -> Msa:
    """Encode a3m/a2m rows: upper case and '-' are query columns; lower case and '.' are insertions.
    A column where the query itself has '-' (an a2m whose first row skips a match state) is an insertion
    column, as in aligned FASTA: its residues become deletion counts of the next query column."""
    _check_ascii(records)
    query = np.frombuffer(records.rows[0].encode("ascii"), dtype=np.uint8)
    query_match = (query < ord("a")) & (query != ord("."))
    query_sequence = query[query_match & _IS_LETTER[query]].tobytes().decode("ascii").upper()
    _query_checks(records, query_sequence, _A3M_KINDS, _A3M_INVALID)
    columns = int(query_match.sum())

    def wrong(index: int, count: int) -> MsaError:
        return MsaError(f"{records.source}: line {records.lines[index]}: row '{records.names[index]}' has {count} "
                        f"match columns (upper-case letters and '-') but the query '{records.names[0]}' has "
                        f"{columns}; a3m rows must match the query length")

    matrix, deletions = a3m_matrices(records, columns, np.flatnonzero(query[query_match] == ord("-")), wrong)
    return _build(records, matrix, deletions, query_sequence)


def a3m_matrices(records: Records, columns: int, dropped: np.ndarray,
                 wrong: Callable[[int, int], MsaError]) -> tuple[np.ndarray, np.ndarray]:
    """(residue ids, deletion counts) of a3m rows that each have `columns` match columns (upper case and
    '-'; `wrong(row, count)` is the error for one that has not), less the `dropped` ones: a residue there
    counts as an insertion before the next column kept."""
    _check_ascii(records)
    rows = records.rows
    length = columns - len(dropped)
    matrix = np.empty((len(rows), length), dtype=np.uint8)
    deletions = np.empty((len(rows), length), dtype=np.int32)
    for start, stop in _chunks(rows):
        chunk_rows = rows[start:stop]
        text = "".join(chunk_rows).encode("ascii")
        kinds = text.translate(_A3M_KINDS)
        row_lengths = np.fromiter(map(len, chunk_rows), dtype=np.int64, count=len(chunk_rows))
        row_starts = np.concatenate([[0], np.cumsum(row_lengths)[:-1]])
        if bytes([_A3M_INVALID]) in kinds:
            position = kinds.index(bytes([_A3M_INVALID]))
            row = int(np.searchsorted(row_starts, position, side="right")) - 1
            _raise_illegal_character(records, start + row, position - int(row_starts[row]))
        kind = np.frombuffer(kinds, dtype=np.uint8)
        match = kind == _A3M_MATCH
        match_counts = np.add.reduceat(match, row_starts, dtype=np.int32)
        wrong_rows = np.flatnonzero(match_counts != columns)
        if wrong_rows.size:
            raise wrong(start + int(wrong_rows[0]), int(match_counts[wrong_rows[0]]))
        if len(dropped):
            kind = kind.copy()
            moved = np.flatnonzero(match).reshape(-1, columns)[:, dropped].ravel()
            codes = np.frombuffer(text, dtype=np.uint8)[moved]
            kind[moved] = np.where(_IS_LETTER[codes], _A3M_INSERTION, _A3M_PAD)
            match = kind == _A3M_MATCH
        insertion = kind == _A3M_INSERTION
        matrix[start:stop] = np.frombuffer(text.translate(_RESIDUE_TABLE), dtype=np.uint8)[match].reshape(-1, length)
        counts = np.cumsum(insertion, dtype=np.int32)
        at_match = counts[match].reshape(-1, length)
        # The running count carries over from the previous row: subtract its value at the row start.
        row_base = np.where(row_starts > 0, counts[np.maximum(row_starts - 1, 0)], 0)
        _running_to_counts(at_match, row_base, deletions[start:stop])
    return matrix, deletions


def from_sequences(sequences: Sequence[str], names: Sequence[str] | None = None) -> Msa:
    """Build an Msa from a3m-style strings held in memory (mainly for tests and examples)."""
    names = list(names) if names is not None else [f"seq{i}" for i in range(len(sequences))]
    records = Records(names=names, rows=list(sequences), lines=list(range(1, len(sequences) + 1)),
                      format="a3m", source="<memory>")
    return encode_a3m(records)
