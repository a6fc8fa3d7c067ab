"""The structural states of a sampling run: TM-scores after the best superposition, average-linkage clusters, each
state's most confident sample, clusters.json, ensemble.png and the summary line; built from real Cα coordinates
(the test structures), rigidly moved copies of them (the same state) and copies with one part swung about a hinge
(another state)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image

from alphafold_msa.results.ensemble import (
    CLUSTERS_JSON,
    ENSEMBLE_PNG,
    Sample,
    average_linkage,
    cluster_samples,
    rmsd,
    tm_score,
    tm_scores,
    write_ensemble,
)
from alphafold_msa.structures.read import load_structure_text, read_structure


def calphas(path, chains=None) -> np.ndarray:
    """The Cα coordinates of a structure's protein chains (all, or those named), in file order."""
    structure = read_structure(load_structure_text(path), path.name)
    return np.array([structure.model[chain_id][residue]["CA"].coord
                     for chain_id, chain in structure.chains.items() if chains is None or chain_id in chains
                     for residue in chain.residue_ids], dtype=np.float64)


def rotation(axis, degrees: float) -> np.ndarray:
    axis = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
    cross = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    angle = np.radians(degrees)
    return np.eye(3) + np.sin(angle) * cross + (1 - np.cos(angle)) * cross @ cross


