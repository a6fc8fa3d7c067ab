"""Interaction screens (launcher/screen.py): a pulldown of a Pfam bait against preys from the test data, run here
with the reduced network, ranked by interface score; the plan; bad input in one line."""

from __future__ import annotations

import csv
import json
import shutil

import pytest

from alphafold_msa.launcher.cli import main

PREYS = ("pfam/RRM_1.sto", "pfam/globins4.sto", "colabfold/6A5J.a3m", "pfam/20aa-alitest.afa")


@pytest.fixture
def preys(testdata, tmp_path):
    folder = tmp_path / "preys"
    folder.mkdir()
    for name in PREYS:
        shutil.copy(testdata / name, folder)
    return folder


@pytest.fixture
def small_preys(testdata, tmp_path):
    """Three short preys (two of one length: one compiled network for both), to run here."""
    folder = tmp_path / "small"
    folder.mkdir()
    shutil.copy(testdata / "colabfold" / "6A5J.a3m", folder)
    shutil.copy(testdata / "colabfold" / "6A5J.a3m", folder / "6A5J_copy.a3m")
    shutil.copy(testdata / "pfam" / "20aa-alitest.afa", folder)
    return folder


def local(reduced_weights) -> list[str]:
    return ["--local", "--param-dir", str(reduced_weights), "--model-config", "reduced", "--models", "1",
            "--num-recycle", "0", "--relax", "none"]


def test_a_pulldown_runs_each_prey_with_the_bait_ranked_by_ipsae(testdata, small_preys, reduced_weights, runners,
                                                                  tmp_path, capsys):
    out = tmp_path / "screen"
    args = ["--screen", "pulldown", "--bait", str(testdata / "pfam" / "fn3.sto"), "--msa", str(small_preys),
            "--output-dir", str(out), *local(reduced_weights)]
    assert main(args, runners=runners) == 0, capsys.readouterr().err
    rows = list(csv.DictReader((out / "screen.tsv").open(), delimiter="\t"))
    assert sorted(row["name"] for row in rows) == ["fn3__20aa-alitest", "fn3__6A5J", "fn3__6A5J_copy"]
    assert [row["rank"] for row in rows] == ["1", "2", "3"] and {row["status"] for row in rows} == {"COMPLETED"}
    ipsae = [float(row["ipsae"]) for row in rows]
    assert ipsae == sorted(ipsae, reverse=True), "ranked by ipSAE, best first"
    for row in rows:  # each complex's own folder, its top model's interface scores as the table says
        scores = json.loads((out / row["name"] / "scores_rank_0.json").read_text())
        assert scores["interface"]["ipsae"] == pytest.approx(float(row["ipsae"]))
        assert set(scores["interface"]["pairs"]) == {"A-B", "B-A"}
    table = json.loads((out / "screen.json").read_text())
    assert table["rank_by"] == "ipsae" and len(table["complexes"]) == 3
    page = (out / "report.html").read_text()  # the screen's page links each complex's own
    assert all(f'href="{row["name"]}/report.html"' in page and (out / row["name"] / "report.html").is_file()
               for row in rows)
    err = capsys.readouterr()
    assert "3 complexes, each its own job" in err.err and "fn3__6A5J_copy" in err.out
    # the same command again: nothing is predicted again, the table is the same
    assert main(args, runners=runners) == 0
    assert list(csv.DictReader((out / "screen.tsv").open(), delimiter="\t")) == rows
    # ranked by another score: the same predictions, ranked again
    assert main([*args, "--rank-by", "pdockq2"], runners=runners) == 0
    again = json.loads((out / "screen.json").read_text())
    pdockq2 = [row["pdockq2"] for row in again["complexes"]]
    assert again["rank_by"] == "pdockq2" and pdockq2 == sorted(pdockq2, reverse=True)


def test_the_plan_is_one_line_per_complex_before_any_gpu_time(testdata, preys, capsys):
    args = ["--check", "--screen", "all-vs-all", "--msa", str(preys), "--include-homomers", "--models", "1,2"]
    assert main(args) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 6 + 4, "every unordered pair of four, and each homodimer"
    pair = next(line for line in lines if line["name"] == "RRM_1__globins4")
    assert pair["chain_lengths"] == [71, 146] and pair["residues"] == 217 and pair["samples"] == 2
    assert pair["paired_rows"] >= 0 and pair["estimated_gpu_s"] > 0
    assert next(line for line in lines if line["name"] == "RRM_1x2")["chain_lengths"] == [71, 71]


