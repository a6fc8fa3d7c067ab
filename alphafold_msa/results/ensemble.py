"""The structural states a sampling run found: its samples (seeds, dropout, shallow MSA crops, AF-Cluster) clustered
by TM-score, each state's most confident member as its representative; written as clusters.json and ensemble.png,
and said in one line ("3 structural states: 41 samples like the top model (TM 1.00), 7 at TM 0.62, 2 at TM 0.45").

Similarity: the TM-score (Zhang & Skolnick 2004) of the Cα atoms, residue i to residue i (every sample is a model of
the same query), after the superposition that maximises it, found as the TM-score program finds it: seeds (the whole
chain and fragments of N/2, N/4 ... 4 residues) are superposed, each then refined by superposing the residues within
d0_search + 1 Å until that set stops changing, and the best score of any step is kept. Here in numpy, every seed of
every pair at once. An RMSD-optimal (Kabsch) superposition alone is not enough: a hinge motion drags that fit between
the two domains and scores both badly (TM 0.08 where the search finds 0.52, for a 150° hinge of an 82-residue chain).
Residues that most samples predict as disordered (median pLDDT below PLDDT_FLOOR) are left out of the comparison:
their placement differs from seed to seed and would split one state into many.

Clustering: average linkage (UPGMA) on 1 - TM-score, cut at TM_THRESHOLD: two groups merge while the mean TM-score
between their samples is at least 0.8. TM-score 0.5 already means "the same fold" (Xu & Zhang 2010), which every
model of one query has; states of one fold need a higher cut. 0.8 keeps a domain motion apart (open and closed
states of enzymes and transporters are TM 0.6-0.8 apart) while seed-to-seed noise of a converged prediction (TM
above 0.9) stays within a state. Average linkage, unlike single linkage, does not chain a continuum of intermediates
into one state, and unlike complete linkage does not split a state over its single most distant pair. Deterministic:
samples are ordered most confident first, and ties merge the lowest indices first.

Cost: n(n-1)/2 pairs of O(N) numpy work each (37 seeds at N = 300, most dropped after two steps): about 1.6 ms a
pair at N = 300 on one CPU core, 8 s for 100 samples; it grows as n² N, so at most MAX_SAMPLES samples (the most
confident) are compared, fewer for queries longer than 300 residues (compare_limit), and the rest named as left
out.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from alphafold_msa.files import write_atomic
from alphafold_msa.results.plots import _figure, _save, _title

TM_THRESHOLD = 0.8
MAX_SAMPLES = 200  # 19,900 pairs: about 30 s at 300 residues
# The comparison's work, pairs x residues, at most MAX_SAMPLES at 300 residues: longer queries compare fewer samples
# (compare_limit), so the ensemble takes at most about 30 s of the worker's time at any length.
MAX_PAIR_RESIDUES = MAX_SAMPLES * (MAX_SAMPLES - 1) // 2 * 300
PLDDT_FLOOR = 50.0  # AlphaFold's "likely disordered" below it
MIN_COMPARED = 20  # residues: fewer confident ones than this and all residues are compared
CLUSTERS_JSON, ENSEMBLE_PNG = "clusters.json", "ensemble.png"
D0_MIN = 0.5  # Å: the TM-score's d0 for chains of 21 residues or fewer
# The search's shortest seed fragment, and seed fragments of each length, evenly spaced. Every start position
# (the TM-score program's choice) finds TM-scores at most 0.002 higher, at three times the cost.
MIN_FRAGMENT, MAX_STARTS = 4, 6
MAX_ITERATIONS = 20  # refinements of each seed (the TM-score program's n_it)
# Seeds x residues superposed at once: arrays of a few MB. Larger ones are slower, not faster (page faults).
_BATCH_ELEMENTS = 100_000
_SUMMARY_STATES = 5  # states named in the summary line; the rest are counted
# matplotlib's tab10 less its grey: one colour for each of the first nine states, the rest grey.
_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf")
_OTHER_COLOUR = "#c7c7c7"


def compare_limit(length: int) -> int:
    """The most samples of `length` residues compared: MAX_SAMPLES up to 300 residues, fewer beyond (about 110 at
    1,000 residues, 70 at 2,500), within MAX_PAIR_RESIDUES."""
    pairs = MAX_PAIR_RESIDUES // max(length, 1)
    return max(2, min(MAX_SAMPLES, int((1 + (1 + 8 * pairs) ** 0.5) / 2)))


@dataclasses.dataclass(frozen=True)
class Sample:
    """One model of the query: its id ('model_1_ptm_seed_003'), Cα coordinates (N x 3, Å; residue i of every
    sample is residue i of the query), per-residue pLDDT (0-100) and ranking confidence (mean pLDDT, or
    0.8 ipTM + 0.2 pTM for a complex: any scale the samples share; higher is better)."""

    id: str
    ca: np.ndarray
    plddt: np.ndarray
    confidence: float


@dataclasses.dataclass(frozen=True)
class Cluster:
    """One structural state: its samples (most confident first: the first is its representative), their mean
    ranking confidence, the representative's confidence, mean pLDDT, TM-score and Cα RMSD to the top-ranked
    sample, and the mean TM-score between its members (1.0 for a single sample)."""

    number: int  # 1-based; 1 is the top-ranked sample's state, then the others by size
    members: tuple[str, ...]
    mean_confidence: float
    representative_confidence: float
    representative_plddt: float
    tm_to_top: float
    rmsd_to_top: float
    mean_tm_within: float

    @property
    def representative(self) -> str:
        return self.members[0]

    @property
    def size(self) -> int:
        return len(self.members)


@dataclasses.dataclass(frozen=True)
class Ensemble:
    """The samples compared (most confident first) and those left out past the cap; the residues compared (indices
    into N: TM-scores and RMSDs are over these); the pairwise TM-scores (n x n); each sample's state (an index into
    `clusters`), TM-score and Cα RMSD to the top-ranked sample; the states; the TM-score cut."""

    samples: tuple[Sample, ...]
    left_out: tuple[str, ...]
    residues: np.ndarray
    tm: np.ndarray
    labels: np.ndarray
    tm_to_top: np.ndarray
    rmsd_to_top: np.ndarray
    clusters: tuple[Cluster, ...]
    threshold: float

    @property
    def top(self) -> Sample:
        return self.samples[0]

    def summary(self) -> str:
        """One line: '3 structural states: 41 samples like the top model (TM 1.00), 7 at TM 0.62, 2 at TM 0.45'."""
        first, *others = self.clusters
        parts = [f"{_count(first.size, 'sample')} like the top model (TM {first.tm_to_top:.2f})"]
        parts += [f"{c.size} at TM {c.tm_to_top:.2f}" for c in others[:_SUMMARY_STATES - 1]]
        rest = others[_SUMMARY_STATES - 1:]
        if rest:
            low, high = min(c.tm_to_top for c in rest), max(c.tm_to_top for c in rest)
            parts.append(f"{_count(len(rest), 'more state')} of {_count(sum(c.size for c in rest), 'sample')} "
                         f"at TM {low:.2f}-{high:.2f}")
        line = f"{_count(len(self.clusters), 'structural state')}: " + ", ".join(parts)
        if self.left_out:
            line += (f" (the {len(self.samples)} most confident of {len(self.samples) + len(self.left_out)} "
                     f"samples compared)")
        return line

    def unsaved_note(self, kept: set[str], save_all: bool) -> str:
        """'; 4 of the states' representatives were not kept (...)' when some state's representative is neither
        among the `kept` samples (by id) nor saved (`save_all`), else ''."""
        unsaved = [cluster.representative for cluster in self.clusters if cluster.representative not in kept]
        if not unsaved or save_all:
            return ""
        shown = ", ".join(unsaved[:3]) + (", ..." if len(unsaved) > 3 else "")
        return (f"; {len(unsaved)} of the states' representatives were not kept ({shown}): --save-all writes every "
                f"sample's structure, or raise --keep-top")

    def to_json(self) -> dict[str, Any]:
        """clusters.json's content."""
        length = len(self.top.ca)
        state = [self.clusters[label].number for label in self.labels]
        return {
            "summary": self.summary(),
            "method": {
                "similarity": "TM-score of the C-alpha atoms, residue to residue, after the superposition maximising "
                              "it (the TM-score program's search)",
                "clustering": "average linkage on 1 - TM-score",
                "tm_threshold": self.threshold,
                "residues": length,
                "residues_compared": len(self.residues),
                "residues_left_out": _ranges(np.setdiff1d(np.arange(length), self.residues)),
                "residues_left_out_rule": f"median pLDDT below {PLDDT_FLOOR:g} over the samples compared",
                "d0": round(tm_d0(len(self.residues)), 3),
            },
            "top_sample": self.top.id,
            "samples_compared": len(self.samples),
            "left_out": list(self.left_out),
            "clusters": [{"cluster": c.number, "size": c.size, "representative": c.representative,
                          "representative_confidence": _round(c.representative_confidence, 3),
                          "representative_mean_plddt": _round(c.representative_plddt, 2),
                          "mean_confidence": _round(c.mean_confidence, 3), "tm_to_top": _round(c.tm_to_top, 4),
                          "rmsd_to_top": _round(c.rmsd_to_top, 3), "mean_tm_within": _round(c.mean_tm_within, 4),
                          "members": list(c.members)} for c in self.clusters],
            "samples": [{"id": sample.id, "cluster": state[i], "confidence": _round(sample.confidence, 3),
                         "mean_plddt": _round(np.mean(sample.plddt), 2), "tm_to_top": _round(self.tm_to_top[i], 4),
                         "rmsd_to_top": _round(self.rmsd_to_top[i], 3)} for i, sample in enumerate(self.samples)],
        }


