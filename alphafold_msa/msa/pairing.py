"""Pairing the chains of a complex row by row, by species, as AlphaFold-Multimer does, in numpy only.

The rule is `alphafold.data.msa_pairing.pair_sequences` and `reorder_paired_rows`: for every species
key found in at least two chains (the queries have none: they are paired with each other), the rows
of that key are sorted by identity to their chain's query and paired in that order, as many as the
chain with the fewest has; a key with more than 600 rows in a chain is skipped. A chain without the
key gets a gap row. Paired rows come after the queries, those spanning most chains first, then by
the product of their row numbers (rows near the top of each alignment first). Each chain's remaining
rows form its unpaired block. Copies of one chain are not paired with each other.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any, Sequence

import numpy as np

from alphafold_msa.errors import MsaError
from alphafold_msa.msa.alignment import GAP_ID, Msa
from alphafold_msa.msa.complex import ComplexMsa
from alphafold_msa.msa.species import KIND_NAMES, KINDS, apply_pair_keys, chain_keys, key_kind
from alphafold_msa.protocol.schema import PAIRING_METHODS  # by species keys, not at all, or as given

MAX_ROWS_PER_KEY = 600  # as AlphaFold-Multimer: a key this common says little about which rows interact
_EXAMPLE_KEYS = 5
_ROWS_PER_CHUNK = 20_000


@dataclasses.dataclass(frozen=True)
class RowPairs:
    """Paired row numbers, one column per chain (-1: a gap row for that chain), row 0 the queries."""

    rows: np.ndarray
    shared_keys: list[str]  # keys found in at least two chains, sorted
    skipped_keys: list[str]  # those left out for having more than MAX_ROWS_PER_KEY rows in a chain


@dataclasses.dataclass(frozen=True)
class ChainKeys:
    """What one chain's rows carry, counted over its rows as read (before pairing moves any of them to the
    paired rows): how many have a species key, of which kinds."""

    query_name: str
    rows: int  # rows besides the query, as read
    rows_with_key: int  # of those `rows`
    key_kinds: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Pairing:
    """How a complex's paired rows came about: the method, each chain's keys, the keys shared, and why."""

    method: str  # species, none or file
    chains: tuple[ChainKeys, ...]
    shared_keys: int
    keys_skipped: int
    example_keys: tuple[str, ...]
    paired_rows: int
    note: str
    # The chain alignments before their paired rows were taken out (species pairing only): what a job carries.
    inputs: tuple[Msa, ...] | None = dataclasses.field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "paired_rows": self.paired_rows, "shared_keys": self.shared_keys,
                "keys_skipped": self.keys_skipped, "example_keys": list(self.example_keys),
                "chains": [chain.to_dict() for chain in self.chains], "note": self.note}


def query_identity(msa: Msa) -> np.ndarray:
    """Per row, the columns identical to the query (AlphaFold-Multimer's 'msa_similarity' times the length)."""
    counts = np.empty(msa.depth, dtype=np.int64)
    query = msa.matrix[0]
    for start in range(0, msa.depth, _ROWS_PER_CHUNK):
        counts[start:start + _ROWS_PER_CHUNK] = np.count_nonzero(
            msa.matrix[start:start + _ROWS_PER_CHUNK] == query, axis=1)
    return counts


def _rows_by_key(keys: np.ndarray, identity: np.ndarray) -> dict[str, np.ndarray]:
    """Each key's rows, most identical to the query first (ties: the earlier row first)."""
    keyed = np.flatnonzero(keys != "")
    if not keyed.size:
        return {}
    # Keys stay Python strings (a fixed-width array would take the longest key's width for every row).
    names = sorted(set(keys[keyed]))
    code_of = {name: code for code, name in enumerate(names)}
    codes = np.fromiter((code_of[key] for key in keys[keyed]), dtype=np.int64, count=keyed.size)
    order = np.lexsort((keyed, -identity[keyed], codes))
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    return dict(zip(names, np.split(keyed[order], bounds)))


def pair_rows(keys: Sequence[np.ndarray], identities: Sequence[np.ndarray]) -> RowPairs:
    """The paired rows of chains whose rows carry `keys` ('' for none) and `identities` to their queries."""
    groups = [_rows_by_key(chain, identity) for chain, identity in zip(keys, identities)]
    by_chains: dict[int, list[np.ndarray]] = {}
    shared, skipped = [], []
    for key in sorted(set().union(*groups)):
        present = [group.get(key) for group in groups]
        found = [rows for rows in present if rows is not None]
        if len(found) < 2:
            continue
        shared.append(key)
        if max(map(len, found)) > MAX_ROWS_PER_KEY:
            skipped.append(key)
            continue
        take = min(map(len, found))
        block = [rows[:take] if rows is not None else np.full(take, -1) for rows in present]
        by_chains.setdefault(len(found), []).append(np.stack(block, axis=1))
    blocks = [np.zeros((1, len(keys)), dtype=np.int64)]
    for count in sorted(by_chains, reverse=True):
        rows = np.concatenate(by_chains[count]).astype(np.int64)
        blocks.append(rows[np.argsort(np.abs(np.prod(rows, axis=1)), kind="stable")])
    return RowPairs(rows=np.concatenate(blocks), shared_keys=shared, skipped_keys=skipped)


def _paired_block(chain: Msa, rows: np.ndarray) -> Msa:
    """The chain's side of the paired rows; -1 becomes a row of gaps."""
    taken = chain.take(np.maximum(rows, 0))
    gaps = rows < 0
    taken.matrix[gaps] = GAP_ID
    taken.deletions[gaps] = 0
    names = [name if row >= 0 else "gap" for name, row in zip(taken.names, rows)]
    descriptions = [text if row >= 0 else "" for text, row in zip(taken.descriptions or [""] * len(rows), rows)]
    return dataclasses.replace(taken, names=names, descriptions=descriptions)


def _remaining(chain: Msa, rows: np.ndarray) -> Msa:
    """The chain without the rows it gave to the paired block (its query stays first)."""
    used = np.zeros(chain.depth, dtype=bool)
    used[rows[rows > 0]] = True
    return chain.take(np.flatnonzero(~used)) if used.any() else chain


def _chain_keys(chain: Msa, keys: np.ndarray) -> ChainKeys:
    kinds = Counter(map(key_kind, keys[keys != ""]))
    return ChainKeys(query_name=chain.query_name, rows=chain.depth - 1, rows_with_key=sum(kinds.values()),
                     key_kinds={kind: kinds[kind] for kind in KINDS if kind in kinds})


def is_homomer(complex_msa: ComplexMsa) -> bool:
    """True when every chain has the same sequence (copies of one chain, or one alignment given twice)."""
    return len({chain.query_sequence for chain in complex_msa.chains}) == 1


def _default_method(complex_msa: ComplexMsa, keys: list[np.ndarray]) -> str:
    """file when paired rows were given; species when at least two chains carry keys; else none."""
    if complex_msa.paired:
        return "file"
    if is_homomer(complex_msa):
        return "none"
    return "species" if sum(bool((chain != "").any()) for chain in keys) >= 2 else "none"


def _check_method(method: str, complex_msa: ComplexMsa, pair_keys: dict[str, str] | None) -> None:
    if method not in PAIRING_METHODS:
        raise MsaError(f"pairing '{method}' is not one of {', '.join(PAIRING_METHODS)}")
    if method == "file" and not complex_msa.paired and len(complex_msa.chains) > 1:
        raise MsaError("pairing 'file' needs paired rows: give the paired alignment (--paired FILE) or a "
                       "complex a3m with a paired block")
    if method == "species" and complex_msa.paired:
        raise MsaError("pairing 'species' pairs the chains' own rows, but paired rows were given (--paired, or "
                       "the paired block of a complex a3m); use pairing 'file' for those, or leave them out")
    if pair_keys is not None and method != "species":
        raise MsaError(f"pairing keys (--pair-keys) serve pairing by species, but pairing is '{method}'")


def _with_pair_keys(chains: tuple[Msa, ...], pair_keys: dict[str, str]) -> tuple[Msa, ...]:
    """The chains with the key file's keys in their rows' headers; refused when it names no row."""
    keyed = [apply_pair_keys(chain, pair_keys) for chain in chains]
    if not any(count for _, count in keyed):
        example = next(iter(pair_keys))
        raise MsaError(f"none of the {len(pair_keys):,} row names in the pairing keys (e.g. '{example}') is a row "
                       f"of {', '.join(chain.source for chain in chains)}")
    return tuple(chain for chain, _ in keyed)


def pair_complex(complex_msa: ComplexMsa, method: str | None = None,
                 pair_keys: dict[str, str] | None = None) -> ComplexMsa:
    """The complex with its paired rows settled by `method`: 'species' (pair the chains' rows by the
    species keys in their names and headers, plus `pair_keys`: row name -> key), 'file' (the paired rows
    given), 'none' (unpaired, block-diagonal), or by default file when paired rows were given, species
    when at least two chains carry keys, else none. The result records how (`pairing`)."""
    chains = complex_msa.chains if pair_keys is None else _with_pair_keys(complex_msa.chains, pair_keys)
    keys = [chain_keys(chain) for chain in chains]
    chosen = method or _default_method(complex_msa, keys)
    _check_method(chosen, complex_msa, pair_keys)
    homomer = is_homomer(complex_msa)
    pairs = None if homomer else pair_rows(keys, [query_identity(chain) for chain in chains])
    paired, remaining, inputs = complex_msa.paired, chains, None
    if chosen == "none" or homomer:
        paired = None
    elif chosen == "species" and pairs is not None:
        inputs = chains
        columns = pairs.rows.T
        remaining = tuple(_remaining(chain, rows) for chain, rows in zip(chains, columns))
        paired = tuple(_paired_block(chain, rows) for chain, rows in zip(chains, columns)) \
            if len(pairs.rows) > 1 else None
    paired_rows = paired[0].depth - 1 if paired else 0
    report = Pairing(method=chosen, chains=tuple(_chain_keys(chain, k) for chain, k in zip(chains, keys)),
                     shared_keys=len(pairs.shared_keys) if pairs else 0,
                     keys_skipped=len(pairs.skipped_keys) if pairs and chosen == "species" else 0,
                     example_keys=tuple(pairs.shared_keys[:_EXAMPLE_KEYS]) if pairs else (),
                     paired_rows=paired_rows, note="", inputs=inputs)
    report = dataclasses.replace(report, note=pairing_note(report, complex_msa, method is None))
    return dataclasses.replace(complex_msa, chains=remaining, paired=paired, pairing=report)


def pairing_note(report: Pairing, complex_msa: ComplexMsa, defaulted: bool) -> str:
    """One sentence on why the complex is paired as it is."""
    unpaired = "chains unpaired: block-diagonal MSA"
    if is_homomer(complex_msa):
        return ("the chains are copies of one sequence (a homomer), which AlphaFold-Multimer does not pair "
                "with itself: every copy uses the whole alignment")
    if report.method == "file":
        return f"{_count(report.paired_rows, 'paired row')} as given"
    if report.method == "none":
        if not defaulted:
            return f"{unpaired} (pairing 'none')"
        bare = [f"chain {label} ({chain.query_name})" for label, chain in zip(chain_labels(complex_msa), report.chains)
                if not chain.rows_with_key]
        return (f"{unpaired} (no species keys in the row names or headers of {', '.join(bare)}; see the README "
                "on pairing: UniProt names, OX=, TaxID=, key=VALUE or --pair-keys)")
    if report.paired_rows:
        skipped = (f"; {_count(report.keys_skipped, 'key')} skipped for more than {MAX_ROWS_PER_KEY} rows in a chain"
                   if report.keys_skipped else "")
        return (f"paired by species: {_count(report.paired_rows, 'row')} from "
                f"{_count(report.shared_keys - report.keys_skipped, 'key')} found in at least two chains "
                f"(e.g. {', '.join(report.example_keys)}){skipped}")
    return f"{unpaired} (paired by species, but no rows paired: {_why_nothing_paired(report, complex_msa)})"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def chain_labels(complex_msa: ComplexMsa) -> list[str]:
    """The chain IDs of each distinct chain ('A', or 'A,B' for two copies)."""
    ids = iter(complex_msa.chain_ids)
    return [",".join(next(ids) for _ in range(copies)) for copies in complex_msa.copies]


def _why_nothing_paired(report: Pairing, complex_msa: ComplexMsa) -> str:
    if report.keys_skipped:
        return f"every shared key has more than {MAX_ROWS_PER_KEY} rows in a chain"
    kinds = [set(chain.key_kinds) for chain in report.chains if chain.key_kinds]
    if len(kinds) >= 2 and not set.intersection(*kinds):
        described = "; ".join(f"chain {label}: {', '.join(KIND_NAMES[k] for k in chain.key_kinds)}"
                              for label, chain in zip(chain_labels(complex_msa), report.chains) if chain.key_kinds)
        return f"the chains carry keys of different kinds, which never match ({described})"
    if len(kinds) < 2:
        return "fewer than two chains have rows with a species key"
    return "no key is found in two chains"
