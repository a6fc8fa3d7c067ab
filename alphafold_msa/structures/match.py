"""Which template chain covers which query residues: pairwise alignment of template chains to the query.

Alignment: Biopython's PairwiseAligner, BLOSUM62, gap opening -11 and extension -1 (BLAST's protein
defaults), with free end gaps on both sequences (a semi-global, "overlap" alignment): a template may
cover part of the query, and the query part of the template, without penalty, while gaps inside
the aligned region are paid for. A template is used only where at least MIN_ALIGNED residues are
aligned and their identity reaches the floor for that many residues: Rost's curve (1999), the
identity above which two proteins aligned over L residues share their fold (about 50% for 40
residues, 29% for 100, 22% for 200), and never below MIN_IDENTITY. Below it, a pairwise alignment
of sequences is mostly noise and the template would mislead the network.
Client-safe: Biopython and the standard library only.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

from alphafold_msa.errors import TemplateError
from alphafold_msa.protocol.schema import MAX_TEMPLATES
from alphafold_msa.protocol.spec import TemplateSpec
from alphafold_msa.structures.read import TemplateStructure, read_structure

# The alignment work one job may ask for (about 5 s of CPU at most): distinct (query chain, template chain)
# sequence pairs, and residue pairs (query length times template chain length) over them all.
MAX_CHAIN_PAIRS = 1_000
MAX_RESIDUE_PAIRS = 250_000_000
MIN_ALIGNED = 10
MIN_IDENTITY = 0.20
_ALPHABET = set("ARNDCQEGHILKMFPSTWYVBZX")


@dataclasses.dataclass(frozen=True)
class TemplateMatch:
    """One template chain aligned to one query chain: `mapping` takes query positions (0-based, within
    that chain) to positions in the template chain's observed residues."""

    structure: TemplateStructure
    index: int  # which template (0-based, in the order given)
    chain: str
    query_chain: str | None
    mapping: dict[int, int]
    score: float
    identical: int

    @property
    def aligned(self) -> int:
        return len(self.mapping)

    @property
    def identity(self) -> float:
        return self.identical / self.aligned if self.aligned else 0.0

    @property
    def query_range(self) -> tuple[int, int]:
        """First and last query residue covered (1-based, within the query chain)."""
        return min(self.mapping) + 1, max(self.mapping) + 1

    def record(self) -> dict:
        """What the summary says about this template."""
        entry = {"file": self.structure.name, "chain": self.chain, "aligned_residues": self.aligned,
                 "identity": round(self.identity, 3), "query_range": list(self.query_range)}
        if self.query_chain is not None:
            entry["query_chain"] = self.query_chain
        return entry

    def describe(self) -> str:
        """'1A7G.cif chain E -> residues 1-82: 82 aligned, 100.0% identical'."""
        target = f" -> chain {self.query_chain}" if self.query_chain else " ->"
        start, end = self.query_range
        return (f"{self.structure.name} chain {self.chain}{target} residues {start}-{end}: "
                f"{self.aligned} aligned, {100 * self.identity:.1f}% identical")


def _aligner():
    from Bio.Align import PairwiseAligner, substitution_matrices

    aligner = PairwiseAligner(mode="global", substitution_matrix=substitution_matrices.load("BLOSUM62"))
    aligner.open_gap_score, aligner.extend_gap_score = -11.0, -1.0
    aligner.end_gap_score = 0.0
    return aligner


def _clean(sequence: str) -> str:
    return "".join(c if c in _ALPHABET else "X" for c in sequence.upper())


def align(query: str, template: str, aligner=None) -> tuple[float, dict[int, int], int]:
    """(score, query position -> template position, identical pairs) of the best alignment."""
    aligner = aligner or _aligner()
    query, template = _clean(query), _clean(template)
    alignment = aligner.align(query, template)[0]
    mapping: dict[int, int] = {}
    for (q_start, q_end), (t_start, _) in zip(*alignment.aligned):
        mapping.update({int(q_start) + k: int(t_start) + k for k in range(int(q_end - q_start))})
    identical = sum(1 for q, t in mapping.items() if query[q] == template[t] and query[q] != "X")
    return float(alignment.score), mapping, identical


def identity_floor(aligned: int) -> float:
    """The least identity accepted for `aligned` aligned residues: Rost's curve (which levels off at
    about 21% by 250 residues; longer alignments are held to that), at least MIN_IDENTITY."""
    if aligned < 1:
        return 1.0
    length = min(aligned, 250)
    return min(1.0, max(MIN_IDENTITY, 4.80 * length ** (-0.32 * (1 + math.exp(-length / 1000)))))


def _acceptable(match: TemplateMatch) -> bool:
    return match.aligned >= MIN_ALIGNED and match.identity >= identity_floor(match.aligned)


def _refusal(match: TemplateMatch, single_chain: bool) -> TemplateError:
    target = " the query" if single_chain else f" complex chain {match.query_chain}"
    need = (f"at least {MIN_ALIGNED} aligned residues are needed" if match.aligned < MIN_ALIGNED else
            f"{match.aligned} aligned residues need {100 * identity_floor(match.aligned):.0f}% identity")
    return TemplateError(
        f"{match.structure.name}: chain {match.chain} overlaps{target} too little to be used as a template "
        f"({match.aligned} residues aligned at {100 * match.identity:.1f}% identity; {need})")


