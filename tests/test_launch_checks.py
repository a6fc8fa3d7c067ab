"""What launch.py checks before any work: output paths and formats, flag combinations, --check agreeing
with a run, and what the console says (usage, skipped files, timeouts, no urllib3 lines, errors once)."""

from __future__ import annotations

import json
import os
import pty
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, run_launcher
from endpoint_emulator import EndpointEmulator, Reply
from test_remote import API_KEY, COMPLETED

from alphafold_msa.errors import EXIT_BAD_INPUT, EXIT_OK, EXIT_TIMEOUT
from alphafold_msa.launcher.cli import main
from alphafold_msa.launcher.output_paths import structure_formats, structure_paths


def local_flags(reduced_weights) -> list[str]:
    return ["--local", "--param-dir", str(reduced_weights), "--model-config", "reduced", "--models", "1",
            "--num-recycle", "0"]


def test_an_output_that_names_a_folder_is_refused_before_any_work(small_msa_path, reduced_weights, tmp_path,
                                                                  capsys):
    folder = tmp_path / "outdir"
    folder.mkdir()
    code = main([*local_flags(reduced_weights), "--msa", str(small_msa_path), "--output", str(folder)])
    error = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT
    assert error == (f"error: --output {folder}: {folder} is a folder; name the structure file (e.g. "
                     f"{folder / 'model.pdb'}), or give --output-dir {folder} for every file of the job\n")
    assert list(tmp_path.iterdir()) == [folder] and list(folder.iterdir()) == []  # nothing written, no .partial


@pytest.mark.parametrize("flags, message", [
    (["--output", "{tmp}/blocker/x.pdb"], "--output {tmp}/blocker/x.pdb: {tmp}/blocker is a file, not a folder"),
    (["--output", "{tmp}/x.pdb", "--output-dir", "{tmp}/blocker"], "--output-dir {tmp}/blocker is a file, not a "
                                                                   "folder"),
    (["--output", "{tmp}/x.pdb", "--format", "cif", "--output-dir", "{tmp}/out"],
     "--output {tmp}/x.pdb names a pdb file, but --format asks for cif only: add pdb to --format or change the "
     "file name"),
    (["--output", "{tmp}/x.cif", "--endpointId", "ep1"],
     "--local predicts on this machine; --endpointId is for a job on an endpoint: give one of them"),
])
def test_outputs_and_flags_that_cannot_work_are_one_line(small_msa_path, reduced_weights, tmp_path, capsys, flags,
                                                         message):
    (tmp_path / "blocker").write_text("a file\n")
    code = main([*local_flags(reduced_weights), "--msa", str(small_msa_path),
                 *[flag.format(tmp=tmp_path) for flag in flags]])
    assert code == EXIT_BAD_INPUT
    assert capsys.readouterr().err == f"error: {message.format(tmp=tmp_path)}\n"


def test_a_mistyped_alignment_path_says_so(tmp_path, capsys):
    assert main(["--msa", str(tmp_path / "famly.sto"), "--output", str(tmp_path / "x.pdb")]) == EXIT_BAD_INPUT
    assert capsys.readouterr().err == f"error: --msa {tmp_path / 'famly.sto'}: no such file or folder\n"


def test_launch_py_alone_shows_usage_and_examples():
    completed = run_launcher()
    assert completed.returncode == EXIT_BAD_INPUT
    assert completed.stderr.startswith("usage: ")
    assert "examples:" in completed.stderr and "all options: --help" in completed.stderr
    assert completed.stderr.splitlines()[-1] == "error: --msa is required: the alignment file to predict from"


def test_structure_formats_follow_the_output_name():
    assert structure_formats("m.cif", None) == ["cif"]
    assert structure_formats("m.pdb", None) == ["pdb"]
    assert structure_formats(None, None) is None
    assert structure_formats("m.cif", ["pdb", "cif"]) == ["cif", "pdb"]
    assert structure_paths(Path("out/m.cif"), ["cif", "pdb"]) == {"cif": Path("out/m.cif"), "pdb": Path("out/m.pdb")}
    assert structure_paths(Path("out/m.pdb"), ["pdb", "cif"]) == {"pdb": Path("out/m.pdb"), "cif": Path("out/m.cif")}


def test_output_cif_is_mmcif_and_each_format_is_written(small_msa_path, reduced_weights, runners, tmp_path, capsys):
    cif_only = main([*local_flags(reduced_weights), "--msa", str(small_msa_path), "--output",
                     str(tmp_path / "x.cif")], runners=runners)
    assert cif_only == EXIT_OK, capsys.readouterr().err
    assert (tmp_path / "x.cif").read_text().startswith("data_") and not (tmp_path / "x.pdb").exists()
    both = main([*local_flags(reduced_weights), "--msa", str(small_msa_path), "--output", str(tmp_path / "y.pdb"),
                 "--format", "pdb,mmcif"], runners=runners)
    assert both == EXIT_OK, capsys.readouterr().err
    assert (tmp_path / "y.pdb").read_text().startswith(("MODEL", "ATOM", "REMARK"))
    assert (tmp_path / "y.cif").read_text().startswith("data_")


