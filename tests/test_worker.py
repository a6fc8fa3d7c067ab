"""The RunPod handler in one worker process: validation, outputs, cleanup, a warm runner."""

from __future__ import annotations

import bz2
import gzip
import logging
import lzma
import os
import re
import time

import pytest
from conftest import gz_b64, run_launcher

from alphafold_msa import settings
from alphafold_msa.errors import MsaError
from alphafold_msa.msa import assemble_complex, parse_msa, read_input
from alphafold_msa.protocol.payload import decode_payload
from alphafold_msa.worker.handler import (
    IN_USE,
    check_settings,
    claim_job_dir,
    handle_job,
    release_job_dir,
    safe_job_id,
    sweep_stale_job_dirs,
)


@pytest.mark.parametrize("job_input, message", [
    (None, "input: None is not of type 'object'"),
    ("text", "input: 'text' is not of type 'object'"),
    ({}, "exactly one of 'msa'"),
    ({"msa": ">q\nMK\n", "msa_gz_b64": "abc"}, "exactly one of 'msa'"),
    ({"msa": ">q\nMK\n", "colour": "red"}, "'colour' was unexpected"),
    ({"msa": ">q\nMK\n", "templates": [{"name": "t.pdb", "structure": "x", "colour": 1}]},
     "input.templates.0: Additional properties are not allowed ('colour' was unexpected); allowed fields: name, "),
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
    packed = gz_b64(small_msa.encode())
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


def test_decompression_is_capped_on_every_input_path(worker_env, monkeypatch, tmp_path):
    monkeypatch.setenv("ALPHAFOLD_MSA_MAX_MSA_BYTES", "1000000")
    bomb = b">q\n" + b"A" * 50_000_000 + b"\n"
    limit = "larger than the 1,000,000-byte limit once decompressed (ALPHAFOLD_MSA_MAX_MSA_BYTES)"
    started = time.monotonic()
    result = handle_job({"id": "gz-bomb", "input": {"msa_gz_b64": gz_b64(bomb)}})
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
    ({"msa": ">q\nMK\n", "templates": [{"name": "ab\udc80.pdb", "structure": "ATOM"}]},
     "input.templates.0.name: character 3 is a lone surrogate ('\\udc80')"),
    ({"msa": ">q\nMK\n", "templates": [{"name": "t.pdb", "structure": {"encoding": "text", "data": "\ud800"}}]},
     "input.templates.0.structure.data: character 1 is a lone surrogate"),
    ({"msa": ">q\nMK\n", "recycle_early_stop_tolerance": float("nan")},
     "input.recycle_early_stop_tolerance: nan is not a finite number"),
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


def _stale_job_dirs(base, count: int) -> set:
    """`count` job folders (each with nested output folders) untouched for two days; every other one with the
    in-use mark its killed worker left (no longer locked)."""
    two_days_ago = time.time() - 2 * 24 * 3600
    folders = set()
    for index in range(count):
        folder = base / f"job-old{index}-x"
        (folder / "output" / "plots").mkdir(parents=True)
        if index % 2:
            (folder / IN_USE).touch()
        for path in (folder / "output" / "plots", folder / "output", folder):
            os.utime(path, (two_days_ago, two_days_ago))
        folders.add(folder)
    return folders


def test_workers_sweeping_one_workdir_at_once_all_start(worker_env):
    """Four workers on one network volume sweep it together: none fails, every stale folder goes once."""
    import threading

    stale = _stale_job_dirs(worker_env, 300)
    start, removed, failures = threading.Barrier(4), [], []

    def sweep() -> None:
        start.wait()
        try:
            removed.extend(sweep_stale_job_dirs())
        except Exception as error:  # noqa: BLE001 -- any failure is what the test looks for
            failures.append(repr(error))

    threads = [threading.Thread(target=sweep) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == [] and set(removed) == stale and list(worker_env.iterdir()) == []


def test_a_job_folder_in_use_is_never_swept_however_old(worker_env):
    """A job may run for longer than a folder takes to look stale: its worker's in-use mark keeps it."""
    in_use = claim_job_dir("long-job")
    (in_use / "output").mkdir()
    two_days_ago = time.time() - 2 * 24 * 3600
    for path in (in_use / "output", in_use):
        os.utime(path, (two_days_ago, two_days_ago))
    try:
        assert sweep_stale_job_dirs() == [] and (in_use / "output").is_dir()
    finally:
        release_job_dir(in_use)
    assert list(worker_env.iterdir()) == []


def _settings_refusal(monkeypatch, env: dict) -> str:
    """The line check_settings stops a worker with, under `env` (and no bucket unless `env` gives one)."""
    for name in ("BUCKET_ENDPOINT_URL", "BUCKET_ACCESS_KEY_ID", "BUCKET_SECRET_ACCESS_KEY", "BUCKET_NAME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as stopped:
        check_settings()
    message = str(stopped.value.code)
    assert message.startswith("worker settings: ") and "\n" not in message
    return message


CHECKED_SETTINGS = sorted(set(settings.SETTINGS) - set(settings.FREE_TEXT) - {"WORKDIR", "PARAM_DIR"})


@pytest.mark.parametrize("name", CHECKED_SETTINGS)
def test_every_setting_with_a_malformed_value_stops_the_worker_in_one_line(monkeypatch, name):
    """'²' is a digit to str.isdigit, not to int(); no setting takes it."""
    assert name in _settings_refusal(monkeypatch, {name: "²"})


@pytest.mark.parametrize("env, message", [
    ({"ALPHAFOLD_MSA_DEVICE_MEMORY_GB": "1e300"},
     "ALPHAFOLD_MSA_DEVICE_MEMORY_GB must be a positive number of gigabytes, got '1e300' (at most 10,000)"),
    ({"ALPHAFOLD_MSA_DEVICE_MEMORY_GB": "5000"}, "ALPHAFOLD_MSA_DEVICE_MEMORY_GB is 5000 GB, more than the "),
    ({"ALPHAFOLD_MSA_MAX_LENGTH": "100000"}, "ALPHAFOLD_MSA_MAX_LENGTH must be a positive number of residues, "
                                             "got '100000' (at most 20,000)"),
    ({"ALPHAFOLD_MSA_MAX_LENGTH": "25\n00"}, "got '25\\n00'"),
    ({"ALPHAFOLD_MSA_RELAX_TIMEOUT": "inf"}, "ALPHAFOLD_MSA_RELAX_TIMEOUT must be a positive number of seconds"),
    ({"ALPHAFOLD_MSA_URL_ANY_KEY": "yes"}, "ALPHAFOLD_MSA_URL_ANY_KEY must be one of 0, 1, got 'yes'"),
    ({"WORKDIR": "/dev/null"}, "WORKDIR=/dev/null is not a folder the worker can write in (File exists)"),
    ({"WORKDIR": "/dev/null/jobs"}, "WORKDIR=/dev/null/jobs is not a folder the worker can write in (Not a directory)"),
    ({"BUCKET_ENDPOINT_URL": "https://user:hunter2@s3.example.org", "BUCKET_ACCESS_KEY_ID": "k",
      "BUCKET_SECRET_ACCESS_KEY": "s"}, "BUCKET_ENDPOINT_URL must not carry a user name or password"),
    ({"BUCKET_ENDPOINT_URL": "s3.example.org", "BUCKET_ACCESS_KEY_ID": "k", "BUCKET_SECRET_ACCESS_KEY": "s"},
     "BUCKET_ENDPOINT_URL must be an http or https URL with a host name"),
    ({"BUCKET_ENDPOINT_URL": "https://s3.example.org", "BUCKET_ACCESS_KEY_ID": "k",
      "BUCKET_SECRET_ACCESS_KEY": "hunter 2"}, "BUCKET_SECRET_ACCESS_KEY must be printable ASCII without spaces"),
    ({"BUCKET_ENDPOINT_URL": "https://s3.example.org"},
     "BUCKET_ENDPOINT_URL set without BUCKET_ACCESS_KEY_ID and BUCKET_SECRET_ACCESS_KEY"),
])
def test_out_of_range_settings_stop_the_worker_in_one_line(monkeypatch, env, message):
    refusal = _settings_refusal(monkeypatch, env)
    assert message in refusal and "hunter" not in refusal, refusal


def test_sane_settings_start_the_worker(monkeypatch, tmp_path):
    monkeypatch.setenv("WORKDIR", str(tmp_path / "new" / "work"))
    monkeypatch.setenv("ALPHAFOLD_MSA_DEVICE_MEMORY_GB", "0.5")
    monkeypatch.setenv("BUCKET_ENDPOINT_URL", "https://s3.example.org")
    monkeypatch.setenv("BUCKET_ACCESS_KEY_ID", "AKIA0")
    monkeypatch.setenv("BUCKET_SECRET_ACCESS_KEY", "s/e+c=r")
    check_settings()
    assert (tmp_path / "new" / "work").is_dir() and not list((tmp_path / "new" / "work").iterdir())
