"""One prediction's samples run as parts (sample_slice) and merged (results/merge.py): the merged folder holds the
files one job writes, with the same samples, ranking, structures, scores and structural states."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from batch_endpoint import BatchEndpoint
from conftest import REPO, run_launcher

from alphafold_msa.predict import run_prediction
from alphafold_msa.protocol.spec import JobSpec
from alphafold_msa.results.merge import merge_parts
from alphafold_msa.worker.handler import handle_job

# What differs between any two runs of one job: time.
TIMED = {"seconds", "total_s", "fan_out", "kernels"}


def samples_lines(folder):
    header, *rows = (folder / "samples.tsv").read_text().splitlines()
    seconds = header.split("\t").index("seconds")
    return [[cell for index, cell in enumerate(row.split("\t")) if index != seconds] for row in [header, *rows]]


def untimed(value):
    if isinstance(value, dict):
        return {k: untimed(v) for k, v in value.items() if k not in TIMED}
    return [untimed(v) for v in value] if isinstance(value, list) else value


@pytest.mark.parametrize("fields, slices, per_call", [
    ({"models": (1, 2), "num_seeds": 4, "dropout": True, "keep_top": 3, "save_all": True}, [(0, 3), (3, 4), (4, 8)],
     "1"),
    ({"models": (1, 2), "num_seeds": 4, "dropout": True, "keep_top": 3}, [(0, 3), (3, 8)], "4"),
    ({"models": (1,), "msa_clusters": True, "keep_top": 4}, [(0, 5), (5, 14)], "1"),
])
def test_merged_parts_are_the_whole_job(testdata, reduced_weights, runners, tmp_path, monkeypatch, fields, slices,
                                        per_call):
    """Also with several samples per call: a part runs the seeds of its slice together, model by model."""
    monkeypatch.setenv("ALPHAFOLD_MSA_SAMPLES_PER_CALL", per_call)
    path = testdata / ("pfam/fn3.sto" if fields.get("msa_clusters") else "colabfold/6A5J.a3m")
    spec = JobSpec(num_recycle=0, relax="none", formats=("pdb", "cif"), **fields)

    def run(folder, **more):
        return run_prediction(path, folder, reduced_weights, spec.replace(**more), model_config="reduced",
                              runners=runners)

    whole = run(tmp_path / "whole")
    parts = [tmp_path / f"part{index}" for index in range(len(slices))]
    for folder, bounds in zip(parts, slices):
        run(folder, sample_slice=bounds)
    merged = tmp_path / "merged"
    merged.mkdir()
    merge_parts(parts, merged, {"sub_jobs": len(parts), "wall_s": 1.0})
    one = tmp_path / "whole"
    assert samples_lines(merged) == samples_lines(one)
    written = sorted(p.name for p in one.iterdir())
    assert sorted(p.name for p in merged.iterdir()) == written
    # Batches of other sizes may round a coordinate's last digit otherwise (float32 summation order): the
    # structures then agree to 0.002 Å, the rest byte for byte.
    structures = (".pdb", ".cif") if per_call == "1" else ()
    for name in written:
        if name.endswith((*structures, ".a3m", "config.json", "cite.bibtex", "ranking.json", ".png")) \
                or name.startswith("scores_"):
            assert (merged / name).read_bytes() == (one / name).read_bytes(), name
        elif name.endswith(".pdb"):
            assert coordinates(merged / name) == pytest.approx(coordinates(one / name), abs=0.002), name
    for name in ("samples.json", "clusters.json", "msa_clusters.json", "summary.json"):
        if (one / name).exists():
            assert untimed(json.loads((merged / name).read_text())) == untimed(json.loads((one / name).read_text()))
    assert json.loads((merged / "summary.json").read_text())["fan_out"]["sub_jobs"] == len(parts)
    assert [m.key for m in whole.models] == json.loads((merged / "ranking.json").read_text())["order"]


def coordinates(path: Path) -> list[float]:
    """Every atom's x, y, z in a PDB file."""
    return [float(line[start:start + 8]) for line in path.read_text().splitlines() if line.startswith("ATOM")
            for start in (30, 38, 46)]


