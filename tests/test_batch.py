"""Batch mode: a folder of alignments through an emulated endpoint running the real worker, with
random failures, a launcher killed mid-batch and resumed; discovery, naming and manifest rules."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from batch_endpoint import BatchEndpoint, input_key
from conftest import REPO, run_launcher

from alphafold_msa.errors import EXIT_OK, EXIT_REMOTE_FAILED, UserError
from alphafold_msa.launcher.batch import discover, format_table, job_names
from alphafold_msa.worker.handler import handle_job

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"


def write_family(path: Path, rng: random.Random) -> tuple[str, int]:
    """A random family: a 25-32 residue query and 3-11 mutated, gapped relatives, as a3m, aligned
    FASTA or Stockholm by the file's suffix. Returns (query name, length)."""
    length = rng.randint(25, 32)
    query = "".join(rng.choice(AMINO_ACIDS) for _ in range(length))
    rows = [("query_" + path.stem, query)]
    for number in range(rng.randint(3, 11)):
        row = [rng.choice(AMINO_ACIDS) if rng.random() < 0.3 else c for c in query]
        start = rng.randint(0, 5)
        row[:start] = "-" * start
        rows.append((f"relative_{number}", "".join(row)))
    if path.suffix == ".sto":
        text = "# STOCKHOLM 1.0\n\n" + "".join(f"{n} {s}\n" for n, s in rows) + "//\n"
    else:
        text = "".join(f">{n}\n{s}\n" for n, s in rows)
    path.write_text(text)
    return rows[0][0], length


@pytest.fixture
def families(tmp_path) -> tuple[Path, dict[str, int]]:
    """30 generated alignments in three formats, plus one file that is not an alignment."""
    folder = tmp_path / "families"
    folder.mkdir()
    rng = random.Random(7)
    lengths = {}
    for index in range(30):
        path = folder / f"fam{index:02d}{('.a3m', '.fasta', '.sto')[index % 3]}"
        lengths[path.stem] = write_family(path, rng)[1]
    (folder / "broken.a3m").write_text("this is not an alignment\n")
    (folder / "notes.txt").write_text("ignored: not an alignment's name\n")
    return folder, lengths


def _batch_args(msa: Path, out: Path, endpoint: BatchEndpoint) -> list[str]:
    return ["--msa", str(msa), "--output-dir", str(out), "--endpointId", "ep1", "--api-url", endpoint.url,
            "--api-key", "test-key", "--models", "1", "--num-recycle", "0", "--concurrency", "4",
            "--poll-interval", "0.2"]


def _manifest(out: Path) -> dict:
    path = out / "manifest.json"
    return json.loads(path.read_text()) if path.is_file() else {"entries": []}


