"""run_prediction end to end on real alignments, with the reduced config and generated weights."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from Bio.PDB import PDBParser
from Bio.SeqUtils import seq1

from alphafold_msa import run_prediction
from alphafold_msa.msa import read_msa


def check_structure(pdb_path, scores_path, query_sequence: str) -> None:
    """One residue per query residue, the query's sequence, pLDDT in the B-factor column."""
    structure = PDBParser(QUIET=True).get_structure("model", str(pdb_path))
    residues = list(structure.get_residues())
    assert len(residues) == len(query_sequence)
    sequence = "".join(seq1(r.get_resname()) for r in residues)
    expected = "".join(c if c in "ACDEFGHIKLMNPQRSTVWY" else "X" for c in query_sequence)
    assert sequence == expected
    plddt = json.loads(scores_path.read_text())["plddt"]
    b_factors = [next(iter(r.get_atoms())).get_bfactor() for r in residues]
    np.testing.assert_allclose(b_factors, plddt, atol=0.011)


@pytest.mark.parametrize(
    "path, models",
    [("colabfold/3G5O_A.a3m", [1, 2]), ("pfam/Pkinase.sto", [2]), ("pfam/20aa-alitest.afa", [1])],
)
def test_prediction_on_real_alignments(testdata, reduced_weights, runners, tmp_path, path, models):
    result = run_prediction(testdata / path, tmp_path, reduced_weights, model_config="reduced",
                            models=models, num_recycle=1, runners=runners)
    query = read_msa(testdata / path).query_sequence
    assert [m.rank for m in result.models] == list(range(len(models)))
    assert sorted(m.model_name for m in result.models) == [f"model_{n}_ptm" for n in models]
    plddts = [m.mean_plddt for m in result.models]
    assert plddts == sorted(plddts, reverse=True)
    for model in result.models:
        assert model.structure_path == tmp_path / f"ranked_{model.rank}.pdb"
        check_structure(model.structure_path, model.scores_path, query)
        scores = json.loads(model.scores_path.read_text())
        assert np.array(scores["pae"]).shape == (len(query), len(query))
        assert scores["max_pae"] == pytest.approx(np.max(scores["pae"]), abs=0.01)
        assert 0 < scores["ptm"] < 1
    ranking = json.loads(result.ranking_path.read_text())
    assert ranking["order"][0] == f"{result.best.model_name}_seed_0"
    timings = json.loads(result.timings_path.read_text())
    assert set(timings["models"]) == {f"model_{n}_ptm_seed_0" for n in models}
    assert timings["kernels"] == "xla", "a CPU never runs the fused GPU kernels"
    assert timings["kernel_selection"] == {"requested": "auto", "path": "xla", "compile_mode": "tuned", "device": "cpu"}
    assert json.loads(result.summary_path.read_text())["kernels"] == "xla"
    assert result.msa_summary["query_length"] == len(query)
    check_report(result, read_msa(testdata / path))


def check_report(result, msa) -> None:
    """The plots are PNG images; the summary lists the models as ranked; coverage counts residues."""
    from PIL import Image

    assert set(result.plots) == {"plddt", "pae", "coverage"}
    for path in result.plots.values():
        with Image.open(path) as image:
            assert image.format == "PNG" and image.size[0] >= 400
    summary = json.loads(result.summary_path.read_text())
    assert [m["model"] for m in summary["models"]] == [m.model_name for m in result.models]
    assert summary["best_model"] == f"{result.best.model_name}_seed_0"
    assert summary["query_length"] == msa.length and summary["num_sequences"] == msa.depth
    text = result.summary_path.with_suffix(".txt").read_text()
    assert text.startswith(f"query: {msa.query_name} ({msa.length} residues)")
    assert f"0. {result.best.model_name} seed 0: mean pLDDT {result.best.mean_plddt:.2f}" in text
    coverage = result.msa_summary["coverage"]
    assert len(coverage) == msa.length and max(coverage) <= result.msa_summary["num_sequences_filtered"]
    assert min(coverage) >= 1, "the query covers every position"