def fan_out_args(testdata, out: Path, endpoint, *more: str) -> list[str]:
    return ["--msa", str(testdata / "colabfold" / "6A5J.a3m"), "--output", str(out / "top.pdb"), "--output-dir",
            str(out), "--endpointId", "ep1", "--api-key", "k", "--api-url", endpoint.url, "--models", "1,2",
            "--num-seeds", "3", "--use-dropout", "--num-recycle", "0", "--relax", "none", "--keep-top", "3",
            "--poll-interval", "0.2", *more]


def whole_job(testdata, reduced_weights, runners, folder: Path):
    spec = JobSpec(models=(1, 2), num_seeds=3, dropout=True, num_recycle=0, relax="none", keep_top=3, files=True)
    return run_prediction(testdata / "colabfold" / "6A5J.a3m", folder, reduced_weights, spec, model_config="reduced",
                          runners=runners)


def test_a_fanned_out_prediction_is_merged_into_one_job_s_files(testdata, reduced_weights, runners, worker_env,
                                                                 tmp_path, capsys):
    """Three jobs of two samples on an endpoint of two workers (with throttling, 503s and dropped connections):
    the merged folder and the top structure are the whole job's."""
    from alphafold_msa.launcher.cli import main

    whole = whole_job(testdata, reduced_weights, runners, tmp_path / "whole")
    out = tmp_path / "out"
    with BatchEndpoint(handle_job, workers=2, error_rate=0.1, seed=5) as endpoint:
        code = main(fan_out_args(testdata, out, endpoint, "--fan-out", "3", "--samples-per-job", "2"))
        slices = sorted(run["input"]["sample_slice"] for run in endpoint.jobs.values())
    err = capsys.readouterr().err
    assert code == 0, err
    assert slices == [[0, 2], [2, 4], [4, 6]], "each slice submitted once"
    assert samples_lines(out) == samples_lines(tmp_path / "whole")
    for name in ("ranked_0.pdb", "ranked_2.pdb", "scores_rank_1.json", "ranking.json", "config.json"):
        assert (out / name).read_text() == (tmp_path / "whole" / name).read_text(), name
    assert (out / "top.pdb").read_text() == whole.best.structures["pdb"]
    assert "6 samples in 3 jobs" in err and json.loads((out / "summary.json").read_text())["fan_out"]["sub_jobs"] == 3
    assert sorted(p.name for p in (out / ".fanout").iterdir()) == [".launcher.lock", "manifest.json", "part-000",
                                                                  "part-001", "part-002", "wall.json"]


