"""ComplexMsa -> input features of a complex, in AlphaFold-Multimer's form or ColabFold's pTM-complex form."""

from __future__ import annotations

import numpy as np

from alphafold_msa.model.features import FeatureDict, build_features, msa_features
from alphafold_msa.msa.alignment import GAP_ID, Msa
from alphafold_msa.msa.complex import ComplexMsa

# Raw MSA rows are padded to at least this many, so the extra-MSA stack is never empty (as ColabFold).
MIN_MULTIMER_ROWS = 512 + 4


def build_multimer_features(complex_msa: ComplexMsa, templates: dict[str, FeatureDict] | None = None) -> FeatureDict:
    """AlphaFold-Multimer's merged features: per-chain unpaired MSAs block-diagonal, user-paired rows on top;
    `templates` holds the template features of the complex chains (by chain id) that have any.

    Paired rows are taken as given (row i of every chain's paired alignment is one sequence of the
    complex); no species pairing is attempted. Copies of a chain are not paired with each other.
    """
    from alphafold.data import feature_processing, msa_pairing, pipeline_multimer

    chains: dict[str, FeatureDict] = {}
    for index, (chain, copies) in enumerate(zip(complex_msa.chains, complex_msa.copies)):
        features = build_features(chain)
        paired = complex_msa.paired[index] if complex_msa.paired else chain.take([0])
        features.update({f"{key}_all_seq": value for key, value in msa_features(paired).items()})
        for _ in range(copies):
            chain_id = complex_msa.chain_ids[len(chains)]
            chain_features = {**features, **(templates or {}).get(chain_id, {})}
            chains[chain_id] = pipeline_multimer.convert_monomer_features(chain_features, chain_id)
    chains = pipeline_multimer.add_assembly_features(chains)
    feature_processing.process_unmerged_features(chains)
    chain_list = list(chains.values())
    pair_rows = not feature_processing._is_homomer_or_monomer(chain_list)
    for chain_features in chain_list:
        for key in [k for k in chain_features if k.endswith("_all_seq")]:
            chain_features[key] = msa_pairing.pad_features(chain_features[key], key)
        chain_features["num_alignments_all_seq"] = np.asarray(len(chain_features["msa_all_seq"]))
    chain_list = feature_processing.crop_chains(chain_list, msa_crop_size=feature_processing.MSA_CROP_SIZE,
                                                pair_msa_sequences=pair_rows,
                                                max_templates=feature_processing.MAX_TEMPLATES)
    merged = msa_pairing.merge_chain_features(np_chains_list=chain_list, pair_msa_sequences=pair_rows,
                                              max_templates=feature_processing.MAX_TEMPLATES)
    merged = feature_processing.process_final(merged)
    return pipeline_multimer.pad_msa(merged, min_num_seq=MIN_MULTIMER_ROWS)


def concatenated_msa(complex_msa: ComplexMsa) -> Msa:
    """One alignment over all chains (ColabFold's pTM-complex input): the joined query, paired rows
    repeated for each copy, then every chain's unpaired rows with gaps over the other chains."""
    lengths = complex_msa.chain_lengths
    starts = np.cumsum([0, *lengths])
    per_chain = [index for index, copies in enumerate(complex_msa.copies) for _ in range(copies)]
    blocks: list[tuple[list[str], np.ndarray, np.ndarray]] = []
    query = np.concatenate([complex_msa.chains[i].matrix[:1] for i in per_chain], axis=1)
    blocks.append((["query"], query, np.zeros_like(query, dtype=np.int32)))
    if complex_msa.paired:
        rows = [complex_msa.paired[i] for i in per_chain]
        blocks.append((rows[0].names[1:], np.concatenate([r.matrix[1:] for r in rows], axis=1),
                       np.concatenate([r.deletions[1:] for r in rows], axis=1)))
    for position, index in enumerate(per_chain):
        chain = complex_msa.chains[index]
        matrix = np.full((chain.depth - 1, starts[-1]), GAP_ID, dtype=np.uint8)
        deletions = np.zeros(matrix.shape, dtype=np.int32)
        matrix[:, starts[position]:starts[position + 1]] = chain.matrix[1:]
        deletions[:, starts[position]:starts[position + 1]] = chain.deletions[1:]
        blocks.append((chain.names[1:], matrix, deletions))
    return Msa(names=[name for names, _, _ in blocks for name in names],
               matrix=np.concatenate([m for _, m, _ in blocks]), deletions=np.concatenate([d for _, _, d in blocks]),
               query_sequence="".join(complex_msa.sequences), format="complex", source=complex_msa.source)


def build_ptm_complex_features(complex_msa: ComplexMsa, templates: FeatureDict | None = None) -> FeatureDict:
    """Monomer features of the concatenated alignment (and `templates` over it), with residue numbering
    restarting in every chain and `asym_id` telling the chains apart (the fork's pTM models then
    encode chain breaks)."""
    features = build_features(concatenated_msa(complex_msa), templates)
    lengths = complex_msa.chain_lengths
    features["residue_index"] = np.concatenate([np.arange(length) for length in lengths]).astype(np.int32)
    features["asym_id"] = np.concatenate([np.full(length, i) for i, length in enumerate(lengths)]).astype(np.int32)
    return features
