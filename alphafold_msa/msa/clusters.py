"""AF-Cluster: an alignment's rows clustered with DBSCAN, one alignment per cluster (query first) to predict.

Wayment-Steele et al., Nature 2024, "Predicting multiple conformations via sequence clustering and AlphaFold2";
the procedure of their `scripts/ClusterMSA.py` (github.com/HWaymentSteele/AF_Cluster), with its defaults:

1. The query (row 0) is set apart; of the other rows, those with gaps in `gap_cutoff` (0.25) or more of the
   query's columns are dropped (ClusterMSA's `--gap_cutoff`). The rest are clustered.
2. Each row is one-hot encoded over 'ACDEFGHIKLMNPQRSTVWY-', column by column (their `utils.encode_seqs`);
   a letter outside that alphabet (X) is a block of zeros. Rows are compared by Euclidean distance: sqrt(2 x the
   columns where both have letters, different ones, + the columns where only one of them has X).
3. eps is scanned from 3 to 20 in steps of 0.5: at each value DBSCAN (`min_samples` 3) clusters a new random
   quarter of the rows and the distinct labels are counted, noise counting as one, as theirs does; the scan
   stops past eps 10 at the first count of one, and the first eps with the largest count is chosen.
4. DBSCAN clusters all the rows at that eps. A cluster is named by its label, from 000 (their `KEYWORD_000.a3m`);
   its alignment is the query then its rows. Their consensus is the most frequent letter per column (ties to
   the alphabet's first).
5. Controls: `n_controls` (10) uniform random samples of 10 rows, and as many of 100 rows when more than 100 rows
   are kept (their `KEYWORD_U10-000.a3m`, `KEYWORD_U100-000.a3m`), each predicted with the query first.

Where this differs: the `Msa` holds AlphaFold's residue ids, so B, Z and U are encoded as D, E and C (theirs
encode them as zeros, like X); identities to the query and to the consensus are over aligned columns (1 - the
share of columns that differ; theirs use the Levenshtein distance of the aligned strings, which is never larger,
so theirs are never lower); a cluster's size counts its rows without the query (theirs counts the query); rows
are in alignment order (their controls are in sampling order); one seeded generator draws every random sample.

Bounds. The one-hot encoding is sparse, float32 with int32 indices, held with its transpose: BYTES_PER_CELL per
kept row and column, where AF-Cluster's dense float64 array takes 168 (a 20,000 x 500 alignment: 160 MB here,
1.7 GB there). Rows are compared a block at a time (GRAM_CELLS pairs, about 50 MB of scratch), and DBSCAN gets the
pairs within eps as a sparse graph (metric='precomputed': the distances are exact, so the labels are those of
DBSCAN on the encoding itself), BYTES_PER_PAIR per pair. Peak memory is about
BYTES_PER_CELL x rows x columns + BYTES_PER_PAIR x pairs + 50 MB, kept within bounds by refusing more than
`max_rows` rows, `max_cells` rows x columns and `max_pairs` pairs (defaults: 30,000, 10,000,000 and 10,000,000:
at most about 0.45 GB). A scan step whose quarter has more than `max_pairs` pairs ends the scan (every larger eps
has more). The time goes as rows^2 x columns, the scan's about twice the final clustering's: a synthetic
20,000 x 500 alignment (100 families) took 200 s on two cores (scan 140 s) and 0.2 GB at peak.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.cluster import DBSCAN

from alphafold_msa.errors import MsaError, MsaTooLargeError
from alphafold_msa.msa.alignment import GAP_ID, Msa

GAP_CUTOFF = 0.25
MIN_SAMPLES = 3
MIN_EPS, MAX_EPS, EPS_STEP = 3.0, 20.0, 0.5
# Past this eps the scan stops at the first step that finds a single label (noise included).
SCAN_STOP_EPS = 10.0
SCAN_FRACTION = 0.25
N_CONTROLS = 10
CONTROL_SIZES = (10, 100)
MAX_ROWS = 30_000
MAX_CELLS = 10_000_000
MAX_PAIRS = 10_000_000
# Memory per kept row x column (one-hot data and indices, the transpose's too) and per pair within eps (the graph
# handed to DBSCAN, its copy, and its neighbourhoods as indices).
BYTES_PER_CELL = 16
BYTES_PER_PAIR = 24
# Pairs of rows compared at a time: each costs about 21 bytes of scratch (product, distances, mask).
GRAM_CELLS = 2**21
# Column of each residue id in a one-hot block, in AF-Cluster's alphabet 'ACDEFGHIKLMNPQRSTVWY-' (ids 0-19 are
# those amino acids in that order); X (id 20) has none: its block stays zero.
_ALPHABET = "ACDEFGHIKLMNPQRSTVWY-"
_BLOCK = len(_ALPHABET)
_NO_LETTER = 255
_LETTER_OF_ID = np.full(256, _NO_LETTER, dtype=np.uint8)
_LETTER_OF_ID[:20] = np.arange(20)
_LETTER_OF_ID[GAP_ID] = 20
_ID_OF_LETTER = np.array([*range(20), GAP_ID], dtype=np.uint8)


@dataclasses.dataclass(frozen=True, eq=False)
class Cluster:
    """One DBSCAN cluster: its rows (indices into the `Msa`, the query excluded) and what describes it."""

    label: int
    rows: np.ndarray
    query_identity: float  # mean over its rows of the share of query columns where the row has the query's residue
    consensus: str  # most frequent letter of each column ('-' a gap), AF-Cluster's consensus sequence
    consensus_identity: float  # as query_identity, to the consensus

    @property
    def name(self) -> str:
        return f"{self.label:03d}"

    @property
    def size(self) -> int:
        return len(self.rows)


@dataclasses.dataclass(frozen=True, eq=False)
class Control:
    """A uniform random sample of the clustered rows (indices into the `Msa`, the query excluded)."""

    name: str  # U10-000, U100-000, ...: the sample's size and number
    rows: np.ndarray

    @property
    def size(self) -> int:
        return len(self.rows)


@dataclasses.dataclass(frozen=True)
class ScanStep:
    """One eps of the scan: the distinct DBSCAN labels of its random quarter (noise counts as one) and its noise."""

    eps: float
    labels: int
    unclustered: int


@dataclasses.dataclass(frozen=True, eq=False)
class MsaClustering:
    """The outcome of `cluster_msa`: its eps, its clusters in label order, the noise left out, the controls."""

    eps: float
    min_samples: int
    seed: int
    scan: tuple[ScanStep, ...]  # empty when eps was given
    clustered_rows: int  # rows with gaps in under gap_cutoff of the columns, the query excluded
    gapped_rows: int  # rows left out for their gaps
    clusters: tuple[Cluster, ...]
    unclustered: int  # clustered_rows that DBSCAN left as noise
    controls: tuple[Control, ...]

    @property
    def mean_query_identity(self) -> float | None:
        """The clusters' identity to the query, weighted by their sizes; None without clusters."""
        rows = sum(cluster.size for cluster in self.clusters)
        return sum(c.query_identity * c.size for c in self.clusters) / rows if rows else None


