"""The RunPod handler in one worker process: validation, outputs, cleanup, a warm runner."""

from __future__ import annotations

import base64
import bz2
import gzip
import logging
import lzma
import os
import re
import time

import pytest
from conftest import run_launcher

from alphafold_msa.errors import MsaError
from alphafold_msa.msa import assemble_complex, parse_msa, read_input
from alphafold_msa.protocol.schema import decode_payload
from alphafold_msa.worker.handler import handle_job, safe_job_id, sweep_stale_job_dirs


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
        assert decode_payload(model["structures"]["pdb"]).startswith("MODEL")
        assert decode_payload(model["structures"]["cif"]).startswith("data_")
        assert '"pae"' in decode_payload(model["scores"])


def test_jobs_of_two_lengths_alternating_compile_once_per_length(worker_env, small_msa, testdata, reduced_runner):
    other = (testdata / "pfam" / "RRM_1.sto").read_text()  # 71 residues; 6A5J has 13
    before = dict(reduced_runner.counters)
    for job in range(6):
        job_input = {"msa": small_msa if job % 2 else other, "models": [1, 2], "num_recycle": 0}
        result = handle_job({"id": f"job-{job}", "input": job_input})
        assert "error" not in result, result
    assert reduced_runner.counters["compilations"] - before.get("compilations", 0) <= 2
    assert reduced_runner.counters["predictions"] - before.get("predictions", 0) == 12
    assert reduced_runner.counters["params_loaded"] <= 2
    assert list(worker_env.iterdir()) == []


def _gz_b64(data: bytes) -> str:
    return base64.b64encode(gzip.compress(data, compresslevel=1)).decode()


def test_decompression_is_capped_on_every_input_path(worker_env, monkeypatch, tmp_path):
    monkeypatch.setenv("ALPHAFOLD_MSA_MAX_MSA_BYTES", "1000000")
    bomb = b">q\n" + b"A" * 50_000_000 + b"\n"
    limit = "larger than the 1,000,000-byte limit once decompressed (ALPHAFOLD_MSA_MAX_MSA_BYTES)"
    started = time.monotonic()
    result = handle_job({"id": "gz-bomb", "input": {"msa_gz_b64": _gz_b64(bomb)}})
    assert result["error"] == f"input.msa_gz_b64: the alignment is {limit}"
    result = handle_job({"id": "text", "input": {"msa": ">q\n" + "A" * 1_000_001 + "\n"}})
    assert result["error"] == f"input.msa: the alignment is {limit}"
    for name, compress in (("bomb.a3m.bz2", bz2.compress), ("bomb.a3m.xz", lzma.compress),
                           ("bomb.a3m.gz", gzip.compress), ("plain.a3m", bytes)):
        (tmp_path / name).write_bytes(compress(bomb))
        with pytest.raises(MsaError, match=re.escape(f"{tmp_path / name}: the alignment is {limit}")):
            read_input(tmp_path / name)
    assert time.monotonic() - started < 20
    completed = run_launcher("--check", "--msa", str(tmp_path / "bomb.a3m.bz2"),
                             env={"ALPHAFOLD_MSA_MAX_MSA_BYTES": "1000000"})
    assert completed.returncode == 2 and limit in completed.stderr and "Traceback" not in completed.stderr


@pytest.mark.parametrize("header", ["#5\t50000000", "#5\t63", "#5,3\t40,23", "#5\t10000000000"])
def test_complex_copies_are_counted_before_anything_is_expanded(worker_env, header):
    started = time.monotonic()
    result = handle_job({"id": "copies", "input": {"msa": f"{header}\n>101\nMKVLA\n"}})
    assert time.monotonic() - started < 2
    assert set(result) == {"error"} and "internal error" not in result["error"], result
    assert "a complex may have at most 62" in result["error"] or "more than 9 digits" in result["error"]


def test_copies_of_assembled_chains_are_capped(small_msa):
    chain = parse_msa(small_msa)
    with pytest.raises(MsaError, match="63 chains .* at most 62"):
        assemble_complex([chain, chain], copies=[60, 3])
    assert assemble_complex([chain], copies=[62]).length == 62 * chain.length


@pytest.mark.parametrize("job_input, message", [
    ({"msa": ">q\nMKV\ud800LA\n"}, "input.msa: character 7 is a lone surrogate"),
    ({"msa": ">q\nMK\n", "query": "q\udfff"}, "input.query: character 2 is a lone surrogate"),
    ({"msa": ">q\nMK\n", "recycle_early_stop_tolerance": float("nan")}, "input.recycle_early_stop_tolerance: nan is not a finite number"),
    ({"msa": ">q\nMK\n", "num_recycle": 1.5}, "input.num_recycle: 1.5 is not of type 'integer'"),
    ({"msa": ">q\nMK\n", "models": [1.0, 1]}, "input.models: [1.0, 1] has non-unique elements"),
])
def test_edge_case_values_name_their_field(worker_env, job_input, message):
    result = handle_job({"id": "edge", "input": job_input})
    assert set(result) == {"error"} and result["error"].startswith(message), result


def test_whole_number_floats_are_integers(worker_env, small_msa):
    result = handle_job({"id": "floats", "input": {"msa": small_msa, "models": [1.0], "num_recycle": 0.0,
                                                   "num_seeds": 1.0, "random_seed": 3.0}})
    assert "error" not in result, result
    assert result["model"] == "model_1_ptm" and result["ranking"][0]["seed"] == 3


def test_a_hostile_job_id_stays_inside_workdir_and_on_one_log_line(worker_env, caplog, tmp_path):
    caplog.set_level(logging.INFO, logger="alphafold_msa.worker.handler")
    result = handle_job({"id": "../../escaped\nFAKE worker line", "input": {"msa": ">q\nMK?\n"}})
    assert result["error"].startswith("input.msa: line 1: row 'q' has the illegal character"), result
    assert safe_job_id("../../escaped\nFAKE worker line") == "______escaped_FAKE_worker_line"
    assert all("\n" not in record.getMessage() for record in caplog.records)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"]


def test_startup_sweep_removes_only_stale_job_folders(worker_env):
    old, fresh, other = worker_env / "job-old-x1", worker_env / "job-fresh-x2", worker_env / "cache"
    for folder in (old / "output", fresh, other):
        folder.mkdir(parents=True)
    two_days_ago = time.time() - 2 * 24 * 3600
    for path in (old / "output", old, other):
        os.utime(path, (two_days_ago, two_days_ago))
    assert sweep_stale_job_dirs() == [old]
    assert sorted(p.name for p in worker_env.iterdir()) == ["cache", "job-fresh-x2"]
