"""Template features from matched template chains, built by the fork's own featurization.

Each matched chain goes through `alphafold.data.templates._extract_template_features` (atom
positions and masks with `_get_atom_positions`' rules: atom37 order, MSE's selenium as SD,
arginine NH1/NH2 naming fixed; one-hot `template_aatype`, '-' where the query is not covered),
with the observed residues of the chain as the template's sequence.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from alphafold_msa.errors import TemplateError
from alphafold_msa.model.features import FeatureDict
from alphafold_msa.structures.match import TemplateMatch

_ROW_KEYS = ("template_all_atom_positions", "template_all_atom_masks", "template_aatype")


def chain_features(match: TemplateMatch, query_sequence: str) -> FeatureDict:
    """One template chain's features over `query_sequence` (the query chain it was aligned to)."""
    from alphafold.data import mmcif_parsing
    from alphafold.data import templates as af_templates

    chain = match.structure.chains[match.chain]
    residues = {
        index: mmcif_parsing.ResidueAtPosition(
            position=mmcif_parsing.ResiduePosition(chain_id=match.chain, residue_number=number, insertion_code=icode),
            name=name, is_missing=False, hetflag=hetflag)
        for index, ((hetflag, number, icode), name) in enumerate(zip(chain.residue_ids, chain.residue_names))}
    mmcif = mmcif_parsing.MmcifObject(
        file_id=match.structure.name, header={}, structure=match.structure.model,
        chain_to_seqres={match.chain: chain.sequence}, seqres_to_structure={match.chain: residues}, raw_string=None)
    try:
        features, _ = af_templates._extract_template_features(
            mmcif, match.structure.name, match.mapping, chain.sequence, query_sequence, match.chain,
            kalign_binary_path="")
    except af_templates.Error as error:
        raise TemplateError(f"{match.structure.name} chain {match.chain}: cannot be used as a template "
                            f"({error})") from None
    return {key: np.asarray(features[key], np.float32) for key in _ROW_KEYS}


def empty_row(length: int) -> FeatureDict:
    """A template row that covers nothing: zero positions and masks, '-' (gap) residues."""
    from alphafold.common import residue_constants

    gaps = residue_constants.sequence_to_onehot("-" * length, residue_constants.HHBLITS_AA_TO_ID)
    return {"template_all_atom_positions": np.zeros((length, residue_constants.atom_type_num, 3), np.float32),
            "template_all_atom_masks": np.zeros((length, residue_constants.atom_type_num), np.float32),
            "template_aatype": np.asarray(gaps, np.float32)}


def template_rows(matches: Sequence[TemplateMatch], chains: dict[str | None, tuple[int, str]],
                  length: int) -> FeatureDict:
    """Monomer-form template features over a query of `length` residues: one row per template file,
    each matched chain placed at its query chain's offset (`chains`: query chain -> (offset, sequence);
    the key None for a single chain)."""
    indices = sorted({m.index for m in matches})
    rows = {index: empty_row(length) for index in indices}
    names: dict[int, list[str]] = {index: [] for index in indices}
    identical = {index: 0 for index in indices}
    for match in matches:
        offset, sequence = chains[match.query_chain]
        for key, value in chain_features(match, sequence).items():
            rows[match.index][key][offset:offset + len(sequence)] = value
        names[match.index].append(f"{match.structure.name}_{match.chain}")
        identical[match.index] += match.identical
    return {
        **{key: np.stack([rows[i][key] for i in indices]) for key in _ROW_KEYS},
        # AlphaFold orders database hits by HHsearch's summed probabilities; here, identical residues.
        "template_sum_probs": np.array([[identical[i]] for i in indices], np.float32),
        "template_domain_names": np.array(["+".join(names[i]).encode() for i in indices], dtype=object),
    }


def monomer_templates(matches: Sequence[TemplateMatch], sequence: str) -> FeatureDict:
    """Template features of a single-chain query."""
    return template_rows(matches, {None: (0, sequence)}, len(sequence))


def ptm_complex_templates(matches: Sequence[TemplateMatch], chain_ids: Sequence[str],
                          sequences: Sequence[str]) -> FeatureDict:
    """Template features of a pTM complex (chains concatenated): each template chain at its complex
    chain's place, one row per template file."""
    offsets = np.cumsum([0, *map(len, sequences)])
    chains: dict[str | None, tuple[int, str]] = {
        chain: (int(offset), sequence) for chain, offset, sequence in zip(chain_ids, offsets, sequences)}
    return template_rows(matches, chains, int(offsets[-1]))


def multimer_templates(matches: Sequence[TemplateMatch], chain_ids: Sequence[str],
                       sequences: Sequence[str]) -> dict[str, FeatureDict]:
    """AlphaFold-Multimer's per-chain template features, for the complex chains templates cover."""
    out = {}
    for chain, sequence in zip(chain_ids, sequences):
        mine = [m for m in matches if m.query_chain == chain]
        if mine:
            out[chain] = template_rows(mine, {chain: (0, sequence)}, len(sequence))
    return out
