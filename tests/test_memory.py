"""Device memory estimates: close to XLA's own buffer assignment, and jobs that cannot fit are refused."""

from __future__ import annotations

import json

import pytest

from alphafold_msa import settings
from alphafold_msa.errors import ConfigError, ResourceError
from alphafold_msa.model import memory
from alphafold_msa.model.config import network_config
from alphafold_msa.testing.memory_probe import measure_working_bytes
from alphafold_msa.worker.handler import handle_job


def test_estimate_matches_the_compiled_network_between_table_lengths():
    """224 residues is not in the table: the interpolated estimate is within 15% of XLA's figure."""
    measured, param_bytes = measure_working_bytes(network_config("monomer_ptm", "reduced"), 224)
    assert param_bytes == memory.PARAM_BYTES_PER_MODEL["reduced"]
    assert memory.working_bytes(224, "reduced") == pytest.approx(measured, rel=0.15)


@pytest.mark.slow
def test_a_gpu_worker_plans_with_the_gpu_table_of_its_network(tmp_path):
    """The GPU table (as benchmarks/memory_model.py --table-out writes it) is what a GPU plans with, for the
    kind of network measured (AlphaFold-Multimer on a heterodimer of the length); a CPU, or a GPU without that
    table, plans with the CPU compiler's."""
    measured = {kind: measure_working_bytes(network_config(preset, "reduced"), 64)
                for kind, preset in (("monomer", "monomer_ptm"), ("multimer", "multimer"))}
    gpu_file = tmp_path / "gpu_memory.json"
    assert memory.table_for("gpu", "reduced", gpu_file=gpu_file) is memory.CPU_TABLE
    document = memory.gpu_table_document("reduced", "NVIDIA H100 80GB HBM3", "pallas",
                                         {kind: [(64, working // 2), (128, working)]
                                          for kind, (working, _) in measured.items()},
                                         {kind: params for kind, (_, params) in measured.items()}, {"jax": "0.10.2"})
    gpu_file.write_text(json.dumps(document))
    for kind, (working, params) in measured.items():
        table = memory.table_for("gpu", "reduced", kind, "pallas", gpu_file)
        assert memory.working_bytes(128, "reduced", table) == working and table.param_bytes["reduced"] == params
        assert memory.estimate_peak_bytes(100, "reduced", 1, table) < memory.estimate_peak_bytes(100, "reduced", 1)
        with pytest.raises(ResourceError, match=f"XLA's GPU compiler on NVIDIA H100 80GB HBM3 .pallas kernels. "
                                                f".{kind} network.'s buffer assignment"):
            memory.check_fits(2000, "reduced", 1, int(memory.GB), "this worker's H100", table)
    assert memory.table_for("cpu", "reduced", "multimer", gpu_file=gpu_file) is memory.CPU_TABLE
    assert memory.table_for("gpu", "full", gpu_file=gpu_file) is memory.CPU_TABLE, "no full-size table there"
    assert memory.table_for("gpu", "reduced", "monomer", "xla", gpu_file) is memory.CPU_TABLE, "measured fused"
    assert memory.table_for("gpu", "reduced", gpu_file=gpu_file).source.startswith("XLA's GPU compiler")
    gpu_file.write_text(json.dumps({**document, "working_bytes": {"reduced": {"monomer": [[64, "lots"]]}}}))
    with pytest.raises(ConfigError, match=f"the GPU memory table {gpu_file} cannot be read .ValueError"):
        memory.table_for("gpu", "reduced", gpu_file=gpu_file)
    assert 0 < measured["multimer"][0] and measured["multimer"][1] > 0.9 * measured["monomer"][1]


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