@pytest.mark.slow
def test_a_killed_batch_resumes_without_losing_or_repeating_jobs(families, worker_env, tmp_path):
    folder, lengths = families
    out = tmp_path / "out"
    crashes_first = lambda job_input: int(input_key(job_input), 16) % 6 == 0  # noqa: E731
    with BatchEndpoint(handle_job, error_rate=0.1, fail_first_run=crashes_first, seed=3) as endpoint:
        args = _batch_args(folder, out, endpoint)
        first = subprocess.Popen([sys.executable, str(REPO / "launch.py"), *args], cwd=REPO,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            entries = _manifest(out)["entries"]
            if sum(e["status"] == "COMPLETED" for e in entries) >= 6:
                break
            assert first.poll() is None, first.communicate()
            time.sleep(0.2)
        assert first.poll() is None, "the batch must still be running when it is killed"
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        at_kill = {e["name"]: e for e in _manifest(out)["entries"]}
        in_flight = {n: e["job_id"] for n, e in at_kill.items() if e["status"] == "SUBMITTED"}
        assert in_flight, "some jobs were in flight when the launcher died"
        assert at_kill["broken"]["status"] == "INVALID"

        second = run_launcher(*args, timeout=600)

        valid_keys = {input_key({"msa": (folder / f"{name}{suffix}").read_text()})
                      for name in lengths for suffix in (".a3m", ".fasta", ".sto")
                      if (folder / f"{name}{suffix}").is_file()}
        assert len(valid_keys) == 30
        # A submission the kill interrupted (SUBMITTING) may or may not have reached the endpoint, and
        # RunPod has no idempotency key: it counts as an attempt and is sent again once.
        interrupted = {input_key({"msa": Path(e["path"]).read_text()}) for e in at_kill.values()
                       if e["status"] == "SUBMITTING"}
        for key in valid_keys:  # each alignment submitted once, plus once per injected crash
            expected = 1 + endpoint.injected[key]
            assert endpoint.submissions[key] in ((expected, expected + 1) if key in interrupted else (expected,)), key
        assert sum(endpoint.injected.values()) >= 2
        assert set(endpoint.submissions) == valid_keys, "the invalid file is never submitted"

    assert second.returncode == 3, second.stderr  # one invalid alignment
    assert "broken: not submitted: " in second.stderr and "broken.a3m" in second.stderr
    final = {e["name"]: e for e in _manifest(out)["entries"]}
    for name, job_id in in_flight.items():  # in-flight jobs were polled and collected, not resubmitted
        if final[name]["attempts"] == at_kill[name]["attempts"]:
            assert final[name]["job_id"] == job_id
    rows = (out / "summary.tsv").read_text().splitlines()
    assert rows[0].split("\t") == ["name", "length", "depth", "mean_plddt", "ptm", "iptm", "worker_s", "status"]
    table = {row.split("\t")[0]: row.split("\t") for row in rows[1:]}
    assert len(table) == 31 and table["broken"][-1] == "INVALID"
    for name, length in lengths.items():
        assert table[name][-1] == "COMPLETED" and int(table[name][1]) == length
        assert 0 < float(table[name][3]) <= 100 and 0 <= float(table[name][4]) <= 1
        job_dir = out / name
        for file in ("ranked_0.pdb", "scores_rank_0.json", "ranking.json", "plddt.png", "pae.png", "coverage.png",
                     "summary.json", "summary.txt"):
            assert (job_dir / file).is_file(), (name, file)
        assert json.loads((job_dir / "summary.json").read_text())["query_length"] == length
        scores = json.loads((job_dir / "scores_rank_0.json").read_text())
        assert {"plddt", "pae", "max_pae", "ptm"} <= set(scores) and len(scores["plddt"]) == length
        assert (job_dir / "plddt.png").read_bytes().startswith(b"\x89PNG")
    printed = second.stdout.splitlines()
    assert printed[0].split() == ["name", "length", "depth", "mean_plddt", "ptm", "iptm", "worker_s", "status"]
    assert len(printed) == 32 and any(line.startswith("broken") and line.endswith("INVALID") for line in printed)


def test_a_finished_batch_run_again_submits_nothing(worker_env, tmp_path):
    folder = tmp_path / "two"
    folder.mkdir()
    rng = random.Random(1)
    for name in ("a.a3m", "b.sto"):
        write_family(folder / name, rng)
    out = tmp_path / "out"
    with BatchEndpoint(handle_job) as endpoint:
        args = _batch_args(folder, out, endpoint)
        assert run_launcher(*args).returncode == 0
        assert sum(endpoint.submissions.values()) == 2
        again = run_launcher(*args)
        assert again.returncode == 0 and sum(endpoint.submissions.values()) == 2
        changed = run_launcher(*[a if a != "0" else "1" for a in args])  # --num-recycle 1: other settings
    assert changed.returncode == 2
    assert "manifest.json belongs to a batch run with other settings (num_recycle)" in changed.stderr


def test_jobs_that_keep_failing_are_reported_after_the_retries(worker_env, monkeypatch, tmp_path):
    """The worker refuses the 40-residue query (its length limit is 30) every time it runs."""
    monkeypatch.setenv("ALPHAFOLD_MSA_MAX_LENGTH", "30")
    folder = tmp_path / "long"
    folder.mkdir()
    (folder / "long.a3m").write_text(">q\n" + "ACDEFGHIKL" * 4 + "\n")
    out = tmp_path / "out"
    with BatchEndpoint(handle_job) as endpoint:
        args = [*_batch_args(folder, out, endpoint), "--max-retries", "1"]
        completed = run_launcher(*args, env={"ALPHAFOLD_MSA_MAX_LENGTH": "2500"})
        assert sum(endpoint.submissions.values()) == 2
        rerun = run_launcher(*args, env={"ALPHAFOLD_MSA_MAX_LENGTH": "2500"})
        assert sum(endpoint.submissions.values()) == 2, "no attempts are left for it"
    assert completed.returncode == 3 and rerun.returncode == 3
    entry = _manifest(out)["entries"][0]
    assert entry["status"] == "FAILED" and entry["attempts"] == 2
    assert "FAILED: " in entry["error"] and "40 residues" in entry["error"]
    assert "long: failed" in completed.stderr


def test_discovery_expands_folders_and_globs_and_names_uniquely(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    for path in ("x/PF1.sto", "x/PF2.a3m.gz", "x/readme.md", "y/PF1.fasta"):
        (tmp_path / path).write_bytes(b"")
    found = discover([str(tmp_path / "x"), str(tmp_path / "y" / "*.fasta"), str(tmp_path / "x" / "PF1.sto")])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["x/PF1.sto", "x/PF2.a3m.gz", "y/PF1.fasta"]
    assert job_names(found) == ["PF1", "PF2", "PF1_2"]
    with pytest.raises(UserError, match="matches no files"):
        discover([str(tmp_path / "*.a3m")])
    with pytest.raises(UserError, match="no such file or folder"):
        discover([str(tmp_path / "missing.a3m")])
    with pytest.raises(UserError, match="no alignment files in this folder"):
        (tmp_path / "empty").mkdir()
        discover([str(tmp_path / "empty")])


def test_the_table_aligns_columns_and_marks_missing_values():
    rows = [{"name": "fam1", "length": 71, "depth": 79, "mean_plddt": 84.123, "ptm": 0.71, "iptm": None,
             "worker_s": 12.0, "status": "COMPLETED"},
            {"name": "broken", "length": None, "depth": None, "mean_plddt": None, "ptm": None, "iptm": None,
             "worker_s": None, "status": "INVALID"}]
    lines = format_table(rows).splitlines()
    assert lines[1].split() == ["fam1", "71", "79", "84.12", "0.71", "-", "12.00", "COMPLETED"]
    assert lines[2].split() == ["broken", "-", "-", "-", "-", "-", "-", "INVALID"]
    assert len({line.index("status") if i == 0 else None for i, line in enumerate(lines)} - {None}) == 1
    assert lines[1].index("COMPLETED") == lines[0].index("status")


def test_a_batch_submission_that_may_have_arrived_counts_as_an_attempt(testdata, tmp_path):
    from endpoint_emulator import EndpointEmulator, Reply
    from test_remote import COMPLETED

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "one.a3m").write_bytes((testdata / "colabfold" / "6A5J.a3m").read_bytes())
    out = tmp_path / "out"
    with EndpointEmulator() as emulator:
        emulator.status_replies = [COMPLETED]
        emulator.run_replies = [Reply(drop=True)]

        def batch(retries: str) -> subprocess.CompletedProcess:
            return run_launcher("--msa", str(folder), "--output-dir", str(out), "--endpointId", "ep1", "--api-url",
                                emulator.url, "--api-key", "k", "--poll-interval", "0.05", "--max-retries", retries,
                                timeout=60)

        first = batch("0")
        entry = _manifest(out)["entries"][0]
        assert first.returncode == 3 and entry["status"] == "MAYBE_SUBMITTED" and entry["attempts"] == 1
        assert "the endpoint may have accepted the job; run again to resubmit" in first.stderr
        assert len(emulator.paths("POST")) == 1
        no_attempts_left = batch("0")
        assert no_attempts_left.returncode == 3 and len(emulator.paths("POST")) == 1
        assert _manifest(out)["entries"][0]["status"] == "FAILED"
        resubmitted = batch("1")
    assert resubmitted.returncode == 0, resubmitted.stderr
    assert len(emulator.paths("POST")) == 2 and (out / "one" / "ranked_0.pdb").is_file()
    assert _manifest(out)["entries"][0]["attempts"] == 2


def test_an_endpoint_cannot_make_a_batch_write_outside_its_folder(testdata, tmp_path):
    from endpoint_emulator import EndpointEmulator, Reply
    from test_remote import COMPLETED

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "one.a3m").write_bytes((testdata / "colabfold" / "6A5J.a3m").read_bytes())
    escape = tmp_path / "escaped"
    hostile = {**COMPLETED.body, "output": {**COMPLETED.body["output"], "structure_format": f"/../../../{escape.name}"}}
    with EndpointEmulator() as emulator:
        emulator.status_replies = [Reply(200, hostile)]
        completed = run_launcher("--msa", str(folder), "--output-dir", str(tmp_path / "a" / "out"), "--endpointId",
                                 "ep1", "--api-url", emulator.url, "--api-key", "k", "--poll-interval", "0.05",
                                 timeout=60)
    assert completed.returncode == 3 and "Traceback" not in completed.stderr
    assert "output.structure_format: expected one of ['pdb', 'cif']" in completed.stderr
    assert not list(tmp_path.glob("**/*escaped*"))