@pytest.mark.parametrize("pairs, message", [
    ("fn3.sto,RRM_1.sto\n\nmissing.sto:2\n", "pairs.txt line 3: missing.sto: no such file"),
    ("fn3.sto:two,RRM_1.sto\n", "pairs.txt line 1: 'fn3.sto:two': expected FILE or FILE:COPIES"),
    ("# nothing\n", "--screen pairs: no complexes to predict"),
])
def test_a_bad_pairs_file_is_one_line_and_nothing_runs(testdata, tmp_path, capsys, pairs, message):
    for name in ("fn3.sto", "RRM_1.sto"):
        shutil.copy(testdata / "pfam" / name, tmp_path)
    (tmp_path / "pairs.txt").write_text(pairs)
    code = main(["--screen", "pairs", "--pairs", str(tmp_path / "pairs.txt"), "--output-dir", str(tmp_path / "out"),
                 "--endpointId", "e", "--api-key", "k", "--api-url", "http://127.0.0.1:9"])
    error = capsys.readouterr().err.strip()
    assert code == 2 and error.startswith("error: ") and message in error and "\n" not in error
    assert not (tmp_path / "out").exists()


def test_more_complexes_than_allowed_are_refused(preys, tmp_path, capsys):
    code = main(["--screen", "all-vs-all", "--msa", str(preys), "--max-complexes", "5", "--output-dir",
                 str(tmp_path / "out"), "--local"])
    assert code == 2 and "6 complexes, more than --max-complexes 5" in capsys.readouterr().err


