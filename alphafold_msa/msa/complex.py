"""Alignments of complexes: one alignment per distinct chain, copy numbers, and optional paired rows.

Two ways in, one `ComplexMsa` out:
- ColabFold's complex a3m: a first line `#len1,len2,...<TAB>copies1,copies2,...`, the query line
  (the chains' queries concatenated), paired rows spanning several chains, then each chain's
  unpaired rows padded with gaps over the other chains (`parse_colabfold_complex`);
- one alignment per chain in any format, plus an optional paired alignment: either one file whose
  query is the chains' queries concatenated, or one file per chain whose rows pair up by position
  (`assemble_complex`).
"""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np

from alphafold_msa.errors import MsaError
from alphafold_msa.msa.alignment import GAP_ID, Msa, Records, a3m_matrices, check_query
from alphafold_msa.msa.fasta import read_records
from alphafold_msa.msa.limits import ReadBudget

if TYPE_CHECKING:
    from alphafold_msa.msa.pairing import Pairing

CHAIN_IDS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
MAX_CHAINS = len(CHAIN_IDS)  # one chain ID each, as PDB and mmCIF output label them
_MAX_HEADER_DIGITS = 9
_HEADER = re.compile(r"#\s*(\d+(?:,\d+)*)\t(\d+(?:,\d+)*)\s*$")


@dataclasses.dataclass(frozen=True)
class ComplexMsa:
    """A complex: each distinct chain's alignment (query first), its copy number, and paired rows.

    `paired`, when present, holds one alignment per distinct chain with equal depth: row i of each
    is one paired sequence of the complex. Chains are labelled A, B, ... in this order, copies
    of a chain next to each other. `pairing`, once settled (`msa.pairing.pair_complex`), says how the
    paired rows came about; `chains` then hold each chain's rows not in the paired block.
    """

    chains: tuple[Msa, ...]
    copies: tuple[int, ...]
    paired: tuple[Msa, ...] | None
    source: str
    pairing: Pairing | None = None

    @property
    def lengths(self) -> list[int]:
        """Residues of each distinct chain."""
        return [chain.length for chain in self.chains]

    @property
    def chain_lengths(self) -> list[int]:
        """Residues of every chain of the complex, copies included, in chain-ID order."""
        return [chain.length for chain, copies in zip(self.chains, self.copies) for _ in range(copies)]

    @property
    def length(self) -> int:
        """Residues of the whole complex."""
        return sum(chain.length * copies for chain, copies in zip(self.chains, self.copies))

    @property
    def query_name(self) -> str:
        return "+".join(chain.query_name for chain in self.chains)

    @property
    def num_chains(self) -> int:
        return sum(self.copies)

    @property
    def chain_ids(self) -> list[str]:
        return list(CHAIN_IDS[: self.num_chains])

    @property
    def sequences(self) -> list[str]:
        """Query sequence of every chain, copies included."""
        return [chain.query_sequence for chain, copies in zip(self.chains, self.copies) for _ in range(copies)]

    @property
    def paired_rows(self) -> int:
        """Paired rows below the joint query (0 without a paired alignment)."""
        return self.paired[0].depth - 1 if self.paired else 0

    @property
    def depth(self) -> int:
        """Rows of the complex's alignment: the query once, then each paired row and each chain's
        other rows (copies of a chain share its rows)."""
        rows = 1 + sum(chain.depth - 1 for chain in self.chains)
        return rows + (self.paired[0].depth - 1 if self.paired else 0)

    def to_colabfold_a3m(self) -> str:
        """The complex as ColabFold's complex a3m (the form jobs carry it in). A pairing by species travels
        as the chains' own rows, unpaired, with their headers: the job pairs them again; headers also travel
        while the pairing is not settled, and are left out once it is settled otherwise."""
        if self.pairing is not None and self.pairing.inputs is not None:
            return dataclasses.replace(self, chains=self.pairing.inputs, paired=None, pairing=None).to_colabfold_a3m()
        headers = self.pairing is None
        lengths = self.lengths
        lines = [f"#{','.join(map(str, lengths))}\t{','.join(map(str, self.copies))}"]
        names = [f"{101 + i}" for i in range(len(self.chains))]
        if len(self.chains) > 1:
            if self.paired:
                rows = [chain.a3m_rows() for chain in self.paired]
                for index in range(self.paired[0].depth):
                    header = "\t".join(chain.names[index] for chain in self.paired) if index else "\t".join(names)
                    lines += [f">{header}", "".join(chain_rows[index] for chain_rows in rows)]
            else:
                lines += [">" + "\t".join(names), "".join(chain.query_sequence for chain in self.chains)]
        for index, chain in enumerate(self.chains):
            before = "-" * sum(lengths[:index])
            after = "-" * sum(lengths[index + 1:])
            for number, (name, row) in enumerate(zip(chain.names, chain.a3m_rows())):
                header = names[index] if number == 0 else \
                    f"{name} {chain.description(number) if headers else ''}".rstrip()
                lines += [f">{header}", before + row + after]
        return "\n".join(lines) + "\n"