def min_rows(min_samples: int = MIN_SAMPLES) -> int:
    """The fewest rows to cluster: the eps scan's quarter must hold two clusters of `min_samples` rows, or every
    eps finds at most one and the choice is arbitrary."""
    return round(2 * min_samples / SCAN_FRACTION)


def cluster_msa(msa: Msa, seed: int = 0, eps: float | None = None, min_samples: int = MIN_SAMPLES,
                gap_cutoff: float = GAP_CUTOFF, n_controls: int = N_CONTROLS, max_rows: int = MAX_ROWS,
                max_cells: int = MAX_CELLS, max_pairs: int = MAX_PAIRS) -> MsaClustering:
    """Cluster `msa`'s rows as AF-Cluster does (see the module's docstring), eps scanned unless given.

    The same alignment and seed give the same clustering. Raises MsaError for an alignment with fewer than
    `min_rows(min_samples)` rows to cluster or more rows within eps of each other than `max_pairs` allows, and
    MsaTooLargeError for more than `max_rows` rows or `max_cells` rows x columns to cluster.
    """
    kept = _kept_rows(msa, gap_cutoff)
    _check_size(msa, len(kept), gap_cutoff, min_samples, max_rows, max_cells)
    onehot = _one_hot(msa.matrix[kept])
    rng = np.random.default_rng(seed)
    scan: tuple[ScanStep, ...] = ()
    if eps is None:
        scan = _scan(onehot, rng, min_samples, max_pairs)
        if not scan:
            raise _too_redundant(msa, round(len(kept) * SCAN_FRACTION), MIN_EPS, max_pairs)
        eps = max(scan, key=lambda step: step.labels).eps  # the first of the largest
    labels = _dbscan(onehot, eps, min_samples, max_pairs)
    if labels is None:
        raise _too_redundant(msa, len(kept), eps, max_pairs)
    clusters = tuple(_describe(msa, label, kept[labels == label]) for label in range(labels.max() + 1))
    controls = tuple(Control(f"U{size}-{number:03d}", np.sort(rng.choice(kept, size=size, replace=False)))
                     for size in CONTROL_SIZES if len(kept) > size for number in range(n_controls))
    return MsaClustering(eps=float(eps), min_samples=min_samples, seed=seed, scan=scan, clustered_rows=len(kept),
                         gapped_rows=msa.depth - 1 - len(kept), clusters=clusters,
                         unclustered=int(np.count_nonzero(labels == -1)), controls=controls)