def moved(coordinates: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A rigid motion of `coordinates`: a random rotation and a translation of up to 50 Å."""
    return coordinates @ rotation(rng.normal(size=3), rng.uniform(0, 360)).T + rng.uniform(-50, 50, 3)


def hinged(coordinates: np.ndarray, start: int, axis, degrees: float) -> np.ndarray:
    """`coordinates` with residues from `start` on swung by `degrees` about `axis` through residue `start`."""
    swung = coordinates.copy()
    pivot = coordinates[start]
    swung[start:] = (coordinates[start:] - pivot) @ rotation(axis, degrees).T + pivot
    return swung


@pytest.fixture(scope="module")
def dimer(testdata) -> np.ndarray:
    """2rbg: two chains of 124 residues, 248 Cα atoms."""
    return calphas(testdata / "structures" / "2rbg.pdb")


def test_the_tm_score_is_1_to_a_rigidly_moved_copy_and_finds_the_domain_of_a_hinge(testdata):
    rng = np.random.default_rng(0)
    for name, chains in (("1A7G.cif", None), ("2rbg.pdb", ["A"]), ("2rbg.pdb", None)):
        chain = calphas(testdata / "structures" / name, chains)
        assert tm_score(chain, moved(chain, rng)) == pytest.approx(1.0, abs=1e-9)
        assert rmsd(chain, moved(chain, rng)) == pytest.approx(0.0, abs=1e-6)
        # Half the chain swung by 120 degrees: the best superposition lays the other half exactly (TM > 0.5);
        # one that minimises the RMSD of all residues fits neither half and would score far lower.
        half = hinged(chain, len(chain) // 2, [0.3, 1.0, 0.2], 120)
        score = tm_score(chain, moved(half, rng))
        assert 0.5 < score < 0.7
        assert tm_score(moved(half, rng), chain) == pytest.approx(score, abs=1e-9)  # symmetric
        noisy = moved(chain + rng.normal(0, 0.3, chain.shape), rng)
        np.testing.assert_allclose(tm_scores(chain, np.array([chain, noisy, half])), [1.0, tm_score(chain, noisy),
                                                                                     score], atol=1e-9)
        assert 0.95 < tm_score(chain, noisy) < 1.0


def test_evenly_spaced_seeds_find_what_a_seed_at_every_residue_finds(testdata, monkeypatch):
    """The TM-score program seeds its search at every start position; MAX_STARTS evenly spaced ones per fragment
    length cost a third and lose at most a few thousandths."""
    from alphafold_msa.results import ensemble

    chain = calphas(testdata / "structures" / "2rbg.pdb", ["A"])
    rng = np.random.default_rng(5)
    others = np.array([moved(hinged(chain, start, rng.normal(size=3), degrees) + rng.normal(0, 1.0, chain.shape), rng)
                       for start, degrees in ((30, 40), (62, 90), (90, 150), (62, 20))])
    found = tm_scores(chain, others)
    monkeypatch.setattr(ensemble, "MAX_STARTS", 10**6)
    assert len(ensemble._seeds(len(chain))) > 200
    np.testing.assert_allclose(found, tm_scores(chain, others), atol=0.005)


def three_states(dimer: np.ndarray) -> tuple[list[Sample], dict[str, set[str]]]:
    """12 samples of the dimer in 3 states: as deposited (6), chain B swung by 70 degrees (4) and by -110 degrees
    about another axis (2); each sample rigidly moved, all but the first two with 0.3 Å of noise; the most confident
    sample of the second state is not its first; given in shuffled order."""
    rng = np.random.default_rng(1)
    states = {"open": dimer, "swung": hinged(dimer, 124, [0, 0, 1], 70), "flipped": hinged(dimer, 124, [1, 0, 0], -110)}
    confidences = {"open": [90, 88, 87, 86, 85, 84], "swung": [78, 82, 76, 75], "flipped": [60, 70]}
    samples, members = [], {}
    for state, coordinates in states.items():
        for index, confidence in enumerate(confidences[state]):
            noise = 0.0 if (state, index) in (("open", 0), ("open", 1)) else rng.normal(0, 0.3, coordinates.shape)
            sample_id = f"model_{index % 5 + 1}_ptm_seed_{len(samples):03d}"
            samples.append(Sample(sample_id, moved(coordinates + noise, rng), np.full(len(dimer), confidence - 2.0),
                                  float(confidence)))
            members.setdefault(state, set()).add(sample_id)
    order = rng.permutation(len(samples))
    return [samples[i] for i in order], members


def test_the_states_constructed_are_the_clusters_found_with_the_most_confident_as_representatives(dimer):
    samples, states = three_states(dimer)
    ensemble = cluster_samples(samples)
    assert [set(cluster.members) for cluster in ensemble.clusters] == [states["open"], states["swung"],
                                                                        states["flipped"]]
    confidence = {sample.id: sample.confidence for sample in samples}
    for cluster in ensemble.clusters:
        assert cluster.representative == max(cluster.members, key=confidence.__getitem__)
        assert list(cluster.members) == sorted(cluster.members, key=lambda i: -confidence[i])
        assert cluster.mean_confidence == pytest.approx(np.mean([confidence[i] for i in cluster.members]))
        assert cluster.mean_tm_within > 0.95
    top, swung, flipped = ensemble.clusters
    assert ensemble.top.id == top.representative and confidence[top.representative] == 90
    assert confidence[swung.representative] == 82 and confidence[flipped.representative] == 70
    assert top.tm_to_top == 1.0 and top.rmsd_to_top == pytest.approx(0.0, abs=1e-9)
    assert 0.5 < swung.tm_to_top < 0.8 and 0.5 < flipped.tm_to_top < 0.8 and swung.rmsd_to_top > 3
    # The second sample is the first rigidly moved: TM-score 1 to it.
    exact = next(i for i, s in enumerate(ensemble.samples) if confidence[s.id] == 88)
    assert ensemble.tm_to_top[exact] == pytest.approx(1.0, abs=1e-9) and ensemble.rmsd_to_top[exact] < 1e-6
    np.testing.assert_allclose(ensemble.tm, ensemble.tm.T)
    assert ensemble.summary() == (f"3 structural states: 6 samples like the top model (TM 1.00), "
                                  f"4 at TM {swung.tm_to_top:.2f}, 2 at TM {flipped.tm_to_top:.2f}")
    assert re.fullmatch(r"3 structural states: 6 samples like the top model \(TM 1\.00\), 4 at TM 0\.\d\d, "
                        r"2 at TM 0\.\d\d", ensemble.summary())
    # The same samples in another order: the same states.
    again = cluster_samples(samples[::-1])
    assert [c.members for c in again.clusters] == [c.members for c in ensemble.clusters]


def test_write_ensemble_writes_the_clusters_and_a_plot(dimer, tmp_path):
    samples, states = three_states(dimer)
    ensemble = write_ensemble(samples, tmp_path / "ensemble", confidence_label="Mean pLDDT")
    record = json.loads((tmp_path / "ensemble" / CLUSTERS_JSON).read_text())
    assert record["summary"] == ensemble.summary()
    assert record["method"]["tm_threshold"] == 0.8 and record["method"]["residues_compared"] == 248
    assert record["top_sample"] == ensemble.top.id and record["left_out"] == []
    assert [(c["cluster"], c["size"], set(c["members"])) for c in record["clusters"]] == [
        (1, 6, states["open"]), (2, 4, states["swung"]), (3, 2, states["flipped"])]
    assert [c["representative"] for c in record["clusters"]] == [c.representative for c in ensemble.clusters]
    assert record["clusters"][0]["tm_to_top"] == 1.0 and 0.5 < record["clusters"][1]["tm_to_top"] < 0.8
    assert len(record["samples"]) == 12 and {s["cluster"] for s in record["samples"]} == {1, 2, 3}
    with Image.open(tmp_path / "ensemble" / ENSEMBLE_PNG) as image:
        image.load()
        assert image.format == "PNG" and min(image.size) >= 400
        assert image.text["Title"] == "3 structural states among 12 samples"
        pixels = np.asarray(image.convert("RGB"))
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 10  # drawn, not blank


def test_disordered_residues_do_not_split_a_state(dimer):
    """A tail placed at random in each sample, as AlphaFold places a disordered one (pLDDT below 50 there):
    the residues most samples call disordered are left out, and the samples stay one state."""
    rng = np.random.default_rng(2)
    plddt = np.full(len(dimer), 85.0)
    plddt[:40] = 30.0
    samples = []
    for index in range(5):
        floppy = dimer.copy()
        floppy[:40] += rng.normal(0, 8, (40, 3))
        samples.append(Sample(f"s{index}", moved(floppy, rng), plddt, 80.0 - index))
    ensemble = cluster_samples(samples)
    assert ensemble.summary() == "1 structural state: 5 samples like the top model (TM 1.00)"
    assert ensemble.to_json()["method"]["residues_left_out"] == [[1, 40]]
    assert len(ensemble.residues) == 208
    # Compared over every residue (confident everywhere), the random tails make the samples look apart.
    everywhere = [Sample(s.id, s.ca, np.full(len(dimer), 85.0), s.confidence) for s in samples]
    assert cluster_samples(everywhere).tm[0, 1:].max() < 0.9


def test_past_the_cap_the_least_confident_are_left_out_and_named(testdata):
    chain = calphas(testdata / "structures" / "1A7G.cif")
    rng = np.random.default_rng(3)
    samples = [Sample(f"s{i}", moved(chain, rng), np.full(len(chain), 90.0), float(i)) for i in range(6)]
    ensemble = cluster_samples(samples, max_samples=4)
    assert [s.id for s in ensemble.samples] == ["s5", "s4", "s3", "s2"] and ensemble.left_out == ("s1", "s0")
    assert ensemble.summary() == ("1 structural state: 4 samples like the top model (TM 1.00) "
                                  "(the 4 most confident of 6 samples compared)")
    alone = cluster_samples(samples, max_samples=1)
    assert alone.summary() == ("1 structural state: 1 sample like the top model (TM 1.00) "
                               "(the 1 most confident of 6 samples compared)")
    assert alone.clusters[0].representative == "s5" and alone.tm.tolist() == [[1.0]]


def test_many_states_are_summarised_and_drawn_in_grey_past_nine(testdata, tmp_path):
    chain = calphas(testdata / "structures" / "1A7G.cif")
    rng = np.random.default_rng(4)
    # 12 states: the chain swung at residue 41 by 0, 25, 50 ... degrees; 25 degrees apart is TM < 0.8 here.
    samples = [Sample(f"s{angle}", moved(hinged(chain, 41, [0, 1, 0], angle), rng), np.full(len(chain), 80.0),
                      100.0 - angle / 10) for angle in range(0, 300, 25)]
    ensemble = write_ensemble(samples, tmp_path)
    assert len(ensemble.clusters) == 12 and all(c.size == 1 for c in ensemble.clusters)
    assert ensemble.clusters[0].representative == "s0"
    assert re.fullmatch(r"12 structural states: 1 sample like the top model \(TM 1\.00\)(, 1 at TM 0\.\d\d){4}, "
                        r"7 more states of 7 samples at TM 0\.\d\d-0\.\d\d", ensemble.summary())
    with Image.open(tmp_path / ENSEMBLE_PNG) as image:
        assert image.format == "PNG"


def test_average_linkage_does_not_chain_and_breaks_ties_by_index():
    # Items on a line 0.15 apart, cut at 0.2: single linkage would chain them all into one cluster; the mean
    # distance between {0, 1} and {2, 3} is 0.3.
    points = np.array([0.0, 0.15, 0.3, 0.45])
    assert average_linkage(np.abs(points[:, None] - points), 0.2).tolist() == [0, 0, 2, 2]
    # Three items equally far apart: the first two merge first, then the third joins at the same mean distance.
    equal = np.full((3, 3), 0.1) - 0.1 * np.eye(3)
    assert average_linkage(equal, 0.1).tolist() == [0, 0, 0]
    assert average_linkage(equal, 0.05).tolist() == [0, 1, 2]


def test_samples_of_different_queries_are_refused(dimer):
    one = Sample("a", dimer, np.full(len(dimer), 90.0), 90.0)
    with pytest.raises(ValueError, match=r"b: .*\(124, 3\).*same query"):
        cluster_samples([one, Sample("b", dimer[:124], np.full(124, 90.0), 80.0)])
    with pytest.raises(ValueError, match="unique"):
        cluster_samples([one, one])
    with pytest.raises(ValueError, match="no samples"):
        cluster_samples([])