def check_chain_count(copies: Sequence[int], where: str) -> None:
    """Refuse more chains (copies counted) than there are chain IDs, before anything is expanded."""
    if sum(copies) > MAX_CHAINS:
        raise MsaError(f"{where}: {sum(copies):,} chains (copies included); a complex may have at most "
                       f"{MAX_CHAINS}, one chain ID each")


def complex_header(first_line: str, source: str = "<input>") -> tuple[list[int], list[int]] | None:
    """(chain lengths, copy numbers) from a ColabFold header line, or None if it is not one."""
    match = _HEADER.match(first_line.rstrip("\r\n"))
    if not match:
        return None
    numbers = [match.group(1).split(","), match.group(2).split(",")]
    if any(len(number) > _MAX_HEADER_DIGITS for group in numbers for number in group):
        raise MsaError(f"{source}: line 1: a chain length or copy number in ColabFold's complex header has more than "
                       f"{_MAX_HEADER_DIGITS} digits")
    return [int(x) for x in numbers[0]], [int(x) for x in numbers[1]]


def is_complex_header(first_line: str, source: str = "<input>") -> bool:
    """True for a ColabFold header that describes more than one chain (a complex, not a monomer)."""
    header = complex_header(first_line, source)
    return header is not None and (len(header[0]) > 1 or header[1][0] > 1)


def parse_colabfold_complex(lines: Iterable[tuple[int, str]], source: str, budget: ReadBudget) -> ComplexMsa:
    """Read ColabFold's complex a3m (numbered lines, header first) within `budget`; the complex's length
    is checked from the header, before any row is read."""
    lines = iter(lines)
    number, first = next(lines, (1, ""))
    header = complex_header(first, source)
    if header is None:
        raise MsaError(f"{source}: line {number}: expected ColabFold's complex header '#len1,len2,...<TAB>copies1,"
                       f"copies2,...' (e.g. '#93,87\\t1,1'), found {first[:40]!r}")
    lengths, copies = header
    if len(lengths) != len(copies):
        raise MsaError(f"{source}: line {number}: {len(lengths)} chain lengths but {len(copies)} copy numbers; "
                       "the header needs one copy number per chain")
    if min(lengths) < 1 or min(copies) < 1:
        raise MsaError(f"{source}: line {number}: chain lengths and copy numbers must be at least 1")
    check_chain_count(copies, f"{source}: line {number}")
    budget.query_length("+".join(map(str, lengths)), sum(n * c for n, c in zip(lengths, copies)))
    records = read_records(lines, source, "a3m", budget, first_is_query=False)
    return _split_chains(records, lengths, copies)