def test_outputs_equal_a_direct_alphafold_call(testdata, reduced_weights, reduced_runner, tmp_path):
    """Fidelity: the pipeline adds nothing between the features and AlphaFold's RunModel."""
    from alphafold.common import protein
    from alphafold.model import model

    from alphafold_msa.model.config import bucket_length
    from alphafold_msa.model.features import build_features, pad_residues
    from alphafold_msa.model.weights import load_params
    from alphafold_msa.msa.filter import filter_msa

    msa = read_msa(testdata / "pfam" / "20aa-alitest.afa")
    result = run_prediction(msa, tmp_path, runner=reduced_runner, models=[2], num_recycle=2, random_seed=5)
    filtered, record = filter_msa(msa, 20_000, seed=5)
    assert record["unique_depth"] == 3, "test4 equals the query once its insertions are set aside"
    assert result.msa_summary["num_sequences_filtered"] == 3
    processed = reduced_runner.process(build_features(filtered), num_recycle=2, random_seed=5)
    padded = pad_residues(processed, reduced_runner.network_config, bucket_length(20))
    params = load_params(reduced_weights, "model_2_ptm", reduced_runner.network_config, "reduced")
    direct = model.RunModel(copy.deepcopy(reduced_runner.network_config), params)
    direct.config.model.num_recycle = 2
    output, _ = direct.predict(padded, random_seed=5)
    output = {"plddt": output["plddt"][:20],
              "structure_module": {k: v[:20] for k, v in output["structure_module"].items()}}
    scores = json.loads(result.best.scores_path.read_text())
    np.testing.assert_allclose(scores["plddt"], np.round(output["plddt"].astype(float), 2), atol=1e-6)
    ours = protein.from_pdb_string(result.best.structure_path.read_text())
    mask = output["structure_module"]["final_atom_mask"].astype(bool)
    np.testing.assert_allclose(ours.atom_positions[mask],
                               output["structure_module"]["final_atom_positions"][mask], atol=1e-3)


@pytest.mark.parametrize("name, length, depth", [("RRM_1.sto", 71, 79), ("20aa-alitest.afa", 20, 3)])
def test_padding_to_buckets_leaves_outputs_unchanged(testdata, reduced_weights, tmp_path, name, length, depth):
    """A query run at its own length with AlphaFold's fixed MSA crops, and padded to its length and
    depth buckets, agree (71 -> 72 residues; 20 -> 24 residues and 32 -> 16 extra MSA rows).

    In float32 and without recycling, so that the check is about masking: in bfloat16 the padded
    reductions round differently, and random weights amplify any difference from one recycle to
    the next (a trained network does not).
    """
    from alphafold.common import protein

    from alphafold_msa.model.runner import ModelRunner

    path = testdata / "pfam" / name
    results = {}
    for bucketing in (False, True):
        runner = ModelRunner(reduced_weights, "reduced", "monomer_ptm", bucketing=bucketing, bfloat16=False)
        results[bucketing] = run_prediction(path, tmp_path / str(bucketing), runner=runner, models=[1], num_recycle=0)
        assert runner.counters["compilations"] == 1
        assert runner.network(runner.kernels).config.model.global_config.length_buckets is bucketing
    assert ModelRunner(reduced_weights, "reduced", bucketing=False).msa_crops(depth) == (16, 32)
    assert ModelRunner(reduced_weights, "reduced").msa_crops(depth) == ((16, 32) if depth > 48 else (16, 16))
    scores = {k: json.loads(r.best.scores_path.read_text()) for k, r in results.items()}
    assert len(scores[True]["plddt"]) == length
    np.testing.assert_allclose(scores[True]["plddt"], scores[False]["plddt"], atol=0.1)
    pae_difference = np.abs(np.array(scores[True]["pae"]) - np.array(scores[False]["pae"]))
    assert pae_difference.mean() < 0.05 and np.percentile(pae_difference, 99) < 0.5
    assert scores[True]["ptm"] == pytest.approx(scores[False]["ptm"], abs=0.005)
    coords = {k: protein.from_pdb_string(r.best.structure_path.read_text()).atom_positions for k, r in results.items()}
    assert np.abs(coords[True] - coords[False]).max() < 0.5


def test_seeds_and_models_are_deterministic(testdata, reduced_runner, tmp_path):
    path = testdata / "colabfold" / "6A5J.a3m"
    first = run_prediction(path, tmp_path / "a", runner=reduced_runner, models=[1], num_seeds=2, num_recycle=0)
    again = run_prediction(path, tmp_path / "b", runner=reduced_runner, models=[1], num_seeds=2, num_recycle=0)
    assert len(first.models) == 2 and {m.seed for m in first.models} == {0, 1}
    for a, b in zip(first.models, again.models):
        assert a.structure_path.read_text() == b.structure_path.read_text()