def cluster_samples(samples: Sequence[Sample], threshold: float = TM_THRESHOLD,
                    max_samples: int = MAX_SAMPLES, left_out: Sequence[str] = ()) -> Ensemble:
    """The structural states of `samples` (see the module's docstring): the `max_samples` most confident are
    compared (ties keep the order given), the others named as left out after `left_out` (the ids of samples
    already set aside, less confident than these); a ValueError when the samples are not models of one query."""
    _check(samples, threshold, max_samples)
    order = sorted(range(len(samples)), key=lambda i: -float(samples[i].confidence))
    kept = tuple(samples[i] for i in order[:max_samples])
    excluded = (*(samples[i].id for i in order[max_samples:]), *left_out)
    residues = compared_residues(np.array([sample.plddt for sample in kept], dtype=np.float64))
    coordinates = np.array([sample.ca for sample in kept], dtype=np.float64)[:, residues]
    tm = pairwise_tm(coordinates)
    labels = average_linkage(1.0 - tm, 1.0 - threshold)
    rmsd_to_top = np.array([rmsd(coordinates[0], c) for c in coordinates])
    confidence = np.array([float(sample.confidence) for sample in kept])
    # States: the top-ranked sample's first, then the others by size, then by their most confident member.
    groups = sorted((np.flatnonzero(labels == label) for label in np.unique(labels)),
                    key=lambda members: (members[0] != 0, -len(members), members[0]))
    clusters, state = [], np.zeros(len(kept), dtype=int)
    for number, members in enumerate(groups, start=1):
        state[members] = number - 1
        within = tm[np.ix_(members, members)][np.triu_indices(len(members), 1)]
        representative = members[0]
        clusters.append(Cluster(number=number, members=tuple(kept[i].id for i in members),
                                mean_confidence=float(confidence[members].mean()),
                                representative_confidence=float(confidence[representative]),
                                representative_plddt=float(np.mean(kept[representative].plddt)),
                                tm_to_top=float(tm[0, representative]), rmsd_to_top=float(rmsd_to_top[representative]),
                                mean_tm_within=float(within.mean()) if len(within) else 1.0))
    return Ensemble(samples=kept, left_out=excluded, residues=residues, tm=tm, labels=state, tm_to_top=tm[0].copy(),
                    rmsd_to_top=rmsd_to_top, clusters=tuple(clusters), threshold=threshold)


