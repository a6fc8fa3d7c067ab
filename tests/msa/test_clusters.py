"""AF-Cluster's clustering (alphafold_msa/msa/clusters.py), checked against scikit-learn's DBSCAN run here on the
encoding their ClusterMSA.py describes, written from the alignment's text: rows with under 25% gaps, each aligned
character one-hot over 'ACDEFGHIKLMNPQRSTVWY-', dense float64 as their utils.encode_seqs builds it."""

from __future__ import annotations

import tracemalloc
from collections import Counter

import numpy as np
import pytest
from sklearn.cluster import DBSCAN

from alphafold_msa.errors import MsaError, MsaTooLargeError
from alphafold_msa.msa import from_sequences, read_msa
from alphafold_msa.msa.clusters import (
    BYTES_PER_CELL,
    BYTES_PER_PAIR,
    GRAM_CELLS,
    MsaClustering,
    cluster_alignment,
    cluster_msa,
    min_rows,
)

ALPHABET = "ACDEFGHIKLMNPQRSTVWY-"
AMINO_ACIDS = ALPHABET[:-1]


def aligned_rows(msa) -> list[str]:
    """Each row's aligned columns, as AF-Cluster reads an a3m: lower-case insertions removed."""
    return ["".join(char for char in row if char.isupper() or char == "-") for row in msa.a3m_rows()]


def af_cluster_encoding(msa) -> tuple[np.ndarray, np.ndarray]:
    """The rows besides the query with under 25% gaps, and their one-hot encoding."""
    rows = aligned_rows(msa)
    length = len(rows[0])
    kept = [index for index in range(1, len(rows)) if rows[index].count("-") / length < 0.25]
    text = np.frombuffer("".join(rows[index] for index in kept).encode(), dtype=np.uint8).reshape(len(kept), length)
    letters = np.frombuffer(ALPHABET.encode(), dtype=np.uint8)
    return np.array(kept), (text[:, :, None] == letters).reshape(len(kept), -1).astype(np.float64)


def summary(result: MsaClustering) -> tuple:
    return (result.eps, result.scan, result.unclustered,
            [(c.label, c.rows.tolist(), c.consensus, c.query_identity) for c in result.clusters],
            [(c.name, c.rows.tolist()) for c in result.controls])


@pytest.mark.parametrize("path", ["pfam/fn3.sto", "colabfold/3G5O_A.a3m"])
def test_the_clusters_are_dbscan_s_on_af_cluster_s_encoding_at_the_scanned_eps(testdata, path):
    msa = read_msa(testdata / path)
    result = cluster_msa(msa, seed=0)
    kept, encoding = af_cluster_encoding(msa)
    labels = DBSCAN(eps=result.eps, min_samples=3).fit(encoding).labels_
    assert len(result.clusters) >= 3
    assert [cluster.label for cluster in result.clusters] == list(range(labels.max() + 1))
    for cluster in result.clusters:
        np.testing.assert_array_equal(cluster.rows, kept[labels == cluster.label])
    assert result.unclustered == np.count_nonzero(labels == -1)
    assert (result.clustered_rows, result.gapped_rows) == (len(kept), msa.depth - 1 - len(kept))
    # The scan: eps from 3 in steps of 0.5, stopping past 10 at one label (or at 20); the first of the most labels.
    scanned = [step.eps for step in result.scan]
    assert scanned == [3 + 0.5 * step for step in range(len(scanned))]
    assert [s.eps for s in result.scan if s.eps > 10 and s.labels == 1] in ([], [scanned[-1]])
    assert scanned[-1] == 20 or result.scan[-1].labels == 1
    most = max(step.labels for step in result.scan)
    assert result.eps == next(step.eps for step in result.scan if step.labels == most)
    # Controls: ten uniform samples of 10 rows, and of 100 rows when there are more than 100 rows.
    sizes = [10] * 10 + ([100] * 10 if len(kept) > 100 else [])
    assert [control.size for control in result.controls] == sizes
    assert [control.name for control in result.controls][:2] == ["U10-000", "U10-001"]
    for control in result.controls:
        assert set(control.rows) <= set(kept) and len(set(control.rows)) == control.size


def test_a_cluster_s_consensus_and_identities_are_af_cluster_s(testdata):
    msa = read_msa(testdata / "pfam" / "fn3.sto")
    rows = aligned_rows(msa)
    for cluster in cluster_msa(msa).clusters:
        members = [rows[index] for index in cluster.rows]
        columns = [Counter(column) for column in zip(*members)]
        # The most frequent letter of the alphabet, ties to its first (X never counts).
        consensus = "".join(max(ALPHABET, key=lambda letter: (count[letter], -ALPHABET.index(letter)))
                            for count in columns)
        assert cluster.consensus == consensus
        assert cluster.query_identity == pytest.approx(np.mean([[a == b for a, b in zip(row, rows[0])]
                                                                for row in members]))
        assert cluster.consensus_identity == pytest.approx(np.mean([[a == b for a, b in zip(row, consensus)]
                                                                    for row in members]))