def _one_alignment_batch(testdata: Path, tmp_path: Path, emulator, file_name: str = "one.a3m",
                         *extra: str) -> subprocess.CompletedProcess:
    folder = tmp_path / "in"
    folder.mkdir(exist_ok=True)
    (folder / file_name).write_bytes((testdata / "colabfold" / "6A5J.a3m").read_bytes())
    pattern = str(folder / file_name).removesuffix("a3m") + "a3[m]"  # a glob: a batch, of one alignment
    return run_launcher("--msa", pattern, "--output-dir", str(tmp_path / "out"), "--endpointId",
                        "ep1", "--api-url", emulator.url, "--api-key", "k", "--poll-interval", "0.05", *extra,
                        timeout=60)


def test_a_job_the_endpoint_no_longer_knows_is_submitted_again(testdata, tmp_path):
    from endpoint_emulator import EndpointEmulator, Reply
    from test_remote import COMPLETED

    with EndpointEmulator() as emulator:
        emulator.status_replies = [Reply(404, {"error": "job not found"}), COMPLETED]
        completed = _one_alignment_batch(testdata, tmp_path, emulator)
    assert completed.returncode == EXIT_OK, completed.stderr
    assert "one: job job-123 LOST: the endpoint no longer knows this job" in completed.stderr
    assert "1 alignment, one job" in completed.stderr
    entry = _manifest(tmp_path / "out")["entries"][0]
    assert entry["status"] == "COMPLETED" and entry["attempts"] == 2 and len(emulator.paths("POST")) == 2


