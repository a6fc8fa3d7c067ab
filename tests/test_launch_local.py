"""launch.py --local as a user runs it: structure and scores out, clear one-line errors in."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import REPO, alignment_folder, run_launcher
from endpoint_emulator import EndpointEmulator
from test_launcher_trust import completed_with
from test_predict import check_structure

from alphafold_msa.errors import EXIT_WEIGHTS
from alphafold_msa.launcher.cli import main
from alphafold_msa.msa import read_msa


def test_local_prediction_writes_structure_and_scores(testdata, reduced_weights, tmp_path):
    output = tmp_path / "out" / "3G5O_A.pdb"
    completed = run_launcher("--local", "--msa", str(testdata / "colabfold" / "3G5O_A.a3m"), "--output", str(output),
                             "--param-dir", str(reduced_weights), "--model-config", "reduced", "--models", "1,2",
                             "--num-recycle", "1", "--output-dir", str(tmp_path / "all"))
    assert completed.returncode == 0, completed.stderr
    scores_path = output.with_suffix(".scores.json")
    check_structure(output, scores_path, read_msa(testdata / "colabfold" / "3G5O_A.a3m").query_sequence)
    scores = json.loads(scores_path.read_text())
    assert scores["msa"]["format"] == "a3m" and scores["msa"]["num_sequences"] == 7527
    assert output.read_text() == (tmp_path / "all" / "ranked_0.pdb").read_text()
    assert (tmp_path / "all" / "ranked_1.pdb").is_file()
    assert "model 2/2 done" in completed.stderr
    for name in ("3G5O_A_plddt.png", "3G5O_A_pae.png", "3G5O_A_coverage.png", "3G5O_A.summary.txt"):
        assert (output.parent / name).is_file(), name
    assert (output.parent / "3G5O_A.summary.txt").read_text() == (tmp_path / "all" / "summary.txt").read_text()


def test_a_local_batch_runs_each_alignment_once_and_tabulates(testdata, reduced_weights, tmp_path):
    folder = alignment_folder(tmp_path / "in", testdata, "empty.sto", "")
    args = ["--local", "--msa", str(folder), "--output-dir", str(tmp_path / "out"), "--param-dir",
            str(reduced_weights), "--model-config", "reduced", "--models", "1", "--num-recycle", "0",
            "--format", "pdb,cif"]
    completed = run_launcher(*args)
    assert completed.returncode == 3, completed.stderr  # the empty file
    assert "empty: not submitted: " in completed.stderr and "empty.sto: is empty" in completed.stderr
    rows = {line.split()[0]: line.split() for line in completed.stdout.splitlines()[1:]}
    assert rows["6A5J"][1] == "13" and rows["6A5J"][-1] == "COMPLETED"
    assert rows["20aa-alitest"][-1] == "COMPLETED" and rows["empty"][-1] == "INVALID"
    for name in ("6A5J", "20aa-alitest"):
        assert {"ranked_0.pdb", "ranked_0.cif", "coverage.png", "summary.json"} <= {
            p.name for p in (tmp_path / "out" / name).iterdir()}
    again = run_launcher(*args)
    assert again.returncode == 3
    assert "3 alignments, each its own job; 1 invalid, not submitted; 2 already finished" in again.stderr
    assert "model 1/1 done" not in again.stderr, "nothing is predicted twice"


def test_model_config_comes_from_the_environment(testdata, reduced_weights, tmp_path):
    output = tmp_path / "fn.pdb"
    completed = run_launcher("--local", "--msa", str(testdata / "pfam" / "20aa-alitest.afa"), "--output", str(output),
                             "--param-dir", str(reduced_weights), "--models", "1", "--num-recycle", "0",
                             env={"ALPHAFOLD_MSA_MODEL_CONFIG": "reduced"})
    assert completed.returncode == 0, completed.stderr
    assert output.is_file()


def test_demo_weights_are_generated_and_flagged_in_every_file(testdata, tmp_path, monkeypatch, capsys):
    from alphafold_msa.launcher.cli import main

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    output, folder = tmp_path / "demo.pdb", tmp_path / "all"
    code = main(["--local", "--demo-weights", "--model-config", "reduced", "--models", "1", "--num-recycle", "0",
                 "--msa", str(testdata / "colabfold" / "6A5J.a3m"), "--output", str(output), "--output-dir",
                 str(folder), "--format", "pdb,cif"])
    stderr = capsys.readouterr().err
    assert code == 0, stderr
    assert "MEANINGLESS" in stderr
    demo_weights = tmp_path / "cache" / "alphafold-msa" / "demo-weights" / "reduced"
    assert (demo_weights / "params" / "params_model_1_ptm.npz").is_file()
    note = "predicted with RANDOM demo weights: not a structure prediction"
    # a new network: the long silent step is announced, and each message carries the time so far
    assert "] compiling the network for 13 residues (once per length bucket; later jobs reuse it)" in stderr
    assert "] model 1/1 done" in stderr
    assert stderr.splitlines()[-1].endswith(f"not relaxed); {note}")
    assert output.read_text().startswith(f"REMARK   1 {note}\n")
    assert (folder / "ranked_0.cif").read_text().splitlines()[1] == f"# {note}"
    assert json.loads(output.with_suffix(".scores.json").read_text())["demo_weights"] is True
    assert json.loads((folder / "summary.json").read_text())["demo_weights"] is True
    assert (folder / "summary.txt").read_text().startswith(f"WARNING: {note}\n")
    from PIL import Image

    for plot in ("plddt.png", "pae.png", "coverage.png"):
        assert "RANDOM DEMO WEIGHTS: NOT A PREDICTION" in Image.open(folder / plot).text["Title"], plot


@pytest.mark.parametrize("content, expected", [
    ("", "is empty"),
    ("just some notes\n", "not a recognised alignment"),
    ("# STOCKHOLM 1.0\nq MKV-LA\nh MKVLA\n//\n", "row 'h' has 5 alignment columns"),
])
def test_bad_alignment_is_one_line_and_exit_2(tmp_path, reduced_weights, content, expected):
    path = tmp_path / "family.sto"
    path.write_text(content)
    completed = run_launcher("--local", "--msa", str(path), "--output", str(tmp_path / "x.pdb"),
                             "--param-dir", str(reduced_weights), "--model-config", "reduced")
    assert completed.returncode == 2
    assert completed.stderr.count("\n") == 1 and expected in completed.stderr and str(path) in completed.stderr
    assert "Traceback" not in completed.stderr
    assert not (tmp_path / "x.pdb").exists()


def test_missing_weights_are_fetched_like_start_sh(testdata, reduced_weights, tmp_path):
    from weights_server import WeightsServer

    from alphafold_msa.testing.make_weights import write_tar

    write_tar([reduced_weights / "params" / "params_model_1_ptm.npz"], tmp_path / "params.tar")
    with WeightsServer((tmp_path / "params.tar").read_bytes()) as server:
        args = ("--local", "--msa", str(testdata / "colabfold" / "6A5J.a3m"), "--output", str(tmp_path / "x.pdb"),
                "--param-dir", str(tmp_path / "volume"), "--model-config", "reduced", "--models", "1",
                "--num-recycle", "0")
        completed = run_launcher(*args, env={"PARAMS_URL": server.url})
        assert completed.returncode == 0, completed.stderr
        assert "downloading AlphaFold 2.3's weights" in completed.stderr
        assert (tmp_path / "volume" / "params" / "MANIFEST.json").is_file()
        again = run_launcher(*args, env={"PARAMS_URL": server.url})
        assert again.returncode == 0 and server.downloads() == 1


def test_unavailable_weights_say_where_and_why(testdata, tmp_path):
    from weights_server import WeightsServer

    with WeightsServer(b"") as server:
        completed = run_launcher("--local", "--msa", str(testdata / "pfam" / "globins4.sto"), "--output",
                                 str(tmp_path / "x.pdb"), "--param-dir", str(tmp_path / "nowhere"),
                                 env={"PARAMS_URL": server.url.replace("params.tar", "missing.tar")})
    assert completed.returncode == EXIT_WEIGHTS, completed.stderr
    assert str(tmp_path / "nowhere" / "params") in completed.stderr and "HTTP 404" in completed.stderr
    assert "/missing.tar (set PARAMS_URL for another source)" in completed.stderr
    assert "--demo-weights" in completed.stderr
    assert "Traceback" not in completed.stderr and completed.stderr.count("\n") == 2


def test_a_weights_folder_that_cannot_be_written_is_one_line(testdata, tmp_path):
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("not a folder\n")
    completed = run_launcher("--local", "--msa", str(testdata / "pfam" / "globins4.sto"), "--output",
                             str(tmp_path / "x.pdb"), "--param-dir", str(blocked / "weights"))
    assert completed.returncode == EXIT_WEIGHTS, completed.stderr
    assert "Traceback" not in completed.stderr and "cannot hold the weights" in completed.stderr
    assert completed.stderr.strip().splitlines()[-1].startswith(f"error: {blocked / 'weights'}: cannot hold")


def test_client_modules_do_not_import_jax():
    code = ("import sys, alphafold_msa, alphafold_msa.launcher.cli, alphafold_msa.launcher.remote,"
            " alphafold_msa.model.provision, alphafold_msa.launcher.batch, alphafold_msa.launcher.result_files,"
            " alphafold_msa.launcher.local;"
            "alphafold_msa.read_msa; alphafold_msa.protocol.spec.parse_job({'msa': '>q\\nMK\\n'});"
            "assert not {'jax', 'haiku', 'alphafold', 'matplotlib', 'boto3'} & set(sys.modules), sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


def test_local_homodimer_from_one_alignment_and_copies(testdata, reduced_weights, tmp_path):
    output = tmp_path / "dimer.pdb"
    completed = run_launcher("--local", "--msa", str(testdata / "colabfold" / "6A5J.a3m"), "--copies", "2",
                             "--output", str(output), "--param-dir", str(reduced_weights), "--model-config", "reduced",
                             "--models", "1", "--num-recycle", "0")
    assert completed.returncode == 0, completed.stderr
    chains = [line[21] for line in output.read_text().splitlines() if line.startswith("ATOM") and " CA " in line]
    assert chains == ["A"] * 13 + ["B"] * 13
    scores = json.loads(output.with_suffix(".scores.json").read_text())
    assert scores["model"] == "model_1_multimer_v3" and 0 <= scores["iptm"] <= 1
    assert "ipTM" in completed.stderr
    assert "int64" not in completed.stderr, "jax's known dtype warning is filtered at the entry point"


def test_check_summarises_a_complex(testdata):
    data = testdata / "colabfold"
    completed = run_launcher("--check", "--msa", str(data / "3G5O_A.a3m"), "--msa", str(data / "3G5O_B.a3m"),
                             "--paired", str(data / "3G5O_A.paired.a3m"), "--paired", str(data / "3G5O_B.paired.a3m"),
                             "--copies", "1,2")
    assert completed.returncode == 0, completed.stderr
    summary = json.loads(completed.stdout)
    assert summary["chain_ids"] == ["A", "B", "C"] and summary["chain_lengths"] == [93, 87, 87]
    assert summary["query_length"] == 267 and summary["paired_rows"] == 14


@pytest.mark.parametrize("extra, message", [
    (["--copies", "2,1"], "2 copy numbers for 1 chain alignments"),
    (["--copies", "two"], "--copies: expected comma-separated copy numbers"),
    (["--paired", "{data}/3G5O_B.paired.a3m"], "the paired alignment's query"),
    (["--query", "101", "--copies", "2"], "--query picks the row of a single alignment"),
])
def test_complex_input_errors_are_one_line_and_exit_2(testdata, tmp_path, extra, message):
    data = testdata / "colabfold"
    args = [part.format(data=data) for part in extra]
    completed = run_launcher("--check", "--msa", str(data / "3G5O_A.a3m"), *args)
    assert completed.returncode == 2, completed.stderr
    assert message in completed.stderr and "Traceback" not in completed.stderr


def test_format_names_structure_formats_or_the_alignment_format(testdata):
    from alphafold_msa.launcher.cli import parse_formats

    assert parse_formats("pdb,cif") == (None, ["pdb", "cif"])
    assert parse_formats("sto") == ("stockholm", None)
    assert parse_formats("a3m,mmcif") == ("a3m", ["cif"])
    checked = run_launcher("--check", "--msa", str(testdata / "pfam" / "RRM_1.sto"), "--format", "stockholm")
    assert checked.returncode == 0 and json.loads(checked.stdout)["format"] == "stockholm"
    wrong = run_launcher("--check", "--msa", str(testdata / "pfam" / "RRM_1.sto"), "--format", "pdb,xyz")
    assert wrong.returncode == 2
    assert "'pdb,xyz': expected structure formats pdb and/or cif, or one alignment format of" in wrong.stderr


@pytest.mark.parametrize("flag, value, message", [
    ("--concurrency", "0", "argument --concurrency: expected a whole number of at least 1, got '0'"),
    ("--max-retries", "-1", "argument --max-retries: expected a whole number of at least 0, got '-1'"),
])
def test_batch_counts_are_checked(testdata, tmp_path, flag, value, message):
    completed = run_launcher("--msa", str(testdata / "pfam"), "--output-dir", str(tmp_path), "--endpointId", "e",
                             flag, value)
    assert completed.returncode == 2 and message in completed.stderr


def test_fused_kernels_on_a_cpu_are_one_line_and_exit_2(testdata, reduced_weights, tmp_path):
    completed = run_launcher("--local", "--kernels", "pallas", "--msa", str(testdata / "pfam" / "20aa-alitest.afa"),
                             "--output", str(tmp_path / "x.pdb"), "--param-dir", str(reduced_weights),
                             "--model-config", "reduced", "--models", "1", "--num-recycle", "0")
    assert completed.returncode == 2, completed.stderr
    assert completed.stderr.strip().splitlines()[-1].endswith(
        "kernels 'pallas' need an NVIDIA GPU; this worker runs jax on cpu (use auto or xla)")
    assert not (tmp_path / "x.pdb").exists()


def local_args(testdata, reduced_weights, tmp_path) -> list[str]:
    """--local for 6A5J into tmp_path/x.pdb and tmp_path/all, with the session's compiled shapes."""
    return ["--local", "--msa", str(testdata / "colabfold" / "6A5J.a3m"), "--output", str(tmp_path / "x.pdb"),
            "--output-dir", str(tmp_path / "all"), "--param-dir", str(reduced_weights), "--model-config", "reduced",
            "--models", "1", "--num-recycle", "0"]


