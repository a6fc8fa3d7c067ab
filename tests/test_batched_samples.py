"""Several seeds of one model in one network call (ModelRunner.predict_batch): each sample is the computation it
is alone, and a job run with batches is the job run one sample at a time.

A batch computes the same sums in an order XLA may choose otherwise, which bfloat16 rounds differently (and
random weights amplify: the kernel self-check judges a batch within bfloat16's noise, tests/test_kernels.py).
At this 13-residue query XLA's CPU kernels keep the order: pLDDT and PAE are identical, coordinates agree to
float32 rounding."""

from __future__ import annotations

import numpy as np
import pytest

from alphafold_msa.errors import ConfigError
from alphafold_msa.model import kernels
from alphafold_msa.model.features import build_features, processed_bytes
from alphafold_msa.model.runner import ModelRunner
from alphafold_msa.msa import read_msa
from alphafold_msa.predict import run_prediction

SEEDS = list(range(6))


@pytest.fixture(scope="module")
def runner(reduced_runner) -> ModelRunner:
    """The worker's reduced network (bfloat16, plain XLA on a CPU)."""
    return reduced_runner


@pytest.fixture(scope="module")
def processed(small_msa_path, runner) -> list[dict]:
    raw = build_features(read_msa(small_msa_path))
    return [runner.process(raw, 3, seed) for seed in SEEDS]


def assert_same_sample(batched: dict, alone: dict) -> None:
    """pLDDT, PAE and pTM as stored are equal; coordinates agree to float32 rounding (1e-3 Å); the same atoms."""
    for name in ("plddt", "predicted_aligned_error", "ptm"):
        assert np.array_equal(np.asarray(batched[name]), np.asarray(alone[name])), name
    positions = [out["structure_module"]["final_atom_positions"] for out in (batched, alone)]
    assert np.abs(positions[0] - positions[1]).max() < 1e-3
    assert np.array_equal(batched["structure_module"]["final_atom_mask"], alone["structure_module"]["final_atom_mask"])


def batched_and_alone(runner, processed: list[dict], tolerance: float) -> list:
    batched = runner.predict_batch(processed, 1, 3, SEEDS, tolerance)
    alone = [runner.predict(features, 1, 3, seed, tolerance) for features, seed in zip(processed, SEEDS)]
    assert [recycles for _, recycles in batched] == [recycles for _, recycles in alone]
    for (result, _), (reference, _) in zip(batched, alone):
        assert_same_sample(result, reference)
    return batched


@pytest.mark.parametrize("tolerance, recycles", [(0.0, 3), (1e4, 1)])
def test_each_sample_of_a_batch_is_what_it_is_alone(runner, processed, tolerance, recycles):
    """Each seed draws its own keys and recycles as it does alone (all recycles, or all stopped after the
    first)."""
    batched = batched_and_alone(runner, processed, tolerance)
    assert {done for _, done in batched} == {recycles}
    assert not np.array_equal(batched[0][0]["plddt"], batched[1][0]["plddt"]), "seeds differ"


def test_each_sample_of_a_batch_stops_where_it_stops_alone(runner, processed):
    """With the network's stop_at_score in the widest gap between the seeds' first confidences, some stop after
    one pass and the others recycle on: in the batch, each keeps its own recycle's output."""
    first = sorted(float(np.mean(runner.predict(features, 1, 0, seed, 0.0)[0]["plddt"]))
                   for features, seed in zip(processed, SEEDS))
    gap = max(range(1, len(first) - 1), key=lambda index: first[index + 1] - first[index])
    model_config = runner.network(runner.kernels).config.model
    default = model_config.stop_at_score
    model_config.stop_at_score = (first[gap] + first[gap + 1]) / 2
    try:
        batched = batched_and_alone(runner, processed, 0.0)
    finally:
        model_config.stop_at_score = default
    assert len({done for _, done in batched}) > 1, "the samples stopped at different recycles"


def test_a_batch_needs_one_shape_and_a_seed_each(small_msa_path, runner, testdata):
    raw = build_features(read_msa(small_msa_path))
    other = build_features(read_msa(testdata / "colabfold" / "5AWL1.a3m"))  # 10 residues: the same length bucket
    with pytest.raises(ValueError, match="2 feature sets for 1 seeds"):
        runner.predict_batch([runner.process(raw, 0, 0)] * 2, 1, 0, [0])
    with pytest.raises(ValueError, match="one shape"):
        runner.predict_batch([runner.process(raw, 0, 0), runner.process(other, 0, 0)], 1, 0, [0, 1])


def test_a_batch_compiles_with_the_compile_mode_s_options(small_msa_path, reduced_weights, monkeypatch):
    """On a GPU the network's jit carries compiler options (the compile mode); jax takes them only on the
    outermost jit, which for a batch is the batched step's."""
    options = {"compiler_options": {"xla_cpu_enable_fast_math": False}}
    monkeypatch.setattr(kernels, "jit_kwargs", lambda mode, device: options)
    fresh = ModelRunner(reduced_weights, "reduced", kernels="xla")
    raw = build_features(read_msa(small_msa_path))
    outputs = fresh.predict_batch([fresh.process(raw, 0, seed) for seed in (0, 1)], 1, 0, [0, 1])
    assert len(outputs) == 2 and all(np.isfinite(result["plddt"]).all() for result, _ in outputs)