def test_an_unknown_endpoint_stops_the_batch_with_the_attempt_given_back(testdata, tmp_path):
    from endpoint_emulator import EndpointEmulator

    with EndpointEmulator(endpoint="other") as emulator:
        completed = _one_alignment_batch(testdata, tmp_path, emulator)
    assert completed.returncode == EXIT_REMOTE_FAILED, completed.stderr
    assert "error: not found (HTTP 404) at " in completed.stderr and "Traceback" not in completed.stderr
    entry = _manifest(tmp_path / "out")["entries"][0]
    assert entry["status"] == "PENDING" and entry["attempts"] == 0


def test_a_second_launcher_on_the_same_folder_is_refused(testdata, tmp_path):
    from endpoint_emulator import EndpointEmulator
    from test_remote import COMPLETED

    from alphafold_msa.launcher.batch import lock_folder

    (tmp_path / "out").mkdir()
    held = lock_folder(tmp_path / "out")  # as a running launcher holds it
    with EndpointEmulator() as emulator:
        emulator.status_replies = [COMPLETED]
        refused = _one_alignment_batch(testdata, tmp_path, emulator)
        held.close()
        allowed = _one_alignment_batch(testdata, tmp_path, emulator)
    assert refused.returncode == 2 and "is in use by another launcher" in refused.stderr
    assert allowed.returncode == 0, allowed.stderr
    assert len(emulator.paths("POST")) == 1