def _chain_pairs(template: TemplateSpec, structure: TemplateStructure,
                 targets: dict[str, str]) -> list[tuple[str, str]]:
    """The (template chain, query chain) pairs to align for `template`; a TemplateError naming the file
    when its chain or query chain is not there."""
    if template.chain is not None and template.chain not in structure.chains:
        raise TemplateError(f"{template.name}: no protein chain '{template.chain}'; its protein chains are "
                            f"{', '.join(structure.chains)}")
    if template.query_chain is not None and len(targets) == 1:
        raise TemplateError(f"{template.name}: @{template.query_chain} assigns a template to a complex chain, "
                            f"but the query is a single chain")
    if template.query_chain is not None and template.query_chain not in targets:
        raise TemplateError(f"{template.name}: @{template.query_chain} names no chain of the complex; its chains "
                            f"are {', '.join(targets)}")
    chains = [template.chain] if template.chain is not None else list(structure.chains)
    wanted = [template.query_chain] if template.query_chain is not None else list(targets)
    return [(chain, target) for chain in chains for target in wanted]


def check_alignment_work(pairs: Sequence[tuple[str, str]]) -> None:
    """Refuse, before any is aligned, more distinct (query, template chain) sequence pairs than
    MAX_CHAIN_PAIRS or more residue pairs than MAX_RESIDUE_PAIRS in all."""
    distinct = set(pairs)
    residue_pairs = sum(len(query) * len(template) for query, template in distinct)
    if len(distinct) > MAX_CHAIN_PAIRS or residue_pairs > MAX_RESIDUE_PAIRS:
        raise TemplateError(
            f"the templates' chains would be aligned to the query chains {len(distinct):,} times ({residue_pairs:,} "
            f"residue pairs); a job may align at most {MAX_CHAIN_PAIRS:,} chain pairs and {MAX_RESIDUE_PAIRS:,} "
            "residue pairs: name the template chain and the complex chain it is for (FILE:CHAIN@CHAIN)")


class _Aligner:
    """Biopython's aligner with a cache: identical chains (copies in a complex, a homo-oligomer template)
    are aligned once."""

    def __init__(self) -> None:
        self.aligner = _aligner()
        self.done: dict[tuple[str, str], tuple[float, dict[int, int], int]] = {}

    def match(self, structure: TemplateStructure, index: int, chain: str, target: str, query: str) -> TemplateMatch:
        sequences = (query, structure.chains[chain].sequence)
        if sequences not in self.done:
            self.done[sequences] = align(*sequences, self.aligner)
        score, mapping, identical = self.done[sequences]
        return TemplateMatch(structure, index, chain, target, mapping, score, identical)


def _choose(pairs: list[TemplateMatch], order: Sequence[str | None]) -> list[TemplateMatch]:
    """Best-aligned pairs first: each template chain goes to the query chain it aligns best with that is
    still free, and each query chain gets at most one chain of this file (copies of a chain in turn);
    a TemplateError when no pair is good enough. Returned in the query chains' `order`."""
    chosen: dict[str | None, TemplateMatch] = {}
    for match in sorted(pairs, key=lambda m: -m.score):
        taken = match.chain in {m.chain for m in chosen.values()}
        if _acceptable(match) and match.query_chain not in chosen and not taken:
            chosen[match.query_chain] = match
    single_chain = len(order) == 1
    if not chosen:
        raise _refusal(max(pairs, key=lambda m: m.score), single_chain)
    return [dataclasses.replace(m, query_chain=None if single_chain else m.query_chain)
            for m in sorted(chosen.values(), key=lambda m: order.index(m.query_chain))]


def query_targets(msa) -> dict[str, str]:
    """The query chains templates are matched to: {'A': query} for one alignment (an `Msa`), chain id
    -> sequence for a complex (a `ComplexMsa`, copies included)."""
    if hasattr(msa, "chain_ids"):
        return dict(zip(msa.chain_ids, msa.sequences))
    return {"A": msa.query_sequence}


def match_templates(templates: Sequence[TemplateSpec], targets: dict[str, str]) -> list[TemplateMatch]:
    """Every template's chains matched to the query chains `targets` (chain id -> sequence; one entry for a
    single chain), at most one chain of a file per query chain; at most MAX_TEMPLATES templates. Every file is
    read and the alignment work checked (check_alignment_work) before any chain is aligned."""
    if len(templates) > MAX_TEMPLATES:
        raise TemplateError(f"{len(templates)} templates given; AlphaFold2 uses at most {MAX_TEMPLATES}")
    structures = [read_structure(template.text, template.name, template.format) for template in templates]
    plans = [_chain_pairs(template, structure, targets) for template, structure in zip(templates, structures)]
    check_alignment_work([(targets[target], structure.chains[chain].sequence)
                          for structure, plan in zip(structures, plans) for chain, target in plan])
    aligner = _Aligner()
    return [match for index, (structure, plan) in enumerate(zip(structures, plans))
            for match in _choose([aligner.match(structure, index, chain, target, targets[target])
                                  for chain, target in plan], list(targets))]


def parse_template_argument(text: str) -> tuple[str, str | None, str | None]:
    """--template FILE[:CHAIN][@QUERY_CHAIN] -> (file, chain or None, query chain or None).

    A path that exists as given is taken whole, so file names containing ':' or '@' still work.
    """
    from pathlib import Path

    if Path(text).is_file():
        return text, None, None
    path, target = text, None
    if "@" in text:
        path, target = text.rsplit("@", 1)
    chain = None
    if not Path(path).is_file() and ":" in path:
        path, chain = path.rsplit(":", 1)
    if chain == "" or target == "":
        raise TemplateError(f"--template {text}: expected FILE, FILE:CHAIN or FILE:CHAIN@COMPLEX_CHAIN")
    return path, chain, target
