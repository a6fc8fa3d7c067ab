"""True end to end: the RunPod SDK's local server running handler.py, driven by launch.py."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest
from conftest import REPO, free_port, run_launcher
from test_predict import check_structure

from alphafold_msa.msa import read_msa


@pytest.fixture(scope="module")
def worker_url(reduced_weights, tmp_path_factory):
    port = free_port()
    env = {**os.environ, "PARAM_DIR": str(reduced_weights), "ALPHAFOLD_MSA_MODEL_CONFIG": "reduced",
           "WORKDIR": str(tmp_path_factory.mktemp("workdir"))}
    log = tmp_path_factory.mktemp("log") / "worker.log"
    with open(log, "w") as handle:
        process = subprocess.Popen([sys.executable, "handler.py", "--rp_serve_api", "--rp_api_port", str(port)],
                                   cwd=REPO, env=env, stdout=handle, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if process.poll() is not None:
                pytest.fail(f"worker exited: {log.read_text()[-2000:]}")
            time.sleep(0.2)
    yield f"http://127.0.0.1:{port}", env["WORKDIR"], log
    process.terminate()
    process.wait(timeout=30)


def test_launcher_gets_a_structure_from_the_local_worker(worker_url, testdata, tmp_path):
    url, workdir, log = worker_url
    msa = testdata / "pfam" / "RRM_1.sto"
    output = tmp_path / "rrm.pdb"
    completed = run_launcher("--api-url", url, "--msa", str(msa), "--output", str(output), "--models", "1",
                             "--num-recycle", "1", "--poll-interval", "0.5")
    assert completed.returncode == 0, completed.stderr
    check_structure(output, output.with_suffix(".scores.json"), read_msa(msa).query_sequence)
    assert os.listdir(workdir) == []
    # the worker logs one INFO line per job stage; the SDK dumps no job output at DEBUG
    text = log.read_text()
    stages = ["received: models [1]", "parsed MSA", "model 1/1 done", "done in"]
    positions = [text.find(stage) for stage in stages]
    assert -1 not in positions and positions == sorted(positions), text[-3000:]
    assert " INFO alphafold_msa.worker.handler: job " in text
    assert "DEBUG" not in text and "Handler output" not in text and "ATOM  " not in text


def test_worker_failure_reaches_the_launcher(worker_url, testdata, tmp_path):
    url, _, _ = worker_url
    completed = run_launcher("--api-url", url, "--msa", str(testdata / "colabfold" / "6A5J.a3m"),
                             "--output", str(tmp_path / "x.pdb"), "--models", "3", "--poll-interval", "0.5")
    assert completed.returncode == 3
    assert "failed: AlphaFold weights missing" in completed.stderr and "params_model_3_ptm.npz" in completed.stderr
    assert not (tmp_path / "x.pdb").exists()


@pytest.mark.slow
def test_handler_test_input_file(reduced_weights):
    """`python handler.py` runs test_input.json once and exits, as the RunPod SDK does locally."""
    import json

    env = {**os.environ, "PARAM_DIR": str(reduced_weights), "ALPHAFOLD_MSA_MODEL_CONFIG": "reduced"}
    job = json.loads((REPO / "test_input.json").read_text())
    job["input"]["models"] = [1]
    completed = subprocess.run([sys.executable, "handler.py", "--test_input", json.dumps(job)], cwd=REPO, env=env,
                               capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    log = completed.stdout + completed.stderr
    assert "completed successfully" in log and "'structure': 'MODEL" in log
    hub_tests = json.loads((REPO / ".runpod" / "tests.json").read_text())
    assert hub_tests["tests"][0]["input"] == json.loads((REPO / "test_input.json").read_text())["input"]


def test_launcher_submits_a_heterodimer_with_its_paired_alignment(worker_url, testdata, tmp_path):
    import json

    from Bio.PDB import PDBParser

    url, workdir, _ = worker_url
    data = testdata / "colabfold"
    output = tmp_path / "3G5O.pdb"
    completed = run_launcher("--api-url", url, "--msa", str(data / "3G5O_A.a3m"), "--msa", str(data / "3G5O_B.a3m"),
                             "--paired", str(data / "3G5O_A.paired.a3m"), "--paired", str(data / "3G5O_B.paired.a3m"),
                             "--output", str(output), "--models", "1", "--num-recycle", "0", "--poll-interval", "0.5")
    assert completed.returncode == 0, completed.stderr
    assert "checked complex of 2 chains (A: 93, B: 87 residues), 14 paired rows" in completed.stderr
    structure = PDBParser(QUIET=True).get_structure("complex", output)
    assert [(chain.id, len(chain)) for chain in structure[0]] == [("A", 93), ("B", 87)]
    scores = json.loads(output.with_suffix(".scores.json").read_text())
    assert 0 <= scores["iptm"] <= 1 and set(scores["chain_pair_pae"]) == {"A-B", "B-A"}
    assert scores["msa"]["paired_rows"] == 14 and scores["msa"]["complex_mode"] == "multimer"
    assert os.listdir(workdir) == []


def test_a_small_batch_through_the_local_worker(worker_url, testdata, tmp_path):
    """A folder of alignments through the SDK's server: every job's files and the summary table."""
    import json
    import shutil

    url, workdir, _ = worker_url
    folder = tmp_path / "batch"
    folder.mkdir()
    shutil.copy(testdata / "pfam" / "RRM_1.sto", folder)
    shutil.copy(testdata / "colabfold" / "6A5J.a3m", folder)
    out = tmp_path / "out"
    completed = run_launcher("--api-url", url, "--msa", str(folder / "*"), "--output-dir", str(out), "--models", "1",
                             "--num-recycle", "0", "--concurrency", "2", "--poll-interval", "0.5")
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[0].split() == ["name", "length", "depth", "mean_plddt", "ptm", "iptm", "worker_s", "status"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows["RRM_1"][1:3] == ["71", "79"] and rows["6A5J"][1] == "13"
    assert all(row[-1] == "COMPLETED" for row in rows.values())
    for name, length in (("RRM_1", 71), ("6A5J", 13)):
        summary = json.loads((out / name / "summary.json").read_text())
        assert summary["query_length"] == length and (out / name / "pae.png").is_file()
    manifest = json.loads((out / "manifest.json").read_text())
    assert [e["status"] for e in manifest["entries"]] == ["COMPLETED", "COMPLETED"]
    assert os.listdir(workdir) == []


@pytest.mark.parametrize("variable, value, message", [
    ("ALPHAFOLD_MSA_KERNELS", "triton", "ALPHAFOLD_MSA_KERNELS must be one of auto, pallas, cuda_legacy, xla"),
    ("ALPHAFOLD_MSA_COMPILE_MODE", "fastest", "ALPHAFOLD_MSA_COMPILE_MODE must be one of fast, tuned, full"),
    ("ALPHAFOLD_MSA_MAX_LENGTH", "²", "ALPHAFOLD_MSA_MAX_LENGTH must be a positive number of residues, got '²'"),
    ("ALPHAFOLD_MSA_DEVICE_MEMORY_GB", "5000", "ALPHAFOLD_MSA_DEVICE_MEMORY_GB is 5000 GB, more than the"),
    ("WORKDIR", "/dev/null", "WORKDIR=/dev/null is not a folder the worker can write in"),
])
def test_a_worker_with_a_malformed_setting_refuses_to_start(variable, value, message):
    completed = subprocess.run([sys.executable, "handler.py"], cwd=REPO, capture_output=True, text=True,
                               timeout=120, env={**os.environ, variable: value})
    assert completed.returncode == 1 and completed.stderr.startswith("worker settings: ")
    assert message in completed.stderr
    assert "Traceback" not in completed.stderr and completed.stderr.count("\n") == 1, completed.stderr


def test_a_job_longer_than_the_read_timeout_comes_back_from_the_local_worker(worker_url, testdata, tmp_path,
                                                                             monkeypatch, capsys):
    """The SDK's local server answers the status request only when the job is done: the launcher waits for
    that answer up to --timeout, however long past its usual read timeout (shortened here to 1 s)."""
    from alphafold_msa.launcher import client
    from alphafold_msa.launcher.cli import main

    monkeypatch.setattr(client, "READ_TIMEOUT_S", 1.0)
    url, _, _ = worker_url
    msa = testdata / "pfam" / "RRM_1.sto"
    output = tmp_path / "rrm.pdb"
    code = main(["--api-url", url, "--msa", str(msa), "--output", str(output), "--models", "1", "--num-seeds", "4",
                 "--num-recycle", "1", "--poll-interval", "0.5", "--timeout", "600"])
    error = capsys.readouterr().err
    assert code == 0, error
    check_structure(output, output.with_suffix(".scores.json"), read_msa(msa).query_sequence)
    worker_s = json.loads(output.with_suffix(".scores.json").read_text())["timings"]["total_s"]
    assert worker_s > 2 * client.READ_TIMEOUT_S, "the job must outlast the read timeout for this test to mean much"
    assert client.LOCAL_SERVER_NOTE in error


def test_a_batch_against_the_local_worker_completes_every_job(worker_url, testdata, tmp_path, monkeypatch, capsys):
    """Three jobs, two at a time, through the SDK's local server (which runs one job at a time inside a
    status request): every job completes, none ends as an uncertain submission or a lost job, with the read
    timeout shortened to 1 s."""
    from alphafold_msa.launcher import client
    from alphafold_msa.launcher.cli import main

    monkeypatch.setattr(client, "READ_TIMEOUT_S", 1.0)
    url, _, _ = worker_url
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("RRM_1.sto", "20aa-alitest.afa", "fn3.sto"):  # the third is submitted while a job runs
        (folder / name).write_bytes((testdata / "pfam" / name).read_bytes())
    code = main(["--api-url", url, "--msa", str(folder), "--output-dir", str(tmp_path / "out"), "--models", "1",
                 "--num-seeds", "3", "--num-recycle", "1", "--poll-interval", "0.5", "--concurrency", "2",
                 "--timeout", "600"])
    assert code == 0, capsys.readouterr().err
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert [entry["status"] for entry in manifest["entries"]] == ["COMPLETED"] * 3