def test_a_killed_fan_out_resumes_without_losing_or_repeating_a_job(testdata, reduced_weights, runners, worker_env,
                                                                     tmp_path):
    whole_job(testdata, reduced_weights, runners, tmp_path / "whole")
    out = tmp_path / "out"
    with BatchEndpoint(handle_job, workers=1) as endpoint:
        args = fan_out_args(testdata, out, endpoint, "--fan-out", "6", "--samples-per-job", "1", "--concurrency", "2")
        first = subprocess.Popen([sys.executable, str(REPO / "launch.py"), *args], cwd=REPO, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            manifest = out / ".fanout" / "manifest.json"
            entries = json.loads(manifest.read_text())["entries"] if manifest.is_file() else []
            if sum(e["status"] == "COMPLETED" for e in entries) >= 2:
                break
            assert first.poll() is None, first.communicate()
            time.sleep(0.1)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        at_kill = json.loads((out / ".fanout" / "manifest.json").read_text())["entries"]
        second = run_launcher(*args, timeout=600)
        submitted = Counter(tuple(job["input"]["sample_slice"]) for job in endpoint.jobs.values())
    assert second.returncode == 0, second.stderr
    entries = json.loads((out / ".fanout" / "manifest.json").read_text())["entries"]
    assert [e["status"] for e in entries] == ["COMPLETED"] * 6
    for before, after in zip(at_kill, entries):
        runs = submitted[(int(before["name"][-3:]), int(before["name"][-3:]) + 1)]
        assert runs <= after["attempts"], "never submitted without counting the attempt"
        if before["status"] in ("COMPLETED", "SUBMITTED"):
            assert runs == 1, f"{before['name']} was {before['status']} at the kill: collected, not resubmitted"
    assert samples_lines(out) == samples_lines(tmp_path / "whole")
    assert (out / "ranked_0.pdb").read_text() == (tmp_path / "whole" / "ranked_0.pdb").read_text()


def test_stop_at_score_stops_the_later_jobs_and_merges_what_one_job_would_have(testdata, reduced_weights, runners,
                                                                              worker_env, tmp_path, capsys):
    """Every sample reaches score 0: the job of sample 0 stops after it, the jobs of later samples are cancelled or
    never sent, and the merged result is the one job's that stopped after one sample."""
    from alphafold_msa.launcher.cli import main

    spec = JobSpec(models=(1, 2), num_seeds=3, dropout=True, num_recycle=0, relax="none", keep_top=3, files=True,
                   stop_at_score=0)
    run_prediction(testdata / "colabfold" / "6A5J.a3m", tmp_path / "whole", reduced_weights, spec,
                   model_config="reduced", runners=runners)
    out = tmp_path / "out"
    with BatchEndpoint(handle_job, workers=1) as endpoint:
        args = fan_out_args(testdata, out, endpoint, "--fan-out", "6", "--samples-per-job", "1", "--concurrency", "2",
                            "--stop-at-score", "0")
        code = main(args)
        statuses = sorted(job["status"] for job in endpoint.jobs.values())
        again = main(args)
        runs = len(endpoint.jobs)
    err = capsys.readouterr().err
    assert code == 0 and again == 0, err
    assert "COMPLETED" in statuses and set(statuses) <= {"COMPLETED", "CANCELLED"}, "the others were cancelled"
    assert len(statuses) <= 3 and runs == len(statuses), "the rerun merges again and sends nothing"
    entries = json.loads((out / ".fanout" / "manifest.json").read_text())["entries"]
    # the second job, sent with the first, may have finished before the stop: its samples are left out all the same
    assert entries[0]["status"] == "COMPLETED" and entries[1]["status"] in ("COMPLETED", "STOPPED")
    assert [e["status"] for e in entries[2:]] == ["STOPPED"] * 4
    assert samples_lines(out) == samples_lines(tmp_path / "whole")
    assert untimed(json.loads((out / "samples.json").read_text())) == \
        untimed(json.loads((tmp_path / "whole" / "samples.json").read_text()))
    assert (out / "ranked_0.pdb").read_text() == (tmp_path / "whole" / "ranked_0.pdb").read_text()
    assert "stopped once a sample reached --stop-at-score" in err


def test_a_job_whose_files_went_missing_is_run_again(testdata, reduced_weights, runners, worker_env, tmp_path,
                                                     capsys):
    from alphafold_msa.launcher.cli import main

    whole_job(testdata, reduced_weights, runners, tmp_path / "whole")
    out = tmp_path / "out"
    with BatchEndpoint(handle_job, workers=1) as endpoint:
        args = fan_out_args(testdata, out, endpoint, "--fan-out", "3", "--samples-per-job", "2")
        assert main(args) == 0
        wall = json.loads((out / "summary.json").read_text())["fan_out"]["wall_s"]
        shutil.rmtree(out / ".fanout" / "part-001")
        assert main(args) == 0, capsys.readouterr().err
        slices = Counter(tuple(job["input"]["sample_slice"]) for job in endpoint.jobs.values())
    assert slices == {(0, 2): 1, (2, 4): 2, (4, 6): 1}, "only the job whose files went missing ran again"
    assert samples_lines(out) == samples_lines(tmp_path / "whole")
    assert json.loads((out / "summary.json").read_text())["fan_out"]["wall_s"] >= wall, "the fan-out's whole time"