@pytest.mark.parametrize("damage", ["", '{"settings": {"models": [1', '[1, 2]', '{"settings": {}, "entries": [5]}',
                                    '{"settings": {}, "entries": [{"name": 5, "path": "x", "sha256": "y"}]}'])
def test_a_damaged_manifest_is_a_clear_error(testdata, tmp_path, damage):
    from endpoint_emulator import EndpointEmulator

    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "manifest.json").write_text(damage)
    with EndpointEmulator() as emulator:
        completed = _one_alignment_batch(testdata, tmp_path, emulator)
    assert completed.returncode == 2 and "Traceback" not in completed.stderr
    assert f"{tmp_path / 'out' / 'manifest.json'} is damaged" in completed.stderr
    assert "move it away and run again" in completed.stderr and emulator.requests == []


def test_job_names_never_leave_the_output_folder(testdata, tmp_path):
    from endpoint_emulator import EndpointEmulator
    from test_remote import COMPLETED

    odd = [Path("...a3m"), Path("..a3m"), Path(".hidden.a3m"), Path("manifest.json.a3m"), Path("a b\\..\\c.a3m"),
           Path("Fam.a3m"), Path("fam.a3m"), Path("report-viewer.js.a3m"), Path("screen.tsv.a3m")]
    names = job_names(odd)
    assert names == ["alignment", "alignment_2", "hidden", "manifest.json_", "a_b_.._c", "Fam", "fam_2",
                     "report-viewer.js_", "screen.tsv_"], "never the batch folder's own files"
    out = (tmp_path / "out").resolve()
    assert all((out / name).resolve().parent == out for name in names)
    with EndpointEmulator() as emulator:
        emulator.status_replies = [COMPLETED]
        completed = _one_alignment_batch(testdata, tmp_path, emulator, "...a3m")
    assert completed.returncode == 0, completed.stderr
    assert (out / "alignment" / "ranked_0.pdb").is_file() and not (tmp_path / "ranked_0.pdb").exists()


def test_a_batch_records_its_pairing_and_pair_keys_and_refuses_to_resume_with_others(testdata, tmp_path):
    from alphafold_msa.launcher.batch import Manifest, batch_settings, settings_of
    from alphafold_msa.launcher.cli import build_parser
    from alphafold_msa.launcher.options import LaunchOptions

    keys = tmp_path / "keys.tsv"
    keys.write_text("HBA_HUMAN\tpartner\n")
    paths = [testdata / "colabfold" / "6A5J.a3m"]

    def settings(*flags: str) -> dict:
        options = LaunchOptions.from_namespace(build_parser().parse_args(
            ["--msa", str(paths[0]), "--output-dir", str(tmp_path / "out"), *flags]))
        return settings_of(batch_settings(options.job_spec(), options))

    first = settings("--pairing", "species", "--pair-keys", str(keys))
    assert first["pairing"] == "species" and first["pair_keys"]["file"] == "keys.tsv"
    (tmp_path / "out").mkdir()
    Manifest.open(tmp_path / "out", first, paths).save()
    keys.write_text("HBA_HUMAN\tsomeone-else\n")
    for changed, named in ((settings("--pairing", "species", "--pair-keys", str(keys)), "pair_keys"),
                           (settings("--pairing", "none"), "pair_keys, pairing")):
        with pytest.raises(UserError, match=rf"belongs to a batch run with other settings \({named}\)"):
            Manifest.open(tmp_path / "out", changed, paths)
