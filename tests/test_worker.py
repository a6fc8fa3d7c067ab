"""The RunPod handler in one worker process: validation, outputs, cleanup, a warm runner."""

from __future__ import annotations

import base64
import gzip

import pytest

from alphafold_msa.jobs import decode_text
from alphafold_msa.worker import handle_job


@pytest.fixture
def worker_env(monkeypatch, reduced_weights, tmp_path):
    monkeypatch.setenv("PARAM_DIR", str(reduced_weights))
    monkeypatch.setenv("ALPHAFOLD_MSA_MODEL_CONFIG", "reduced")
    monkeypatch.setenv("WORKDIR", str(tmp_path / "work"))
    return tmp_path / "work"


@pytest.fixture
def small_msa(testdata):
    return (testdata / "colabfold" / "6A5J.a3m").read_text()


@pytest.mark.parametrize("job_input, message", [
    (None, "input: None is not of type 'object'"),
    ("text", "input: 'text' is not of type 'object'"),
    ({}, "exactly one of 'msa'"),
    ({"msa": ">q\nMK\n", "msa_gz_b64": "abc"}, "exactly one of 'msa'"),
    ({"msa": ">q\nMK\n", "colour": "red"}, "'colour' was unexpected"),
    ({"msa": ">q\nMK\n", "num_recycle": "3"}, "input.num_recycle: '3' is not of type 'integer'"),
    ({"msa": ">q\nMK\n", "num_recycle": 99}, "input.num_recycle: 99 is greater than the maximum of 48"),
    ({"msa": ">q\nMK\n", "recycle_early_stop_tolerance": -1}, "input.recycle_early_stop_tolerance: -1 is less than"),
    ({"msa": ">q\nMK\n", "models": [6]}, "input.models.0: 6 is greater than the maximum of 5"),
    ({"msa": ">q\nMK\n", "models": []}, "input.models: [] should be non-empty"),
    ({"msa": ">q\nMK\n", "models": [1, 1]}, "input.models: [1, 1] has non-unique elements"),
    ({"msa": ">q\nMK\n", "format": "nexus"}, "input.format: 'nexus' is not one of"),
    ({"msa": ">q\nMK\n", "formats": ["png"]}, "input.formats.0: 'png' is not one of"),
    ({"msa": ">q\nMK\n", "relax": "sometimes"}, "input.relax: 'sometimes' is not one of"),
    ({"msa": ">q\nMK\n", "complex_mode": "dimer"}, "input.complex_mode: 'dimer' is not one of"),
    ({"msa_gz_b64": "not base64!"}, "input.msa_gz_b64: not valid gzip+base64"),
    ({"msa": ""}, "input.msa: '' should be non-empty"),
    ({"msa": ">q\nMKVLA\n>h\nMK?LA\n", "models": [1]}, "input.msa: line 3: row 'h' has the illegal character '?'"),
])
def test_invalid_input_fails_with_the_field(worker_env, job_input, message):
    result = handle_job({"id": "job-1", "input": job_input})
    assert set(result) == {"error"} and message in result["error"], result
    assert "Traceback" not in result["error"]
    assert not worker_env.exists() or not list(worker_env.iterdir())


def test_successful_job_returns_a_dict_and_cleans_up(worker_env, small_msa):
    result = handle_job({"id": "job-2", "input": {"msa": small_msa, "models": [1, 2], "num_recycle": 0}})
    assert "error" not in result, result
    assert result["structure"].startswith("MODEL") and result["structure_format"] == "pdb"
    assert len(result["plddt"]) == 13 and [r["rank"] for r in result["ranking"]] == [0, 1]
    assert result["msa"]["query_length"] == 13 and result["version"]
    assert "models" not in result
    assert list(worker_env.iterdir()) == []


def test_compressed_input_all_models_both_formats_and_scores(worker_env, small_msa):
    packed = base64.b64encode(gzip.compress(small_msa.encode())).decode()
    result = handle_job({"id": "job-3", "input": {"msa_gz_b64": packed, "models": [1, 2], "num_recycle": 0,
                                                  "formats": ["pdb", "cif"], "all_models": True, "scores": True}})
    assert "error" not in result, result
    assert [m["rank"] for m in result["models"]] == [0, 1]
    for model in result["models"]:
        assert decode_text(model["structures"]["pdb"]).startswith("MODEL")
        assert decode_text(model["structures"]["cif"]).startswith("data_")
        assert '"pae"' in decode_text(model["scores"])


def test_twenty_jobs_of_two_lengths_compile_at_most_twice(worker_env, small_msa, testdata, reduced_runner):
    other = (testdata / "pfam" / "RRM_1.sto").read_text()  # 71 residues; 6A5J has 13
    before = dict(reduced_runner.counters)
    for job in range(20):
        job_input = {"msa": small_msa if job % 2 else other, "models": [1, 2], "num_recycle": 0}
        result = handle_job({"id": f"job-{job}", "input": job_input})
        assert "error" not in result, result
    assert reduced_runner.counters["compilations"] - before.get("compilations", 0) <= 2
    assert reduced_runner.counters["predictions"] - before.get("predictions", 0) == 40
    assert reduced_runner.counters["params_loaded"] <= 2
    assert list(worker_env.iterdir()) == []