def test_one_alignment_with_output_dir_is_one_job_in_that_folder(small_msa_path, reduced_weights, runners, tmp_path,
                                                                  capsys):
    out = tmp_path / "out"
    code = main([*local_flags(reduced_weights), "--msa", str(small_msa_path), "--output-dir", str(out)],
                runners=runners)
    error = capsys.readouterr().err
    assert code == EXIT_OK, error
    names = {path.name for path in out.iterdir()}
    assert {"6A5J.pdb", "6A5J.scores.json", "ranked_0.pdb", "scores_rank_0.json", "summary.json"} <= names
    assert not any((out / name).is_dir() for name in names), "no folder per alignment"
    assert error.splitlines()[-1].startswith(f"wrote {out / '6A5J.pdb'} (model_1_ptm, mean pLDDT ")


@pytest.fixture
def template_query(testdata, tmp_path):
    """An alignment whose query is 16 residues of 1A7G.cif's protein chain (E), and that entry."""
    from test_launch_templates import QUERY

    query = tmp_path / "query.a3m"
    query.write_text(f">query\n{QUERY}\n")
    return query, testdata / "structures" / "1A7G.cif"


@pytest.mark.parametrize("template, message", [
    ("{missing}", "--template {missing}: no such file: {missing}"),
    ("{cif}:Z", "1A7G.cif: no protein chain 'Z'; its protein chains are E"),
    ("{pdb}", "2rbg.pdb"),
])
def test_check_refuses_the_templates_a_run_refuses(template_query, testdata, reduced_weights, tmp_path, capsys,
                                                   template, message):
    query, cif = template_query
    names = {"missing": tmp_path / "none.cif", "cif": cif, "pdb": testdata / "structures" / "2rbg.pdb"}
    argument = template.format(**names)
    check = main(["--check", "--msa", str(query), "--template", argument])
    checked = capsys.readouterr()
    run = main([*local_flags(reduced_weights), "--msa", str(query), "--output", str(tmp_path / "x.pdb"),
                "--template", argument])
    ran = capsys.readouterr()
    assert check == run == EXIT_BAD_INPUT, (checked, ran)
    refusal = ran.err.splitlines()[-1]
    assert message.format(**names) in refusal
    assert refusal.removeprefix("error: ") in checked.out + checked.err
    assert not (tmp_path / "x.pdb").exists()


