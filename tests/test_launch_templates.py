"""launch.py --template: read and checked here, sent with the job, used by a local prediction."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import REPO
from endpoint_emulator import EndpointEmulator
from test_remote import COMPLETED, launch

from alphafold_msa.launcher.cli import EXIT_BAD_INPUT, main

# 16 residues of the protein chain of 1A7G.cif (author chain E).
QUERY = "TWHWTCTDGKHKNAIV"


@pytest.fixture
def query_msa(tmp_path):
    path = tmp_path / "query.a3m"
    path.write_text(f">query\n{QUERY}\n>homolog\n{QUERY[:8]}AAAA{QUERY[12:]}\n")
    return path


@pytest.fixture
def cif(testdata):
    return testdata / "structures" / "1A7G.cif"


def test_remote_job_carries_the_checked_template(query_msa, cif, tmp_path):
    with EndpointEmulator() as emulator:
        emulator.status_replies = [COMPLETED]
        completed = launch(emulator, query_msa, tmp_path / "x.pdb", "--models", "1", "--template", f"{cif}:E")
    assert completed.returncode == 0, completed.stderr
    assert "template 1A7G.cif chain E -> residues 1-16: 16 aligned, 100.0% identical" in completed.stderr
    templates = emulator.requests[0]["body"]["input"]["templates"]
    assert templates == [{"name": "1A7G.cif", "format": "cif", "chain": "E",
                          "structure": {"encoding": "text", "data": cif.read_text()}}]


@pytest.mark.parametrize("argument, message", [
    ("{cif}:Z", "1A7G.cif: no protein chain 'Z'; its protein chains are E"),
    ("{cif}:E@B", "1A7G.cif: @B assigns a template to a complex chain, but the query is a single chain"),
    ("{notes}", "notes.txt: not a PDB or mmCIF structure"),
    ("{pdb}", "2rbg.pdb: chain A overlaps the query too little to be used as a template"),
    ("{missing}", "no such file"),
])
def test_unusable_templates_are_refused_before_submission(query_msa, cif, testdata, tmp_path, argument, message):
    notes = tmp_path / "notes.txt"
    notes.write_text("my favourite structure\n")
    argument = argument.format(cif=cif, notes=notes, pdb=testdata / "structures" / "2rbg.pdb",
                               missing=tmp_path / "gone.pdb")
    with EndpointEmulator() as emulator:
        completed = launch(emulator, query_msa, tmp_path / "x.pdb", "--template", argument)
    assert completed.returncode == EXIT_BAD_INPUT
    last = completed.stderr.splitlines()[-1]
    assert last.startswith("error: ") and message in last, completed.stderr
    assert not emulator.requests


def test_more_than_four_templates_are_refused(query_msa, cif, tmp_path, capsys):
    code = main(["--msa", str(query_msa), "--output", str(tmp_path / "x.pdb"), "--local",
                 *[arg for _ in range(5) for arg in ("--template", str(cif))]])
    assert code == EXIT_BAD_INPUT and "at most 4" in capsys.readouterr().err


def test_local_batch_uses_the_same_templates_for_every_alignment(query_msa, cif, testdata, reduced_weights,
                                                                 tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["--local", "--msa", str(query_msa), str(testdata / "colabfold" / "6A5J.a3m"), "--output-dir", str(out),
                 "--template", str(cif), "--param-dir", str(reduced_weights), "--model-config", "reduced",
                 "--models", "1,2", "--num-recycle", "0", "--relax", "none"])
    stderr = capsys.readouterr().err
    assert code == 3, stderr
    assert "6A5J: not submitted: 1A7G.cif: chain E overlaps the query too little" in stderr
    assert "template 1A7G.cif chain E: residues 1-16, 16 aligned, 100.0% identical" in stderr
    assert "templates are used by model_1_ptm, model_2_ptm" in stderr
    summary = (out / "query" / "summary.txt").read_text()
    assert "templates (used by model_1_ptm, model_2_ptm):" in summary
    assert json.loads((out / "query" / "summary.json").read_text())["templates"][0]["query_range"] == [1, 16]
    recorded, = json.loads((out / "manifest.json").read_text())["settings"]["templates"]
    assert recorded["name"] == "1A7G.cif" and len(recorded["sha256"]) == 64


def test_local_run_refuses_a_template_before_loading_weights(query_msa, testdata, tmp_path, capsys):
    code = main(["--local", "--msa", str(query_msa), "--output", str(tmp_path / "x.pdb"), "--param-dir",
                 str(tmp_path / "no-weights"), "--template", str(testdata / "structures" / "2rbg.pdb:C")])
    assert code == EXIT_BAD_INPUT
    assert "error: 2rbg.pdb: no protein chain 'C'; its protein chains are A, B" in capsys.readouterr().err


def test_template_checks_stay_jax_free(cif, query_msa):
    code = ("import sys; from alphafold_msa.launcher.templates import read_templates, check_templates;"
            "from alphafold_msa.msa import read_msa;"
            f"check_templates(read_templates([{str(cif)!r}]), read_msa({str(query_msa)!r}));"
            "assert not {'jax', 'haiku', 'alphafold', 'matplotlib'} & set(sys.modules), sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


def test_remote_batch_sends_the_templates_with_every_job(query_msa, cif, testdata, worker_env, tmp_path, capsys):
    from batch_endpoint import BatchEndpoint

    from alphafold_msa.worker.handler import handle_job

    out = tmp_path / "out"
    with BatchEndpoint(handle_job) as endpoint:
        args = ["--msa", str(query_msa), str(testdata / "colabfold" / "6A5J.a3m"), "--output-dir", str(out),
                "--endpointId", "ep1", "--api-url", endpoint.url, "--api-key", "k", "--models", "1",
                "--num-recycle", "0", "--poll-interval", "0.2"]
        code = main([*args, "--template", f"{cif}:E"])
        assert code == 3, capsys.readouterr().err
        job, = endpoint.jobs.values()
        changed = main([*args, "--template", str(testdata / "structures" / "2rbg.pdb")])
    assert job["input"]["templates"] == [{"name": "1A7G.cif", "format": "cif", "chain": "E",
                                          "structure": {"encoding": "text", "data": cif.read_text()}}]
    assert json.loads((out / "query" / "summary.json").read_text())["template_models"] == ["model_1_ptm"]
    assert changed == EXIT_BAD_INPUT and "other settings (templates)" in capsys.readouterr().err