def test_a_killed_remote_screen_resumes_without_losing_or_repeating_a_complex(testdata, worker_env, tmp_path):
    """All-vs-all of three short proteins on the emulated endpoint (the real worker): the launcher is killed once
    a complex has completed; the same command again polls the submitted ones, runs the rest, and ranks all."""
    import signal
    import subprocess
    import sys
    import time

    from batch_endpoint import BatchEndpoint
    from conftest import REPO, run_launcher

    from alphafold_msa.worker.handler import handle_job

    folder = tmp_path / "proteins"
    folder.mkdir()
    for name in ("colabfold/6A5J.a3m", "colabfold/5AWL1.a3m", "pfam/20aa-alitest.afa"):
        shutil.copy(testdata / name, folder)
    out = tmp_path / "screen"
    with BatchEndpoint(handle_job, workers=1) as endpoint:
        args = ["--screen", "all-vs-all", "--msa", str(folder), "--output-dir", str(out), "--endpointId", "ep1",
                "--api-key", "k", "--api-url", endpoint.url, "--models", "1", "--num-recycle", "0", "--relax", "none",
                "--concurrency", "2", "--poll-interval", "0.2"]
        first = subprocess.Popen([sys.executable, str(REPO / "launch.py"), *args], cwd=REPO, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            manifest = out / "manifest.json"
            entries = json.loads(manifest.read_text())["entries"] if manifest.is_file() else []
            if any(e["status"] == "COMPLETED" for e in entries):
                break
            assert first.poll() is None, first.communicate()
            time.sleep(0.1)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        at_kill = {e["name"]: e for e in json.loads((out / "manifest.json").read_text())["entries"]}
        second = run_launcher(*args, timeout=600)
        runs = sorted(endpoint.submissions.values())
    assert second.returncode == 0, second.stderr
    entries = json.loads((out / "manifest.json").read_text())["entries"]
    assert [e["status"] for e in entries] == ["COMPLETED"] * 3
    # Each complex submitted once: those in flight at the kill were polled, not resent. Only a submission the kill
    # interrupted (SUBMITTING: it may or may not have reached the endpoint) is sent again, its attempt counted.
    uncertain = sum(e["status"] == "SUBMITTING" for e in at_kill.values())
    assert len(runs) == 3 and sum(runs) <= 3 + uncertain and sum(runs) <= sum(e["attempts"] for e in entries)
    assert any(e["status"] == "COMPLETED" for e in at_kill.values())
    rows = list(csv.DictReader((out / "screen.tsv").open(), delimiter="\t"))
    assert [row["rank"] for row in rows] == ["1", "2", "3"] and all(row["ipsae"] for row in rows)


def test_a_pairs_file_too_large_is_refused_before_it_is_read(tmp_path, capsys):
    pairs = tmp_path / "pairs.txt"
    with open(pairs, "wb") as handle:
        handle.truncate(10_000_001)
    assert main(["--check", "--screen", "pairs", "--pairs", str(pairs)]) == 2
    assert "10,000,001 bytes, more than the 10,000,000 a pairs file may hold" in capsys.readouterr().err


def test_a_fanned_out_screen_merges_each_complex_as_one_job(testdata, worker_env, runners, tmp_path, capsys):
    """--screen with --fan-out on the emulated endpoint (the real worker): each complex's four samples run as two
    jobs of two, merged into its folder: the same files and ranking as the screen run without --fan-out."""
    from batch_endpoint import BatchEndpoint

    from alphafold_msa.worker.handler import handle_job

    folder = tmp_path / "preys"
    folder.mkdir()
    for name in ("colabfold/5AWL1.a3m", "pfam/20aa-alitest.afa"):
        shutil.copy(testdata / name, folder)
    with BatchEndpoint(handle_job, workers=2) as endpoint:
        def screen(out, *more):
            return main(["--screen", "pulldown", "--bait", str(testdata / "colabfold" / "6A5J.a3m"), "--msa",
                         str(folder), "--output-dir", str(out), "--endpointId", "ep1", "--api-key", "k", "--api-url",
                         endpoint.url, "--models", "1,2", "--num-seeds", "2", "--num-recycle", "0", "--relax", "none",
                         "--poll-interval", "0.2", *more])

        in_the_way = tmp_path / "fanned" / "6A5J__20aa-alitest" / "ranking.json"  # a file of the user's own
        in_the_way.parent.mkdir(parents=True)
        in_the_way.write_text("mine")
        fanned = ("--fan-out", "2", "--samples-per-job", "2")
        assert screen(tmp_path / "fanned", *fanned) == 3
        err = capsys.readouterr().err
        assert "6A5J__20aa-alitest: failed: " in err and "ranking.json" in err
        entries = json.loads((tmp_path / "fanned" / "manifest.json").read_text())["entries"]
        assert [(e["name"], e["status"]) for e in entries] == [("6A5J__20aa-alitest", "FAILED"),
                                                               ("6A5J__5AWL1", "COMPLETED")], "the rest ran"
        in_the_way.unlink()
        assert screen(tmp_path / "fanned", *fanned) == 0, capsys.readouterr().err  # its parts merged, not re-run
        slices = sorted(run["input"]["sample_slice"] for run in endpoint.jobs.values())
        assert screen(tmp_path / "whole") == 0, capsys.readouterr().err
    assert slices == [[0, 2], [0, 2], [2, 4], [2, 4]], "each complex: two jobs of two samples, each sent once"
    fanned, whole = (list(csv.DictReader((tmp_path / name / "screen.tsv").open(), delimiter="\t"))
                     for name in ("fanned", "whole"))
    assert [row["status"] for row in fanned] == ["COMPLETED"] * 2
    columns = ("rank", "name", "chains", "ipsae", "iptm", "pdockq", "pdockq2", "mean_plddt", "length")
    assert [[row[c] for c in columns] for row in fanned] == [[row[c] for c in columns] for row in whole]
    for row in fanned:
        merged, one = tmp_path / "fanned" / row["name"], tmp_path / "whole" / row["name"]
        assert (merged / "ranked_0.pdb").read_text() == (one / "ranked_0.pdb").read_text()
        assert (merged / "ranking.json").read_text() == (one / "ranking.json").read_text()
        assert json.loads((merged / "summary.json").read_text())["fan_out"]["sub_jobs"] == 2
        assert sorted(p.name for p in (merged / ".fanout").iterdir() if p.name.startswith("part-")) == [
            "part-000", "part-001"]


@pytest.mark.parametrize("more, message", [
    (["--local", "--fan-out", "2"], "--fan-out spreads a prediction over an endpoint's workers"),
    (["--msa-clusters", "--fan-out", "2", "--endpointId", "e", "--api-key", "k", "--api-url", "http://127.0.0.1:9"],
     "--msa-clusters: AF-Cluster clusters a single chain's alignment"),
])
def test_what_a_screen_cannot_do_is_refused_before_anything_runs(testdata, tmp_path, capsys, more, message):
    code = main(["--screen", "pulldown", "--bait", str(testdata / "colabfold" / "6A5J.a3m"), "--msa",
                 str(testdata / "colabfold" / "5AWL1.a3m"), "--output-dir", str(tmp_path / "out"), *more])
    error = capsys.readouterr().err
    assert code == 2 and message in error and "\n" not in error.strip()
    assert not (tmp_path / "out").exists()