def _split_chains(records: Records, lengths: list[int], copies: list[int]) -> ComplexMsa:
    """The complex's rows encoded once over all its columns, then cut by chain: a row with residues in two
    or more chains is a paired row (the first one the joined query), a row with residues in one chain is
    that chain's; each chain's block opens with its query, which is not repeated."""
    source, total = records.source, sum(lengths)

    def wrong(index: int, count: int) -> MsaError:
        return MsaError(f"{source}: line {records.lines[index]}: row '{records.names[index]}' has {count} aligned "
                        f"columns, expected {total} (chains of {'+'.join(map(str, lengths))} residues per the header "
                        f"on line 1)")

    matrix, deletions = a3m_matrices(records, total, np.empty(0, dtype=np.int64), wrong)
    bounds = np.cumsum([0, *lengths])
    has_residues = np.stack([(matrix[:, a:b] != GAP_ID).any(axis=1) for a, b in zip(bounds, bounds[1:])], axis=1)
    chains_covered = has_residues.sum(axis=1)
    heteromer = len(lengths) > 1
    paired = np.flatnonzero(chains_covered > 1) if heteromer else np.empty(0, dtype=np.int64)
    candidates = paired if heteromer else np.flatnonzero(chains_covered)
    if not candidates.size:
        raise MsaError(f"{source}: line {records.lines[0]}: the first row must be the query of all chains "
                       f"({'+'.join(map(str, lengths))} residues)")
    query = int(candidates[0])
    query_letters = [c for c in records.rows[query] if c.isupper() or c == "-"]

    def block(rows: np.ndarray, chain: int) -> Msa:
        a, b = int(bounds[chain]), int(bounds[chain + 1])
        first = int(rows[0])
        sequence = "".join(query_letters[a:b])
        name = records.names[first]
        if "-" in sequence:
            raise MsaError(f"{source}: line {records.lines[first]}: the query of chain {chain + 1} has gaps in its "
                           f"{b - a} columns; ColabFold's header gives it {b - a} residues, which its query row must "
                           "fill")
        check_query(source, name, records.lines[first], sequence, chain + 1)
        descriptions = None if records.descriptions is None else [records.descriptions[i] for i in rows]
        return Msa(names=[records.names[i] for i in rows], matrix=matrix[rows, a:b], deletions=deletions[rows, a:b],
                   query_sequence=sequence, format="a3m", source=source, descriptions=descriptions)

    chains = []
    for chain, (a, b) in enumerate(zip(bounds, bounds[1:])):
        own = np.flatnonzero(has_residues[:, chain] & (chains_covered == 1))
        same = own.size and np.array_equal(matrix[own[0], a:b], matrix[query, a:b]) and \
            np.array_equal(deletions[own[0], a:b], deletions[query, a:b])
        rows = own[1:] if same else own  # each chain's block opens with its query
        chains.append(block(np.concatenate([[query], rows]).astype(np.int64), chain))
    paired_msas = tuple(block(paired, chain) for chain in range(len(lengths))) if paired.size > 1 else None
    return ComplexMsa(chains=tuple(chains), copies=tuple(copies), paired=paired_msas, source=source)


def assemble_complex(chains: Sequence[Msa], copies: Sequence[int] | None = None,
                     paired: Sequence[Msa] | None = None) -> ComplexMsa:
    """A complex from one alignment per distinct chain, copy numbers (default 1 each) and an optional
    paired alignment: one whose query is the chains' queries concatenated, or one per chain."""
    chains = tuple(chains)
    copies = tuple(copies) if copies is not None else (1,) * len(chains)
    sources = ", ".join(chain.source for chain in chains)
    if len(copies) != len(chains):
        raise MsaError(f"{len(copies)} copy numbers for {len(chains)} chain alignments ({sources}); "
                       "give one copy number per alignment, e.g. --copies 2,1")
    if min(copies) < 1:
        raise MsaError(f"copy numbers must be at least 1, got {','.join(map(str, copies))}")
    check_chain_count(copies, sources)
    paired_msas = _split_paired(chains, list(paired)) if paired else None
    if paired_msas and len(chains) == 1:
        paired_msas = None  # copies of one chain are not paired (as in AlphaFold-Multimer)
    return ComplexMsa(chains=chains, copies=copies, paired=paired_msas, source=sources)


def _split_paired(chains: tuple[Msa, ...], paired: list[Msa]) -> tuple[Msa, ...]:
    queries = [chain.query_sequence for chain in chains]
    if len(paired) == 1 and len(chains) > 1:
        joined = paired[0]
        if joined.query_sequence != "".join(queries):
            raise MsaError(f"{joined.source}: the paired alignment's query ({joined.length} residues) is not the "
                           f"chains' queries concatenated ({'+'.join(str(len(q)) for q in queries)} residues, "
                           "in the order the chain alignments were given)")
        bounds = np.cumsum([0, *map(len, queries)])
        return tuple(_columns(joined, a, b) for a, b in zip(bounds, bounds[1:]))
    if len(paired) != len(chains):
        raise MsaError(f"{len(paired)} paired alignments for {len(chains)} chains; give one paired alignment "
                       "spanning all chains or one per chain")
    for chain, rows in zip(chains, paired):
        if rows.query_sequence != chain.query_sequence:
            raise MsaError(f"{rows.source}: the paired alignment's query differs from the query of {chain.source}")
    depths = {rows.depth for rows in paired}
    if len(depths) > 1:
        raise MsaError(f"paired alignments must have the same number of rows, row i of each being one paired "
                       f"sequence; got {', '.join(f'{rows.source}: {rows.depth}' for rows in paired)}")
    return tuple(paired)


def _columns(msa: Msa, start: int, stop: int) -> Msa:
    return dataclasses.replace(msa, matrix=msa.matrix[:, start:stop], deletions=msa.deletions[:, start:stop],
                               query_sequence=msa.query_sequence[start:stop])