def write_ensemble(samples: Sequence[Sample], folder: Path, threshold: float = TM_THRESHOLD,
                   max_samples: int = MAX_SAMPLES, confidence_label: str = "Ranking confidence",
                   caveat: str | None = None, left_out: Sequence[str] = ()) -> Ensemble:
    """Cluster `samples` (`left_out`: see cluster_samples) and write clusters.json and ensemble.png into `folder`;
    the ensemble (its summary() is the line to show)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ensemble = cluster_samples(samples, threshold, max_samples, left_out)
    write_atomic(folder / CLUSTERS_JSON, json.dumps(ensemble.to_json(), indent=1) + "\n")
    plot_ensemble(ensemble, folder / ENSEMBLE_PNG, confidence_label, caveat)
    return ensemble


def plot_ensemble(ensemble: Ensemble, path: Path, confidence_label: str = "Ranking confidence",
                  caveat: str | None = None) -> Path:
    """Each sample's ranking confidence (y) against its TM-score to the top-ranked sample (x), coloured by state,
    each state's representative a numbered star; the legend gives each state's size. States past the ninth are
    grey, under one legend entry."""
    from matplotlib.lines import Line2D

    figure = _figure(8, 5.5)
    axes = figure.add_subplot()
    confidence = np.array([float(sample.confidence) for sample in ensemble.samples])
    handles = []
    others = ensemble.clusters[len(_COLOURS):]
    for index, cluster in enumerate(ensemble.clusters):
        members = np.flatnonzero(ensemble.labels == index)
        colour = _COLOURS[index] if index < len(_COLOURS) else _OTHER_COLOUR
        x, y = ensemble.tm_to_top[members], confidence[members]
        axes.scatter(x[1:], y[1:], s=30, color=colour, alpha=0.7, edgecolors="none", zorder=2)
        axes.scatter(x[:1], y[:1], s=260, marker="*", color=colour, edgecolors="black", linewidths=0.8, zorder=4)
        if index < len(_COLOURS):
            axes.annotate(str(cluster.number), (x[0], y[0]), xytext=(7, 5), textcoords="offset points", fontsize=9,
                          fontweight="bold", zorder=5)
            where = "top model" if cluster.number == 1 else f"TM {cluster.tm_to_top:.2f}"
            label = f"{cluster.number}: {_count(cluster.size, 'sample')} ({where})"
            handles.append(Line2D([], [], linestyle="", marker="o", color=colour, label=label))
    if others:
        handles.append(Line2D([], [], linestyle="", marker="o", color=_OTHER_COLOUR,
                              label=f"{_count(len(others), 'more state')}: "
                                    f"{_count(sum(c.size for c in others), 'sample')}"))
    handles.append(Line2D([], [], linestyle="", marker="*", markersize=13, color="white", markeredgecolor="black",
                          label="representative (most confident)"))
    low = min(0.5, float(ensemble.tm_to_top.min()) - 0.05)
    axes.set(xlim=(max(0.0, low), 1.02), xlabel=f"TM-score to the top-ranked model ({ensemble.top.id})",
             ylabel=confidence_label)
    axes.grid(alpha=0.3)
    axes.legend(handles=handles, fontsize=8, loc="best", title=f"States (average linkage, TM ≥ {ensemble.threshold:g})",
                title_fontsize=8)
    axes.set_title(_title(f"{_count(len(ensemble.clusters), 'structural state')} among "
                          f"{_count(len(ensemble.samples), 'sample')}", caveat))
    return _save(figure, path)


def compared_residues(plddt: np.ndarray) -> np.ndarray:
    """The residues the TM-scores compare (indices), from the samples' pLDDT (n x N): those whose median pLDDT is
    at least PLDDT_FLOOR, or all when fewer than MIN_COMPARED (or 10% of N) are."""
    median = np.median(plddt, axis=0)
    confident = np.flatnonzero(median >= PLDDT_FLOOR)
    length = plddt.shape[1]
    return confident if len(confident) >= max(MIN_COMPARED, length // 10) else np.arange(length)


def average_linkage(distance: np.ndarray, cut: float) -> np.ndarray:
    """Average-linkage (UPGMA) clusters of n items from their distances (n x n, symmetric), merging while the
    mean distance between two clusters is at most `cut`: each item's cluster label (the index of its first item).
    Ties merge the lowest indices first. O(n³) in numpy: fine for some hundreds of items."""
    count = len(distance)
    between = np.array(distance, dtype=np.float64)
    np.fill_diagonal(between, np.inf)
    sizes = np.ones(count)
    labels = np.arange(count)
    for _ in range(count - 1):
        first, second = divmod(int(np.argmin(between)), count)  # the first minimum: first < second
        if between[first, second] > cut + 1e-9:
            break
        merged = (sizes[first] * between[first] + sizes[second] * between[second]) / (sizes[first] + sizes[second])
        between[first], between[:, first] = merged, merged
        between[first, first] = np.inf
        between[second], between[:, second] = np.inf, np.inf
        sizes[first] += sizes[second]
        labels[labels == second] = first
    return labels


def tm_d0(length: int) -> float:
    """The TM-score's distance scale d0 (Å) for `length` residues."""
    return max(D0_MIN, 1.24 * float(np.cbrt(length - 15)) - 1.8) if length > 21 else D0_MIN


