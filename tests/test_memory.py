"""Device memory estimates: close to XLA's own buffer assignment, and jobs that cannot fit are refused."""

from __future__ import annotations

import pytest

from alphafold_msa import settings
from alphafold_msa.model import memory
from alphafold_msa.model.config import network_config
from alphafold_msa.testing.memory_probe import measure_working_bytes
from alphafold_msa.worker.handler import handle_job


def test_estimate_matches_the_compiled_network_between_table_lengths():
    """224 residues is not in the table: the interpolated estimate is within 15% of XLA's figure."""
    measured, param_bytes = measure_working_bytes(network_config("monomer_ptm", "reduced"), 224)
    assert param_bytes == memory.PARAM_BYTES_PER_MODEL["reduced"]
    assert memory.working_bytes(224, "reduced") == pytest.approx(measured, rel=0.15)


@pytest.mark.parametrize("card_gb", [24, 48, 80])
def test_longest_fitting_length_is_the_boundary(card_gb):
    available = int(card_gb * memory.GB)
    longest = memory.longest_fitting_length(available)
    assert 500 < longest < 20_000
    assert memory.estimate_peak_bytes(longest) <= available < memory.estimate_peak_bytes(longest + 1)


def test_estimate_grows_with_length_and_models():
    estimates = [memory.estimate_peak_bytes(length) for length in (50, 100, 500, 1000, 2500, 4000)]
    assert estimates == sorted(estimates) and len(set(estimates)) == len(estimates)
    assert memory.estimate_peak_bytes(300, num_models=1) < memory.estimate_peak_bytes(300, num_models=5)


def test_a_job_too_large_for_the_device_is_refused_before_running(monkeypatch, worker_env, testdata):
    monkeypatch.setenv(settings.DEVICE_MEMORY_GB.name, "0.05")
    job = {"msa": (testdata / "pfam" / "Pkinase.sto").read_text(), "models": [1], "num_recycle": 0}
    result = handle_job({"id": "job-memory", "input": job})
    assert set(result) == {"error"}, result
    assert "a 248-residue query needs about" in result["error"]
    assert f"more than the 0.05 GB of {settings.DEVICE_MEMORY_GB.name}=0.05" in result["error"]
    assert "the longest query that fits is about" in result["error"]
    monkeypatch.setenv(settings.DEVICE_MEMORY_GB.name, "lots")
    result = handle_job({"id": "job-memory-2", "input": job})
    assert "ALPHAFOLD_MSA_DEVICE_MEMORY_GB must be a positive number of gigabytes, got 'lots'" in result["error"]
