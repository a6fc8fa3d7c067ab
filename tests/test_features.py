"""Features from our MSA reader equal AlphaFold's pipeline and ColabFold's reference pickles."""

from __future__ import annotations

import lzma
import pickle

import numpy as np
import pytest

from alphafold_msa.model.config import msa_crops, network_config
from alphafold_msa.model.features import build_features, process_features
from alphafold_msa.msa import read_msa

SEQUENCE_DERIVED = ("aatype", "residue_index", "seq_mask", "target_feat")


@pytest.mark.parametrize("name", ["6A5J", "5AWL1"])
def test_sequence_features_equal_colabfold_reference(testdata, name):
    with lzma.open(testdata / "colabfold" / f"{name}.model_feat.pkl.xz") as handle:
        reference = pickle.load(handle)
    raw = build_features(read_msa(testdata / "colabfold" / f"{name}.a3m"))
    processed = process_features(raw, network_config("monomer_ptm", "full"), num_recycle=3, random_seed=0)
    length = processed["aatype"].shape[1]
    # ColabFold ran both inputs in one batch and padded 5AWL1 (10 residues) to 6A5J's 13.
    assert (reference["seq_mask"][:, length:] == 0).all()
    for key in SEQUENCE_DERIVED:
        assert processed[key].shape[0] == reference[key].shape[0] == 4, key
        np.testing.assert_array_equal(processed[key], reference[key][:, :length], err_msg=key)
    assert processed["msa_feat"].shape[:2] == reference["msa_feat"].shape[:2]
    assert processed["extra_msa"].shape[:2] == reference["extra_msa"].shape[:2]


def test_raw_features_equal_alphafold_pipeline(testdata):
    from alphafold.data import parsers, pipeline

    path = testdata / "colabfold" / "3G5O_B.a3m"
    parsed = parsers.parse_a3m(path.read_text())
    expected = {
        **pipeline.make_sequence_features(parsed.sequences[0], "102", len(parsed.sequences[0])),
        **pipeline.make_msa_features([parsed]),
    }
    ours = build_features(read_msa(path))
    for key in ("aatype", "residue_index", "seq_length", "msa", "deletion_matrix_int", "num_alignments"):
        np.testing.assert_array_equal(ours[key], expected[key], err_msg=key)
    assert ours["template_aatype"].shape == (1, 87, 22)


@pytest.mark.parametrize("depth, crops", [(1, (16, 16)), (7, (16, 16)), (79, (80, 16)), (600, (512, 96)),
                                          (1000, (512, 512)), (5632, (512, 5120)), (7527, (512, 5120))])
def test_msa_crops_fit_the_alignment_and_round_up_to_a_bucket(depth, crops):
    assert msa_crops(depth, 512, 5120) == crops
    assert msa_crops(depth, 512, 5120, bucketing=False) == (512, 5120)