def test_a_seed_gives_one_clustering_and_another_seed_other_controls(testdata):
    msa = read_msa(testdata / "pfam" / "fn3.sto")
    first, again, other = cluster_msa(msa, seed=1), cluster_msa(msa, seed=1), cluster_msa(msa, seed=2)
    assert summary(first) == summary(again)
    assert [c.rows.tolist() for c in first.controls] != [c.rows.tolist() for c in other.controls]


def test_each_alignment_to_predict_has_the_query_first_then_its_rows(testdata):
    msa = read_msa(testdata / "pfam" / "fn3.sto")
    result = cluster_msa(msa)
    for group in (*result.clusters, *result.controls):
        alignment = cluster_alignment(msa, group)
        assert alignment.depth == group.size + 1 and alignment.query_sequence == msa.query_sequence
        assert alignment.names == [msa.query_name] + [msa.names[row] for row in group.rows]
        np.testing.assert_array_equal(alignment.matrix, msa.matrix[[0, *group.rows]])
        np.testing.assert_array_equal(alignment.deletions, msa.deletions[[0, *group.rows]])


def test_too_shallow_an_alignment_is_refused_in_one_line(testdata):
    path = testdata / "pfam" / "globins4.sto"
    with pytest.raises(MsaError) as caught:
        cluster_msa(read_msa(path))
    message = str(caught.value)
    assert message.startswith(f"{path}: too shallow to cluster: 3 of its 3 rows") and "\n" not in message
    assert f"needs at least {min_rows()}" in message and min_rows() == 24


def test_rows_with_a_quarter_of_gaps_or_more_are_not_clustered():
    query = "ACDEFGHIKLMNPQRSTVWY"
    rows = [query] + ["-" * 4 + query[4:]] * 23 + ["-" * 5 + query[5:]] * 6  # 20% and 25% gaps
    with pytest.raises(MsaError, match="23 of its 29 rows besides the query have gaps in under 25%"):
        cluster_msa(from_sequences(rows))
    result = cluster_msa(from_sequences(rows + ["-" * 4 + query[4:]]))
    assert (result.clustered_rows, result.gapped_rows) == (24, 6)
    assert [cluster.rows.tolist() for cluster in result.clusters] == [list(range(1, 24)) + [30]]


def test_the_limits_refuse_too_many_rows_cells_or_pairs(testdata):
    msa = read_msa(testdata / "pfam" / "fn3.sto")
    with pytest.raises(MsaTooLargeError, match="more than the 50 AF-Cluster's clustering may take"):
        cluster_msa(msa, max_rows=50)
    with pytest.raises(MsaTooLargeError, match="97 of its 97 rows .* x 86 columns = 8,342 cells, more than the 8,000"):
        cluster_msa(msa, max_cells=8_000)
    identical = from_sequences(["ACDEFGHIKLMNPQRSTVWY"] * 101)  # every pair within any eps
    with pytest.raises(MsaError, match="too redundant to cluster: at eps 3.0 its 25 rows have more than 600 pairs"):
        cluster_msa(identical, max_pairs=600)
    assert len(cluster_msa(identical, max_pairs=100**2).clusters) == 1


def test_a_deep_alignment_takes_a_fraction_of_its_dense_encoding_s_memory():
    """6,000 rows x 400 columns in 100 families: AF-Cluster's dense float64 one-hot alone would take 403 MB."""
    rng = np.random.default_rng(0)
    rows, length = 6_000, 400
    ancestors = rng.integers(0, 20, size=(100, length))
    matrix = ancestors[rng.integers(0, 100, size=rows)]
    mutated = rng.random(matrix.shape) < 0.03
    matrix[mutated] = rng.integers(0, 20, size=np.count_nonzero(mutated))
    letters = np.array(list(AMINO_ACIDS))
    msa = from_sequences(["".join(row) for row in letters[matrix]])
    tracemalloc.start()
    try:
        result = cluster_msa(msa, eps=9.0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    pairs = sum(cluster.size**2 for cluster in result.clusters)  # at most: each family is one cluster
    assert len(result.clusters) == 100 and result.unclustered == 0
    dense = (rows - 1) * length * len(ALPHABET) * 8
    bound = BYTES_PER_CELL * (rows - 1) * length + BYTES_PER_PAIR * pairs + 25 * GRAM_CELLS
    assert peak < bound < dense / 3, (peak, bound, dense)
