"""What a prediction was given, as its summary records it: the alignment or complex read and
filtered, the templates matched, and the residues they cover."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from alphafold_msa.model import config as configs
from alphafold_msa.msa import ComplexMsa, Msa
from alphafold_msa.msa.stats import coverage
from alphafold_msa.structures.match import TemplateMatch


def msa_summary(msa: Msa, filtered: Msa, filter_record: dict) -> dict:
    """What was read and what was kept: format, query, depth before and after filtering, gaps, and
    the filtered alignment's coverage (rows with a residue) per query position."""
    return {
        "filter": {"method": "exact duplicates removed, then seeded random subsample", **filter_record},
        "source": msa.source,
        "format": msa.format,
        "query_name": msa.query_name,
        "query_length": msa.length,
        "num_sequences": msa.depth,
        "num_sequences_filtered": filtered.depth,
        "gap_fraction": round(msa.gap_fraction(), 4),
        "coverage": coverage(filtered).tolist(),
    }


def complex_summary(msa: ComplexMsa, filtered: ComplexMsa, complex_mode: str, alignment: Msa) -> dict:
    """The complex's chains (IDs, lengths, copies, depths before and after filtering), the paired rows
    featurized and coverage per position of `alignment`, the filtered chains' alignments concatenated."""
    assert msa.pairing is not None, "a complex's pairing is settled before it is predicted (predict.settle_pairing)"
    chain_ids = iter(msa.chain_ids)
    chains = [{"chain_ids": [next(chain_ids) for _ in range(copies)], "query_name": chain.query_name,
               "query_length": chain.length, "copies": copies, "format": chain.format,
               "num_sequences": chain.depth, "num_sequences_filtered": kept.depth}
              for chain, kept, copies in zip(msa.chains, filtered.chains, msa.copies)]
    summary = {
        "source": msa.source,
        "complex_mode": complex_mode,
        "query_name": msa.query_name,
        "query_length": msa.length,
        "num_sequences": msa.depth,
        "num_sequences_filtered": filtered.depth,
        "chains": chains,
        "paired_rows": filtered.paired_rows,
        "pairing": msa.pairing.to_dict(),
        "coverage": coverage(alignment).tolist(),
    }
    if not msa.paired and len(msa.chains) > 1:
        summary["note"] = msa.pairing.note
    return summary


def template_summary(matches: Sequence[TemplateMatch], models: Sequence[int], preset: str) -> dict:
    """Per template chain: file, chain, aligned residues, identity, query range; and the models using them."""
    return {"templates": [m.record() for m in matches],
            "template_models": [configs.model_name(n, preset) for n in models if n in configs.template_models(preset)],
            "template_warnings": sorted({w for m in matches for w in m.structure.warnings})}


def covered_ranges(matches: Sequence[TemplateMatch], msa: Msa | ComplexMsa) -> list[tuple[int, int]]:
    """The query residues (first, last; 1-based over the whole query or complex) each template chain covers."""
    offsets: dict[str | None, Any] = (dict(zip(msa.chain_ids, np.cumsum([0, *msa.chain_lengths])))
                                      if isinstance(msa, ComplexMsa) else {})
    return [(start + int(offsets.get(m.query_chain, 0)), end + int(offsets.get(m.query_chain, 0)))
            for m in matches for start, end in [m.query_range]]
