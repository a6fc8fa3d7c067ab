"""Several seeds of one model in one network call (ModelRunner.predict_batch): each sample is what it is alone,
and a job run with batches is the job run one sample at a time."""

from __future__ import annotations

import numpy as np
import pytest

from alphafold_msa.errors import ConfigError
from alphafold_msa.model.features import build_features
from alphafold_msa.msa import read_msa
from alphafold_msa.predict import run_prediction


def assert_same_sample(batched: dict, alone: dict) -> None:
    """pLDDT, PAE and pTM as stored are equal; coordinates agree to float32 summation order (1e-3 Å)."""
    for name in ("plddt", "predicted_aligned_error", "ptm"):
        assert np.array_equal(np.asarray(batched[name]), np.asarray(alone[name])), name
    positions = [out["structure_module"]["final_atom_positions"] for out in (batched, alone)]
    assert np.abs(positions[0] - positions[1]).max() < 1e-3
    assert np.array_equal(batched["structure_module"]["final_atom_mask"], alone["structure_module"]["final_atom_mask"])


SEEDS = list(range(6))


@pytest.fixture(scope="module")
def processed(small_msa_path, reduced_runner) -> list[dict]:
    raw = build_features(read_msa(small_msa_path))
    return [reduced_runner.process(raw, 3, seed) for seed in SEEDS]


def batched_and_alone(runner, processed: list[dict], tolerance: float) -> tuple[list, list]:
    batched = runner.predict_batch(processed, 1, 3, SEEDS, tolerance)
    alone = [runner.predict(features, 1, 3, seed, tolerance) for features, seed in zip(processed, SEEDS)]
    assert [recycles for _, recycles in batched] == [recycles for _, recycles in alone]
    for (result, _), (reference, _) in zip(batched, alone):
        assert_same_sample(result, reference)
    return batched, alone


@pytest.mark.parametrize("tolerance, recycles", [(0.0, 3), (1e4, 1)])
def test_each_sample_of_a_batch_is_what_it_is_alone(reduced_runner, processed, tolerance, recycles):
    """Each seed draws its own keys and recycles as it does alone (all recycles, or all stopped after the
    first)."""
    batched, _ = batched_and_alone(reduced_runner, processed, tolerance)
    assert {done for _, done in batched} == {recycles}
    assert not np.array_equal(batched[0][0]["plddt"], batched[1][0]["plddt"]), "seeds differ"


def test_each_sample_of_a_batch_stops_where_it_stops_alone(reduced_runner, processed):
    """With the network's stop_at_score between the seeds' first confidences, some stop after one pass and the
    others recycle on: in the batch, each keeps its own recycle's output."""
    first = sorted(float(np.mean(reduced_runner.predict(features, 1, 0, seed, 0.0)[0]["plddt"]))
                   for features, seed in zip(processed, SEEDS))
    model_config = reduced_runner.network(reduced_runner.kernels).config.model
    default = model_config.stop_at_score
    model_config.stop_at_score = (first[2] + first[3]) / 2
    try:
        batched, _ = batched_and_alone(reduced_runner, processed, 0.0)
    finally:
        model_config.stop_at_score = default
    assert len({done for _, done in batched}) > 1, "the samples stopped at different recycles"


def test_a_batch_needs_one_shape_and_a_seed_each(small_msa_path, reduced_runner, testdata):
    raw = build_features(read_msa(small_msa_path))
    other = build_features(read_msa(testdata / "colabfold" / "5AWL1.a3m"))  # 10 residues: the same length bucket
    with pytest.raises(ValueError, match="2 feature sets for 1 seeds"):
        reduced_runner.predict_batch([reduced_runner.process(raw, 0, 0)] * 2, 1, 0, [0])
    with pytest.raises(ValueError, match="one shape"):
        reduced_runner.predict_batch([reduced_runner.process(raw, 0, 0), reduced_runner.process(other, 0, 0)], 1, 0,
                                     [0, 1])


def job(msa_path, runner, folder, monkeypatch, per_call: str, **fields):
    monkeypatch.setenv("ALPHAFOLD_MSA_SAMPLES_PER_CALL", per_call)
    settings = {"models": (1, 2), "num_recycle": 1, "relax": "none", "formats": ("pdb",), "num_seeds": 3,
                "keep_top": 6, "recycle_early_stop_tolerance": 0.6, **fields}
    return run_prediction(msa_path, folder, runner=runner, **settings)


def test_a_job_in_batches_is_the_job_one_sample_at_a_time(small_msa_path, reduced_runner, tmp_path, monkeypatch):
    """Three seeds of two models: the same samples in the same order (samples.tsv), the same ranking; the
    batched job ran each model's seeds in one call."""
    before = reduced_runner.counter_snapshot().get("predictions", 0)
    one = job(small_msa_path, reduced_runner, tmp_path / "one", monkeypatch, "1")
    batched = job(small_msa_path, reduced_runner, tmp_path / "three", monkeypatch, "3")
    assert (one.timings["samples_per_call"], batched.timings["samples_per_call"]) == (1, 3)
    assert reduced_runner.counter_snapshot()["predictions"] - before == 12
    rows = [(tmp_path / name / "samples.tsv").read_text().splitlines() for name in ("one", "three")]
    assert [row.split("\t")[:3] for row in rows[0]] == [row.split("\t")[:3] for row in rows[1]]
    assert [(m.model_name, m.seed, m.recycles, m.mean_plddt) for m in one.models] == [
        (m.model_name, m.seed, m.recycles, m.mean_plddt) for m in batched.models]


def test_stop_at_score_stops_a_batched_job_at_the_same_sample(small_msa_path, reduced_runner, tmp_path, monkeypatch):
    one = job(small_msa_path, reduced_runner, tmp_path / "one", monkeypatch, "1", stop_at_score=1.0)
    batched = job(small_msa_path, reduced_runner, tmp_path / "three", monkeypatch, "3", stop_at_score=1.0)
    assert [(m.model_name, m.seed) for m in batched.models] == [(m.model_name, m.seed) for m in one.models]
    assert len(batched.models) == 1 and batched.summary.get("stopped_early") == one.summary.get("stopped_early")


def test_samples_per_call_by_device_setting_and_memory(reduced_runner, reduced_weights, runners, monkeypatch):
    """One on a CPU unless asked; no more than fit in the device memory the worker plans with; one for
    AlphaFold-Multimer; a malformed setting is refused by name."""
    monkeypatch.delenv("ALPHAFOLD_MSA_SAMPLES_PER_CALL", raising=False)
    assert reduced_runner.samples_per_call(100, [1]) == 1
    monkeypatch.setenv("ALPHAFOLD_MSA_SAMPLES_PER_CALL", "8")
    assert reduced_runner.samples_per_call(100, [1]) == 8
    monkeypatch.setenv("ALPHAFOLD_MSA_DEVICE_MEMORY_GB", "0.4")  # room for two 100-residue samples
    assert reduced_runner.samples_per_call(100, [1]) == 2
    assert runners.get(reduced_weights, "reduced", "multimer").samples_per_call(100, [1]) == 1
    for bad in ("0", "17", "two"):
        monkeypatch.setenv("ALPHAFOLD_MSA_SAMPLES_PER_CALL", bad)
        with pytest.raises(ConfigError, match="ALPHAFOLD_MSA_SAMPLES_PER_CALL must be auto or a whole number"):
            reduced_runner.samples_per_call(100, [1])