def cluster_alignment(msa: Msa, group: Cluster | Control) -> Msa:
    """The alignment to predict for a cluster or a control: the query, then the group's rows."""
    return msa.take(np.concatenate([[0], group.rows]))


def _kept_rows(msa: Msa, gap_cutoff: float) -> np.ndarray:
    """The rows clustered: besides the query, those with gaps in under `gap_cutoff` of the columns."""
    gaps = np.count_nonzero(msa.matrix[1:] == GAP_ID, axis=1)
    return 1 + np.flatnonzero(gaps / msa.length < gap_cutoff)


def _check_size(msa: Msa, rows: int, gap_cutoff: float, min_samples: int, max_rows: int, max_cells: int) -> None:
    """Refuse too few rows to cluster, or more rows or cells than the limits."""
    kept = f"{rows:,} of its {msa.depth - 1:,} rows besides the query have gaps in under {gap_cutoff:.0%} of the " \
           "columns"
    if rows < min_rows(min_samples):
        raise MsaError(f"{msa.source}: too shallow to cluster: {kept}; AF-Cluster needs at least "
                       f"{min_rows(min_samples)} (its eps scan clusters a random quarter of them, which must hold "
                       f"two clusters of min_samples={min_samples})")
    if rows > max_rows:
        raise MsaTooLargeError(f"{msa.source}: too deep to cluster: {kept}, more than the {max_rows:,} AF-Cluster's "
                               "clustering may take (its time grows as rows squared): subsample the alignment first")
    if rows * msa.length > max_cells:
        raise MsaTooLargeError(f"{msa.source}: too large to cluster: {kept}, x {msa.length:,} columns = "
                               f"{rows * msa.length:,} cells, more than the {max_cells:,} AF-Cluster's clustering "
                               "may take: subsample the alignment first")


