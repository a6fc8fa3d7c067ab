"""Msa -> AlphaFold input features (sequence, MSA and empty template features)."""

from __future__ import annotations

import copy
from typing import Any, Callable

import numpy as np

from alphafold_msa.msa import Msa

FeatureDict = dict[str, np.ndarray]


def zero_recycling_inputs(length: int, make: Callable[[tuple, Any], Any] = np.zeros) -> dict[str, Any]:
    """The network's `prev` inputs for the first recycle (float16), built by `make(shape, dtype)`:
    `np.zeros` for arrays, `jax.ShapeDtypeStruct` for abstract shapes."""
    return {"prev_msa_first_row": make((length, 256), np.float16),
            "prev_pair": make((length, length, 128), np.float16),
            "prev_pos": make((length, 37, 3), np.float16)}


def empty_template_features(length: int) -> FeatureDict:
    """One all-zero template, as ColabFold feeds the model when it runs without templates."""
    from alphafold.common import residue_constants

    atoms = residue_constants.atom_type_num
    unknown = residue_constants.sequence_to_onehot("A" * length, residue_constants.HHBLITS_AA_TO_ID)
    return {
        "template_all_atom_positions": np.zeros((1, length, atoms, 3), np.float32),
        "template_all_atom_masks": np.zeros((1, length, atoms), np.float32),
        "template_aatype": np.asarray(unknown, np.float32)[None],
        "template_sum_probs": np.zeros((1, 1), np.float32),
        "template_domain_names": np.array([b"none"], dtype=object),
    }


def build_features(msa: Msa, templates: FeatureDict | None = None) -> FeatureDict:
    """The raw feature dict of AlphaFold's monomer data pipeline, built from an `Msa`, with the
    `templates` features given (see alphafold_msa.model.templates), else one empty template.

    Equal to `pipeline.make_sequence_features` + `pipeline.make_msa_features` on the same
    alignment in a3m form, but encoded with numpy instead of per-residue Python loops.
    """
    from alphafold.data import pipeline

    features = dict(pipeline.make_sequence_features(msa.query_sequence, msa.query_name, msa.length))
    features.update(msa_features(msa))
    features.update(templates or empty_template_features(msa.length))
    return features


def msa_features(msa: Msa) -> FeatureDict:
    """The MSA part of the raw features (`pipeline.make_msa_features`), without deduplication."""
    return {
        "msa": msa.matrix.astype(np.int32),
        "deletion_matrix_int": msa.deletions.astype(np.int32),
        "num_alignments": np.full(msa.length, msa.depth, dtype=np.int32),
        "msa_species_identifiers": np.array([b""] * msa.depth, dtype=object),
    }


UNKNOWN_RESIDUE = 20  # 'X', in HHblits ids (a monomer's msa) and AlphaFold's aatype (a multimer's) alike


def mask_msa_columns(raw: FeatureDict, fraction: float, seed: int) -> FeatureDict:
    """AFsample2's MSA column masking: `fraction` of the alignment's columns (rounded to whole columns), drawn
    from `seed`, set to X (unknown residue) in every row but the first, the query; the raw features unchanged
    when `fraction` is 0."""
    msa = raw["msa"]
    count = round(fraction * msa.shape[1])
    if count == 0:
        return raw
    columns = np.random.default_rng(seed).choice(msa.shape[1], size=count, replace=False)
    masked = msa.copy()
    masked[1:, columns] = UNKNOWN_RESIDUE
    return {**raw, "msa": masked}


def process_features(raw: FeatureDict, network_config, num_recycle: int, random_seed: int,
                     msa_crops: tuple[int, int] | None = None) -> FeatureDict:
    """AlphaFold's input pipeline (MSA clustering, masking, crops) with one copy per recycle.

    `msa_crops` (clusters, extra rows) replaces the config's crops; rows beyond the alignment's
    depth are masked padding either way.
    """
    from alphafold.model import features as af_features

    cfg = copy.deepcopy(network_config)
    cfg.data.common.num_recycle = num_recycle
    cfg.model.num_recycle = num_recycle
    if msa_crops is not None:
        cfg.data.eval.max_msa_clusters, cfg.data.common.max_extra_msa = msa_crops
    return af_features.np_example_to_features(raw, cfg, random_seed=random_seed)


# Host bytes of one seed's processed features, per recycle and residue (benchmarks/feature_processing.py: within 1%
# at 100 residues with 512 + 1,536 rows and at 50 with 512 + 5,120): msa_feat and the cluster masks per cluster
# row, the extra MSA's four arrays per extra row, the per-residue features, and a template's features (four
# templates at most).
BYTES_PER_CLUSTER_CELL = 208
BYTES_PER_EXTRA_CELL = 16
BYTES_PER_RESIDUE = 1024
TEMPLATE_BYTES_PER_RESIDUE = 4 * 1024


def processed_bytes(length: int, msa_crops: tuple[int, int], num_recycle: int, templates: bool = False) -> int:
    """About how many bytes `process_features` gives for one seed of a `length`-residue query with `msa_crops`
    (clusters, extra rows) and `num_recycle` recycles (one copy per pass), with template features or without."""
    clusters, extra = msa_crops
    per_residue = (clusters * BYTES_PER_CLUSTER_CELL + extra * BYTES_PER_EXTRA_CELL + BYTES_PER_RESIDUE
                   + (TEMPLATE_BYTES_PER_RESIDUE if templates else 0))
    return (num_recycle + 1) * length * per_residue


def pad_residues(processed: FeatureDict, network_config, length: int) -> FeatureDict:
    """Zero-pad every residue axis of model-ready features to `length` (padding is masked out).

    The axes are those AlphaFold's own feature schema (`data.eval.feat`) names as residue axes;
    the leading axis is the recycle copy.
    """
    from alphafold.model.tf.shape_placeholders import NUM_RES

    schema = network_config.data.eval.feat
    padded = {}
    for key, value in processed.items():
        axes = [None, *schema[key]] if key in schema else []
        widths = [(0, length - size) if axis == NUM_RES else (0, 0) for axis, size in zip(axes, value.shape)]
        padded[key] = np.pad(value, widths + [(0, 0)] * (value.ndim - len(widths))) if widths else value
    return padded