def test_local_and_remote_runs_replace_each_others_files_in_one_folder(testdata, reduced_weights, runners, tmp_path,
                                                                       capsys):
    folder = tmp_path / "all"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine\n")
    local = local_args(testdata, reduced_weights, tmp_path)
    assert main(local, runners=runners) == 0, capsys.readouterr().err
    assert main(local, runners=runners) == 0, capsys.readouterr().err
    assert {"ranked_0.pdb", "scores_rank_0.json", "ranking.json", "timings.json", "plddt.png", "summary.txt",
            "summary.json"} <= {p.name for p in folder.iterdir()}
    with EndpointEmulator() as emulator:
        emulator.status_replies = [completed_with({"ranked_0.pdb": b"remote\n"})]
        remote = main(["--msa", str(testdata / "colabfold" / "6A5J.a3m"), "--output", str(tmp_path / "x.pdb"),
                       "--output-dir", str(folder), "--endpointId", "ep1", "--api-url", emulator.url, "--api-key",
                       "k", "--poll-interval", "0.05"])
    assert remote == 0, capsys.readouterr().err
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == ["notes.txt", "ranked_0.pdb"]
    assert (folder / "ranked_0.pdb").read_text() == "remote\n"
    assert main(local, runners=runners) == 0, capsys.readouterr().err
    assert "ATOM" in (folder / "ranked_0.pdb").read_text() and (folder / "notes.txt").read_text() == "mine\n"


def test_a_local_run_never_replaces_a_file_of_the_users(testdata, reduced_weights, runners, tmp_path, capsys):
    folder = tmp_path / "all"
    folder.mkdir()
    (folder / "summary.txt").write_text("my summary\n")
    code = main(local_args(testdata, reduced_weights, tmp_path), runners=runners)
    error = capsys.readouterr().err
    assert code == 2, error
    assert error.splitlines()[-1] == (f"error: --output-dir {folder}: the job's file summary.txt would replace "
                                      f"{folder / 'summary.txt'}, which the launcher did not write; move it away or "
                                      f"choose another output folder")
    assert (folder / "summary.txt").read_text() == "my summary\n"
    assert [p.name for p in folder.iterdir()] == ["summary.txt"] and not (tmp_path / "x.pdb").exists(), \
        "refused before any work"