def _too_redundant(msa: Msa, rows: int, eps: float, max_pairs: int) -> MsaError:
    return MsaError(f"{msa.source}: too redundant to cluster: at eps {eps} its {rows:,} rows have more than "
                    f"{max_pairs:,} pairs within eps (about {BYTES_PER_PAIR * max_pairs / 1e9:.2f} GB for "
                    "DBSCAN): remove near-identical rows first (e.g. hhfilter -id 90)")


def _one_hot(matrix: np.ndarray) -> sparse.csr_matrix:
    """AF-Cluster's one-hot encoding of residue-id rows, sparse: (rows, 21 x columns) float32."""
    letters = _LETTER_OF_ID[matrix]
    present = letters != _NO_LETTER
    columns = np.arange(matrix.shape[1], dtype=np.int32) * _BLOCK
    indices = (columns + letters)[present]  # row by row, in column order
    indptr = np.concatenate([[0], np.cumsum(np.count_nonzero(present, axis=1))])
    return sparse.csr_matrix((np.ones(len(indices), dtype=np.float32), indices, indptr),
                             shape=(matrix.shape[0], _BLOCK * matrix.shape[1]))


def _neighbour_graph(onehot: sparse.csr_matrix, eps: float, max_pairs: int) -> sparse.csr_matrix | None:
    """The Euclidean distances of the rows within `eps` of each other (each row's own included), as a CSR graph
    sorted by distance within each row (what DBSCAN's metric='precomputed' reads); None past `max_pairs` pairs.

    Squared distances are exact integers (norm + norm - 2 x shared letters), so eps is applied exactly."""
    rows = onehot.shape[0]
    transposed = onehot.T.tocsr()
    norms = np.diff(onehot.indptr).astype(np.float32)  # letters per row: the squared norm
    step = max(1, GRAM_CELLS // rows)
    counts, columns, distances = [], [], []
    pairs = 0
    for start in range(0, rows, step):
        shared = (onehot[start:start + step] @ transposed).toarray()
        squared = norms[start:start + step, None] + norms[None, :] - 2 * shared
        row, column = np.nonzero(squared <= eps * eps)
        pairs += len(row)
        if pairs > max_pairs:
            return None
        distance = np.sqrt(squared[row, column])
        order = np.lexsort((distance, row))
        counts.append(np.bincount(row, minlength=len(shared)))
        columns.append(column[order].astype(np.int32))
        distances.append(distance[order])
    indptr = np.concatenate([[0], np.cumsum(np.concatenate(counts))])
    return sparse.csr_matrix((np.concatenate(distances), np.concatenate(columns), indptr), shape=(rows, rows))


def _dbscan(onehot: sparse.csr_matrix, eps: float, min_samples: int, max_pairs: int) -> np.ndarray | None:
    """scikit-learn's DBSCAN labels of the encoded rows (-1 noise); None past `max_pairs` pairs within eps."""
    graph = _neighbour_graph(onehot, eps, max_pairs)
    if graph is None:
        return None
    return DBSCAN(eps=eps, min_samples=min_samples, metric="precomputed").fit(graph).labels_


def _scan(onehot: sparse.csr_matrix, rng: np.random.Generator, min_samples: int,
          max_pairs: int) -> tuple[ScanStep, ...]:
    """AF-Cluster's eps scan: each eps clusters a new random quarter of the rows."""
    rows = onehot.shape[0]
    steps = []
    for eps in np.arange(MIN_EPS, MAX_EPS + EPS_STEP, EPS_STEP):
        sample = np.sort(rng.choice(rows, size=round(rows * SCAN_FRACTION), replace=False))
        labels = _dbscan(onehot[sample], float(eps), min_samples, max_pairs)
        if labels is None:  # every larger eps has more pairs
            break
        steps.append(ScanStep(float(eps), len(np.unique(labels)), int(np.count_nonzero(labels == -1))))
        if eps > SCAN_STOP_EPS and steps[-1].labels == 1:
            break
    return tuple(steps)


def _describe(msa: Msa, label: int, rows: np.ndarray) -> Cluster:
    """A cluster's consensus and its identities to the query and to the consensus."""
    block = msa.matrix[rows]
    letters = _LETTER_OF_ID[block].astype(np.int64)  # X (no letter) is not counted
    counted = letters != _NO_LETTER
    columns = np.broadcast_to(np.arange(msa.length), block.shape)[counted]
    counts = np.bincount(columns * _BLOCK + letters[counted], minlength=msa.length * _BLOCK)
    votes = counts.reshape(msa.length, _BLOCK).argmax(axis=1)
    return Cluster(label=label, rows=rows, query_identity=float(np.mean(block == msa.matrix[0])),
                   consensus="".join(_ALPHABET[vote] for vote in votes),
                   consensus_identity=float(np.mean(block == _ID_OF_LETTER[votes])))


def check_clusterable(msa: Msa, min_samples: int = MIN_SAMPLES, gap_cutoff: float = GAP_CUTOFF,
                      max_rows: int = MAX_ROWS, max_cells: int = MAX_CELLS) -> None:
    """Refuse, without clustering, an alignment `cluster_msa` would refuse for its size: too few rows (too shallow)
    or too many rows or cells."""
    _check_size(msa, len(_kept_rows(msa, gap_cutoff)), gap_cutoff, min_samples, max_rows, max_cells)


def groups(clustering: MsaClustering) -> tuple[Cluster | Control, ...]:
    """The alignments a prediction runs, in order: the clusters (000, 001, ...), then the controls."""
    return (*clustering.clusters, *clustering.controls)


def describe(clustering: MsaClustering, msa: Msa) -> dict[str, Any]:
    """The clustering as msa_clusters.json and `--check --msa-clusters` show it: eps, the rows clustered, left out
    for gaps and left as noise, each cluster's size, identities, consensus and member names, each control's size
    and members, and the eps scan."""
    return {
        "method": "AF-Cluster (Wayment-Steele et al. 2024): DBSCAN on one-hot rows", "seed": clustering.seed,
        **clustering_summary(clustering),
        "clusters": [{"name": c.name, "size": c.size, "query_identity": round(c.query_identity, 4),
                      "consensus_identity": round(c.consensus_identity, 4), "consensus": c.consensus,
                      "members": [msa.names[row] for row in c.rows]} for c in clustering.clusters],
        "controls": [{"name": c.name, "size": c.size, "members": [msa.names[row] for row in c.rows]}
                     for c in clustering.controls],
        "scan": [dataclasses.asdict(step) for step in clustering.scan],
    }


def overview(clustering: MsaClustering) -> str:
    """One line: 'AF-Cluster: 12 clusters at eps 7.5 (sizes 40, 31, 22, ...; mean identity to the query 0.41),
    150 rows unclustered, 20 controls'."""
    clusters = clustering.clusters
    sizes = ", ".join(str(c.size) for c in clusters[:8]) + (", ..." if len(clusters) > 8 else "")
    identity = clustering.mean_query_identity
    described = f" (sizes {sizes}; mean identity to the query {identity:.2f})" if identity is not None else ""
    return (f"AF-Cluster: {len(clusters)} cluster{'s' if len(clusters) != 1 else ''} at eps {clustering.eps:g}"
            f"{described}, {clustering.unclustered:,} of {clustering.clustered_rows:,} rows unclustered, "
            f"{len(clustering.controls)} controls")


def clustering_summary(clustering: MsaClustering) -> dict[str, Any]:
    """The clustering in a prediction's summary: eps, rows clustered, left out and unclustered, cluster sizes."""
    return {"eps": clustering.eps, "min_samples": clustering.min_samples, "clustered_rows": clustering.clustered_rows,
            "gapped_rows": clustering.gapped_rows, "unclustered_rows": clustering.unclustered,
            "num_clusters": len(clustering.clusters), "num_controls": len(clustering.controls),
            "sizes": [cluster.size for cluster in clustering.clusters]}