def job(msa_path, runner, folder, monkeypatch, per_call: str, **fields):
    monkeypatch.setenv("ALPHAFOLD_MSA_SAMPLES_PER_CALL", per_call)
    settings = {"models": (1, 2), "num_recycle": 1, "relax": "none", "formats": ("pdb",), "num_seeds": 3,
                "keep_top": 6, "recycle_early_stop_tolerance": 0.0, **fields}
    return run_prediction(msa_path, folder, runner=runner, **settings)


def test_a_job_in_batches_is_the_job_one_sample_at_a_time(small_msa_path, runner, tmp_path, monkeypatch):
    """Three seeds of two models: the same samples in the same order (samples.tsv), the same ranking; the
    batched job ran each model's seeds in one call."""
    before = runner.counter_snapshot().get("predictions", 0)
    one = job(small_msa_path, runner, tmp_path / "one", monkeypatch, "1")
    batched = job(small_msa_path, runner, tmp_path / "three", monkeypatch, "3")
    assert (one.timings["samples_per_call"], batched.timings["samples_per_call"]) == (1, 3)
    assert runner.counter_snapshot()["predictions"] - before == 12
    rows = [(tmp_path / name / "samples.tsv").read_text().splitlines() for name in ("one", "three")]
    assert [row.split("\t")[:3] for row in rows[0]] == [row.split("\t")[:3] for row in rows[1]]
    assert [(m.model_name, m.seed, m.recycles, m.mean_plddt) for m in one.models] == [
        (m.model_name, m.seed, m.recycles, m.mean_plddt) for m in batched.models]


def test_stop_at_score_stops_a_batched_job_at_the_same_sample(small_msa_path, runner, tmp_path, monkeypatch):
    one = job(small_msa_path, runner, tmp_path / "one", monkeypatch, "1", stop_at_score=1.0)
    batched = job(small_msa_path, runner, tmp_path / "three", monkeypatch, "3", stop_at_score=1.0)
    assert [(m.model_name, m.seed) for m in batched.models] == [(m.model_name, m.seed) for m in one.models]
    assert len(batched.models) == 1 and batched.summary.get("stopped_early") == one.summary.get("stopped_early")


def test_seeds_are_spread_evenly_and_a_group_stays_within_the_job_memory(small_msa_path, runner, tmp_path,
                                                                         monkeypatch):
    """Five seeds at up to four per call run as 3 + 2 (one compilation); a job memory that holds the features
    of two seeds a third at a time caps the calls at two."""
    monkeypatch.setenv("ALPHAFOLD_MSA_SAMPLES_PER_CALL", "4")
    fields = {"models": (1,), "num_recycle": 0, "relax": "none", "formats": ("pdb",), "num_seeds": 5, "keep_top": 5}
    assert run_prediction(small_msa_path, tmp_path / "a", runner=runner, **fields).timings["samples_per_call"] == 3
    raw = build_features(read_msa(small_msa_path))
    per_seed = processed_bytes(16, runner.msa_crops(len(raw["msa"])), 0)
    monkeypatch.setenv("ALPHAFOLD_MSA_JOB_MEMORY_GB", f"{per_seed * 3 * 2.5 / 1e9:.9f}")
    result = run_prediction(small_msa_path, tmp_path / "b", runner=runner, **fields)
    assert result.timings["samples_per_call"] == 2 and len(result.models) == 5


def test_processed_bytes_is_what_processing_gives(small_msa_path, runner):
    raw = build_features(read_msa(small_msa_path))
    features = runner.process(raw, 2, 0)
    actual = sum(value.nbytes for value in features.values())
    length = features["aatype"].shape[1]
    assert processed_bytes(length, runner.msa_crops(len(raw["msa"])), 2) == pytest.approx(actual, rel=0.2)


def test_samples_per_call_by_device_setting_and_memory(reduced_runner, reduced_weights, runners, monkeypatch):
    """One on a CPU unless asked; no more than fit in the device memory the worker plans with (each sample's
    features too); one for AlphaFold-Multimer; a malformed setting is refused by name."""
    monkeypatch.delenv("ALPHAFOLD_MSA_SAMPLES_PER_CALL", raising=False)
    assert reduced_runner.samples_per_call(100, [1]) == 1
    monkeypatch.setenv("ALPHAFOLD_MSA_SAMPLES_PER_CALL", "8")
    assert reduced_runner.samples_per_call(100, [1]) == 8
    monkeypatch.setenv("ALPHAFOLD_MSA_DEVICE_MEMORY_GB", "0.4")  # room for two 100-residue samples
    assert reduced_runner.samples_per_call(100, [1]) == 2
    assert reduced_runner.samples_per_call(100, [1], feature_bytes=200_000_000) == 1
    assert runners.get(reduced_weights, "reduced", "multimer").samples_per_call(100, [1]) == 1
    for bad in ("0", "17", "two"):
        monkeypatch.setenv("ALPHAFOLD_MSA_SAMPLES_PER_CALL", bad)
        with pytest.raises(ConfigError, match="ALPHAFOLD_MSA_SAMPLES_PER_CALL must be auto or a whole number"):
            reduced_runner.samples_per_call(100, [1])