def test_non_ptm_preset_has_no_pae(testdata, reduced_weights, runners, tmp_path):
    result = run_prediction(testdata / "colabfold" / "6A5J.a3m", tmp_path, reduced_weights,
                            model_config="reduced", preset="monomer", models=[1], num_recycle=0, runners=runners)
    scores = json.loads(result.best.scores_path.read_text())
    assert result.best.model_name == "model_1" and result.best.ptm is None and "pae" not in scores


def test_compiled_once_across_models_and_jobs(testdata, reduced_runner, tmp_path):
    path = testdata / "colabfold" / "6A5J.a3m"
    before = reduced_runner.counters["compilations"]
    for job in range(2):
        run_prediction(path, tmp_path / str(job), runner=reduced_runner, models=[1, 2], num_recycle=0)
    assert reduced_runner.counters["compilations"] - before <= 1


@pytest.mark.parametrize("options, message", [
    ({"models": [6]}, "input.models.0: 6 is greater than the maximum of 5"),
    ({"models": [1, 1]}, r"input.models: \[1, 1\] has non-unique elements"),
    ({"num_recycle": -1}, "input.num_recycle: -1 is less than the minimum of 0"),
    ({"num_seeds": 0}, "input.num_seeds: 0 is less than the minimum of 1"),
    ({"colour": "red"}, "'colour' was unexpected"),
])
def test_invalid_options_are_refused_by_the_job_schema(testdata, reduced_runner, tmp_path, options, message):
    from alphafold_msa.protocol.schema import JobInputError

    with pytest.raises(JobInputError, match=message):
        run_prediction(testdata / "colabfold" / "6A5J.a3m", tmp_path, runner=reduced_runner, **options)


def test_recycling_stops_early_below_the_tolerance(testdata, reduced_runner, tmp_path):
    path = testdata / "colabfold" / "6A5J.a3m"
    full = run_prediction(path, tmp_path / "a", runner=reduced_runner, models=[1], num_recycle=3)
    early = run_prediction(path, tmp_path / "b", runner=reduced_runner, models=[1], num_recycle=3,
                           recycle_early_stop_tolerance=100)
    after = run_prediction(path, tmp_path / "c", runner=reduced_runner, models=[1], num_recycle=3)
    assert full.best.recycles == 3 and early.best.recycles == 1
    assert after.best.recycles == 3, "a job's tolerance must not become the next job's default"


def test_concurrent_predictions_equal_sequential_ones(testdata, reduced_runner):
    """Two threads sharing one runner (parameters swapped per model) get what sequential calls get."""
    from concurrent.futures import ThreadPoolExecutor

    from alphafold_msa.model.features import build_features

    processed = reduced_runner.process(build_features(read_msa(testdata / "pfam" / "20aa-alitest.afa")), 1, 0)
    calls = [(1, 0), (2, 0), (1, 1), (2, 1)] * 2
    sequential = [reduced_runner.predict(processed, n, 1, seed)[0]["plddt"] for n, seed in calls]
    with ThreadPoolExecutor(4) as pool:
        concurrent = list(pool.map(lambda call: reduced_runner.predict(processed, call[0], 1, call[1])[0]["plddt"],
                                   calls))
    for expected, got in zip(sequential, concurrent):
        np.testing.assert_array_equal(got, expected)
    assert not np.array_equal(sequential[0], sequential[1]), "models 1 and 2 differ, so a swap would show"


def test_concurrent_feature_processing_equals_sequential(testdata, reduced_runner):
    """The fork's feature pipeline keeps its random state in module globals: two threads processing
    features with different seeds get what each gets alone."""
    import sys
    import threading

    from alphafold_msa.model.features import build_features

    raw = build_features(read_msa(testdata / "pfam" / "RRM_1.sto"))
    seeds = [0, 1, 2, 3] * 3
    sequential = [reduced_runner.process(raw, 2, seed) for seed in seeds]
    assert not np.array_equal(sequential[0]["msa_feat"], sequential[1]["msa_feat"]), "seeds change the sample"
    results: dict[int, dict] = {}
    start = threading.Barrier(len(seeds))

    def process(index: int) -> None:
        start.wait()
        results[index] = reduced_runner.process(raw, 2, seeds[index])

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often, as a busy worker would
    try:
        threads = [threading.Thread(target=process, args=(index,)) for index in range(len(seeds))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    for index, expected in enumerate(sequential):
        # AlphaFold seeds its crops from a process-wide counter, so this one differs from call to call even in
        # one thread; crops are the identity at inference (they keep every residue), so it changes nothing.
        for key in expected.keys() - {"random_crop_to_size_seed"}:
            np.testing.assert_array_equal(results[index][key], expected[key], err_msg=f"seed {seeds[index]}: {key}")