def test_check_accepts_the_templates_a_run_accepts(template_query, capsys):
    query, cif = template_query
    assert main(["--check", "--msa", str(query), "--template", f"{cif}:E"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["query_length"] > 0


def test_a_folder_scan_takes_sth_files_and_says_what_it_skipped(testdata, tmp_path, capsys):
    folder = tmp_path / "alignments"
    folder.mkdir()
    shutil.copy(testdata / "pfam" / "RRM_1.sto", folder / "RRM_1.sth")
    (folder / "README.md").write_text("notes\n")
    (folder / ".DS_Store").write_bytes(b"\0")
    assert main(["--check", "--msa", str(folder)]) == EXIT_OK
    captured = capsys.readouterr()
    assert [json.loads(line)["file"] for line in captured.out.splitlines()] == [str(folder / "RRM_1.sth")]
    assert "skipped 1 file(s) not named as alignments" in captured.err and "README.md" in captured.err
    assert ".DS_Store" not in captured.err


def test_check_shows_an_error_once_on_a_terminal_and_on_stderr_otherwise(tmp_path):
    bad = tmp_path / "bad.a3m"
    bad.write_text("just some notes\n")
    command = [sys.executable, str(REPO / "launch.py"), "--check", "--msa", str(bad)]
    piped = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert piped.returncode == EXIT_BAD_INPUT
    assert "not a recognised alignment" in json.loads(piped.stdout)["error"]
    assert piped.stderr.count("not a recognised alignment") == 1
    leader, follower = pty.openpty()
    with subprocess.Popen(command, cwd=REPO, stdout=follower, stderr=follower, text=True) as process:
        os.close(follower)
        terminal = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal closed with the process
                break
            if not chunk:
                break
            terminal += chunk
    os.close(leader)
    assert process.returncode == EXIT_BAD_INPUT
    assert terminal.decode().count("not a recognised alignment") == 1, terminal


def test_timeout_says_the_endpoint_stops_the_job_too(small_msa_path, tmp_path):
    with EndpointEmulator() as emulator:
        emulator.status_replies = [Reply(200, {"id": "job-123", "status": "IN_QUEUE"})]
        completed = run_launcher("--msa", str(small_msa_path), "--output", str(tmp_path / "x.pdb"), "--endpointId",
                                 "ep1", "--api-url", emulator.url, "--poll-interval", "0.05", "--timeout", "1",
                                 env={"RUNPOD_API_KEY": API_KEY}, timeout=120)
    assert completed.returncode == EXIT_TIMEOUT
    assert completed.stderr.splitlines()[-1] == (
        "error: job job-123 did not finish within --timeout 1 s. The endpoint stops it once it has run 1 s (the "
        "job's execution timeout); if it was queued part of that time it may still complete: --resume job-123 "
        "fetches it then. For longer jobs, give a larger --timeout")
    assert emulator.requests[0]["body"]["policy"]["executionTimeout"] == 1000


def test_retries_leave_no_urllib3_lines_on_the_console(small_msa_path, tmp_path):
    with EndpointEmulator() as emulator:
        emulator.status_replies = [Reply(drop=True), Reply(drop=True), COMPLETED]
        completed = run_launcher("--msa", str(small_msa_path), "--output", str(tmp_path / "x.pdb"), "--endpointId",
                                 "ep1", "--api-url", emulator.url, "--poll-interval", "0.05",
                                 env={"RUNPOD_API_KEY": API_KEY}, timeout=120)
    assert completed.returncode == EXIT_OK, completed.stderr
    assert len(emulator.paths("GET")) >= 3
    assert "Retry" not in completed.stderr and "connection broken" not in completed.stderr, completed.stderr


def test_a_cif_output_from_an_endpoint_is_its_mmcif_and_left_out_copies_are_named(small_msa_path, tmp_path):
    from test_launcher_trust import completed_with

    reply = completed_with({"ranked_0.pdb": b"ATOM pdb\n", "ranked_0.cif": b"data_unrelaxed\n",
                            "relaxed_rank_0.cif": b"data_relaxed\n"})
    reply.body["output"]["files"]["left_out"] = ["rank_001_model_1_ptm_seed_000.pdb", "msa.a3m"]
    runs = []
    with EndpointEmulator() as emulator:
        emulator.status_replies = [reply]
        for folder in ([], ["--output-dir", str(tmp_path / "all")]):
            runs.append(run_launcher("--msa", str(small_msa_path), "--output", str(tmp_path / "x.cif"), *folder,
                                     "--endpointId", "ep1", "--api-url", emulator.url, "--poll-interval", "0.05",
                                     env={"RUNPOD_API_KEY": API_KEY}, timeout=120))
    assert all(run.returncode == EXIT_OK for run in runs), [run.stderr for run in runs]
    assert emulator.requests[0]["body"]["input"]["formats"] == ["cif"]
    assert (tmp_path / "x.cif").read_text() == "data_relaxed\n" and not (tmp_path / "x.pdb").exists()
    note = "but 2 (the copies under ColabFold's names, msa.a3m) the worker left out"
    assert note not in runs[0].stderr and note in runs[1].stderr, "said only where the files were asked for"


@pytest.mark.parametrize("output", ["{msa}", "{tmp}/x.a3m", "{tmp}/x.pdb.gz", "{tmp}/model"])
def test_an_output_that_is_an_input_or_not_a_structure_file_is_refused(small_msa_path, tmp_path, capsys, output):
    msa = tmp_path / "in.pdb"  # an alignment named like a structure: only the path comparison catches it
    msa.write_bytes(small_msa_path.read_bytes())
    target = output.format(msa=msa, tmp=tmp_path)
    assert main(["--local", "--msa", str(msa), "--output", target]) == EXIT_BAD_INPUT
    error = capsys.readouterr().err
    assert error.startswith(f"error: --output {target}") and "Traceback" not in error
    assert ("is one of the command's inputs" if target == str(msa) else "name the structure file with .pdb") in error
    assert msa.read_bytes() == small_msa_path.read_bytes()


def test_output_dir_files_of_yours_stop_the_job_before_any_work(small_msa_path, reduced_weights, runners, tmp_path,
                                                               capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "config.json").write_text("{}\n")
    assert main([*local_flags(reduced_weights), "--msa", str(small_msa_path), "--output-dir", str(out)],
                runners=runners) == EXIT_BAD_INPUT
    assert "the job's file config.json would replace" in capsys.readouterr().err
    (out / "config.json").unlink()
    (out / "6A5J.pdb").write_text("MINE\n")  # the top model's implied name
    assert main([*local_flags(reduced_weights), "--msa", str(small_msa_path), "--output-dir", str(out)],
                runners=runners) == EXIT_BAD_INPUT
    assert "the job's file 6A5J.pdb would replace" in capsys.readouterr().err
    assert sorted(path.name for path in out.iterdir()) == ["6A5J.pdb"] and (out / "6A5J.pdb").read_text() == "MINE\n"
    (out / "6A5J.pdb").unlink()
    for _ in range(2):  # a run into its own earlier output replaces it
        assert main([*local_flags(reduced_weights), "--msa", str(small_msa_path), "--output-dir", str(out)],
                    runners=runners) == EXIT_OK, capsys.readouterr().err
    assert (out / "6A5J.pdb").read_text().startswith(("MODEL", "ATOM", "REMARK"))


def test_output_and_output_dir_naming_one_path_is_one_line(small_msa_path, tmp_path, capsys):
    same = str(tmp_path / "one.pdb")
    assert main(["--local", "--msa", str(small_msa_path), "--output", same, "--output-dir", same]) == EXIT_BAD_INPUT
    assert capsys.readouterr().err.startswith(f"error: --output {same}: {same} is a folder")