def tm_score(reference: np.ndarray, mobile: np.ndarray) -> float:
    """The TM-score of `mobile` (N x 3) to `reference` (N x 3), residue i to residue i, normalised by N, after
    the superposition that maximises it (the TM-score program's search)."""
    return float(tm_scores(reference, np.asarray(mobile)[None])[0])


def tm_scores(reference: np.ndarray, mobiles: np.ndarray) -> np.ndarray:
    """The TM-score of each of `mobiles` (P x N x 3) to `reference` (N x 3): see tm_score."""
    reference = np.asarray(reference, dtype=np.float64)
    mobiles = np.asarray(mobiles, dtype=np.float64)
    length = reference.shape[0]
    if reference.ndim != 2 or reference.shape[1] != 3 or mobiles.shape[1:] != reference.shape:
        raise ValueError(f"coordinates must be N x 3 for the same N residues: {reference.shape}, {mobiles.shape[1:]}")
    if length < 3:
        raise ValueError(f"a TM-score needs at least 3 residues, not {length}")
    seeds = _seeds(length)
    pairs_at_once = max(1, _BATCH_ELEMENTS // (len(seeds) * length))
    return np.concatenate([_search(reference, mobiles[start:start + pairs_at_once], seeds)
                           for start in range(0, len(mobiles), pairs_at_once)]) if len(mobiles) else np.zeros(0)


def pairwise_tm(coordinates: np.ndarray) -> np.ndarray:
    """The symmetric matrix of TM-scores between every two of `coordinates` (n x N x 3); 1 on the diagonal."""
    coordinates = np.asarray(coordinates, dtype=np.float64)
    count = len(coordinates)
    matrix = np.eye(count)
    for i in range(count - 1):
        matrix[i, i + 1:] = matrix[i + 1:, i] = tm_scores(coordinates[i], coordinates[i + 1:])
    return matrix


def rmsd(reference: np.ndarray, mobile: np.ndarray) -> float:
    """The Cα RMSD (Å) of `mobile` to `reference` after the superposition that minimises it (Kabsch)."""
    reference = np.asarray(reference, dtype=np.float64)
    mobile = np.asarray(mobile, dtype=np.float64)
    centred = mobile - mobile.mean(axis=0)
    squared = _superposed_d2(reference - reference.mean(axis=0), centred.T[None], np.ones((1, len(reference))))[0]
    return float(np.sqrt(squared.mean()))


def _seeds(length: int) -> np.ndarray:
    """The search's starting residue sets (seeds x N, bool): the whole chain, then fragments of N/2, N/4 ... down to
    MIN_FRAGMENT residues, at most MAX_STARTS of each length, evenly spaced along the chain."""
    masks = [np.ones(length, dtype=bool)]
    fragment = length // 2
    while fragment >= MIN_FRAGMENT:
        positions = length - fragment + 1
        for start in np.unique(np.linspace(0, positions - 1, min(MAX_STARTS, positions)).round().astype(int)):
            mask = np.zeros(length, dtype=bool)
            mask[start:start + fragment] = True
            masks.append(mask)
        fragment //= 2
    return np.array(masks)


def _superposed_d2(reference: np.ndarray, mobiles: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Squared distances (B x N) of the residues of mobiles[b] (B x 3 x N: coordinates first) to the reference
    (N x 3) once mobiles[b] is superposed on it by the rotation and translation (Kabsch) that minimise the RMSD over
    the residues weights[b] selects (B x N, 0/1, at least 3)."""
    reference_f = np.asfortranarray(reference)  # OpenBLAS multiplies by an N x 3 matrix far faster in this order
    count = weights.sum(axis=1)[:, None]
    centre_x = weights @ reference_f / count  # B x 3
    weighted = mobiles * weights[:, None, :]
    centre_y = weighted.sum(axis=2) / count
    covariance = weighted @ reference_f  # B x 3 x 3: sum w y x^T
    covariance -= count[:, :, None] * centre_y[:, :, None] * centre_x[:, None, :]
    u, _, vt = np.linalg.svd(covariance)
    rotation = np.swapaxes(vt, 1, 2) @ np.swapaxes(u, 1, 2)  # R = V U^T: R (y - cy) ~ x - cx
    reflected = np.linalg.det(rotation) < 0
    if reflected.any():  # a proper rotation: flip the axis of the smallest singular value
        vt[reflected, 2] *= -1
        rotation = np.swapaxes(vt, 1, 2) @ np.swapaxes(u, 1, 2)
    shift = centre_x - (rotation @ centre_y[:, :, None])[:, :, 0]
    difference = rotation @ mobiles + (shift[:, :, None] - reference.T)  # B x 3 x N
    return difference[:, 0] ** 2 + difference[:, 1] ** 2 + difference[:, 2] ** 2


def _select(squared: np.ndarray, cutoff: float) -> np.ndarray:
    """The residues within `cutoff` Å (B x N, bool), or each row's 3 nearest where fewer are."""
    selected = squared <= cutoff**2
    few = selected.sum(axis=1) < 3
    if few.any():
        third = np.partition(squared[few], 2, axis=1)[:, 2:3]
        selected[few] = squared[few] <= third
    return selected


def _distinct(pair: np.ndarray, selected: np.ndarray) -> np.ndarray:
    """The rows (indices, in order) that are the first with their pair and residue selection: seeds that reach the
    same residues go on as one."""
    keys = np.concatenate([pair.astype(">u4").view(np.uint8).reshape(-1, 4), np.packbits(selected, axis=1)], axis=1)
    keys = np.ascontiguousarray(keys).view(np.dtype((np.void, keys.shape[1])))[:, 0]
    return np.sort(np.unique(keys, return_index=True)[1])


def _search(reference: np.ndarray, mobiles: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """The best TM-score of each of `mobiles` over the search from every seed (see the module's docstring): every
    seed of every pair is one row; rows whose selection stops changing, or becomes another row's, are dropped."""
    length = reference.shape[0]
    d0 = tm_d0(length)
    d0_search = min(max(d0, 4.5), 8.0)
    reference = reference - reference.mean(axis=0)
    transposed = np.ascontiguousarray(np.swapaxes(mobiles - mobiles.mean(axis=1, keepdims=True), 1, 2))
    pair = np.repeat(np.arange(len(mobiles)), len(seeds))
    weights = np.tile(seeds, (len(mobiles), 1))
    best = np.zeros(len(mobiles))
    for iteration in range(MAX_ITERATIONS + 1):
        squared = _superposed_d2(reference, transposed[pair], weights.astype(np.float64))
        np.maximum.at(best, pair, (1.0 / (1.0 + squared / d0**2)).mean(axis=1))
        # The TM-score program's first extension of a seed takes the residues within d0_search - 1 Å, later ones
        # those within d0_search + 1 Å, until no selection changes.
        selected = _select(squared, d0_search - 1.0 if iteration == 0 else d0_search + 1.0)
        going = (selected != weights).any(axis=1) if iteration else np.ones(len(pair), dtype=bool)
        pair, weights = pair[going], selected[going]
        if not len(pair):
            break
        keep = _distinct(pair, weights)
        pair, weights = pair[keep], weights[keep]
    return np.minimum(best, 1.0)


def _check(samples: Sequence[Sample], threshold: float, max_samples: int) -> None:
    if not samples:
        raise ValueError("no samples to cluster")
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"the TM-score threshold must be in (0, 1], not {threshold}")
    if max_samples < 1:
        raise ValueError(f"max_samples must be at least 1, not {max_samples}")
    ids = [sample.id for sample in samples]
    if len(set(ids)) != len(ids):
        raise ValueError(f"sample ids must be unique: {sorted({i for i in ids if ids.count(i) > 1})}")
    length = np.shape(samples[0].ca)[0]
    for sample in samples:
        ca, plddt = np.asarray(sample.ca, dtype=np.float64), np.asarray(sample.plddt, dtype=np.float64)
        if ca.shape != (length, 3):
            raise ValueError(f"{sample.id}: Cα coordinates are {ca.shape}, expected ({length}, 3) as {ids[0]}'s: "
                             f"every sample must be a model of the same query")
        if plddt.shape != (length,):
            raise ValueError(f"{sample.id}: {plddt.shape} pLDDT values for {length} residues")
        if not (np.isfinite(ca).all() and np.isfinite(plddt).all() and np.isfinite(float(sample.confidence))):
            raise ValueError(f"{sample.id}: coordinates, pLDDT and confidence must be finite numbers")
    if length < 3:
        raise ValueError(f"a TM-score needs at least 3 residues, not {length}")


def _count(count: int, noun: str) -> str:
    """'1 sample', '7 samples'."""
    return f"{count} {noun}{'s' if count != 1 else ''}"


def _round(value: Any, digits: int) -> float:
    return round(float(value), digits)


def _ranges(indices: np.ndarray) -> list[list[int]]:
    """Residue indices (0-based, sorted) as [first, last] runs, 1-based: [[1, 12], [140, 152]]."""
    runs: list[list[int]] = []
    for index in indices.tolist():
        if runs and runs[-1][1] == index:
            runs[-1][1] = index + 1
        else:
            runs.append([index + 1, index + 1])
    return runs
