"""launch.py against an endpoint that misbehaves on purpose: answers trickled past the deadline, results
that would replace the user's files, links and bucket keys that point elsewhere, text with terminal
escapes. Real servers on 127.0.0.1 only (the endpoint emulator, a listener that counts connections)."""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import threading
import time

import pytest
from conftest import LOCAL_API, run_launcher, tar_gz
from endpoint_emulator import EndpointEmulator, Reply
from test_remote import COMPLETED

from alphafold_msa.launcher import client as client_module
from alphafold_msa.launcher.batch import Entry, write_tables
from alphafold_msa.launcher.client import DeadlineExceeded, EndpointClient
from alphafold_msa.launcher.result_files import ResultOrigin, receive_files
from alphafold_msa.protocol.archive import ArchiveError, unpack
from alphafold_msa.transfer.bucket import StorageError, download_link

PADDING = " " * 60  # JSON allows trailing whitespace: a trickled answer that takes 30 s at 0.5 s a byte


def launch(emulator: EndpointEmulator, msa, output, *extra: str):
    return run_launcher("--msa", str(msa), "--output", str(output), "--endpointId", "ep1", "--api-url", emulator.url,
                        "--api-key", "k", "--poll-interval", "0.05", *extra, timeout=120)


def trickled(body: dict, headers_too: bool = False) -> Reply:
    return Reply(200, raw=(json.dumps(body) + PADDING).encode(), trickle_s=0.5, trickle_headers=headers_too)


@pytest.mark.parametrize("headers_too", [False, True], ids=["body", "headers"])
def test_a_trickled_status_answer_ends_at_the_timeout(small_msa_path, tmp_path, headers_too):
    with EndpointEmulator() as emulator:
        emulator.status_replies = [trickled({"id": "job-123", "status": "IN_QUEUE"}, headers_too)]
        started = time.monotonic()
        completed = launch(emulator, small_msa_path, tmp_path / "x.pdb", "--timeout", "2")
        elapsed = time.monotonic() - started
    assert completed.returncode == 4, completed.stderr
    assert "--resume job-123" in completed.stderr and elapsed < 20, elapsed


@pytest.mark.parametrize("headers_too", [False, True], ids=["body", "headers"])
def test_a_trickled_submission_answer_is_uncertain_and_never_repeated(small_msa_path, tmp_path, headers_too):
    with EndpointEmulator() as emulator:
        emulator.run_replies = [trickled({"id": "job-123", "status": "IN_QUEUE"}, headers_too)]
        started = time.monotonic()
        completed = launch(emulator, small_msa_path, tmp_path / "x.pdb", "--timeout", "2")
        elapsed = time.monotonic() - started
    assert completed.returncode == 3, completed.stderr
    assert "the endpoint may have accepted the job; run again to resubmit" in completed.stderr
    assert emulator.paths("POST") == ["/v2/ep1/run"] and elapsed < 20, elapsed
    assert "Traceback" not in completed.stderr


def test_a_trickled_batch_submission_ends_at_the_timeout(small_msa_path, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "one.a3m").write_bytes(small_msa_path.read_bytes())
    with EndpointEmulator() as emulator:
        emulator.run_replies = [trickled({"id": "job-123", "status": "IN_QUEUE"})]
        emulator.status_replies = [COMPLETED]
        started = time.monotonic()
        completed = run_launcher("--msa", str(folder), "--output-dir", str(tmp_path / "out"), "--endpointId", "ep1",
                                 "--api-url", emulator.url, "--api-key", "k", "--timeout", "2", "--max-retries", "0",
                                 timeout=120)
        elapsed = time.monotonic() - started
    assert completed.returncode == 3, completed.stderr
    assert "one: maybe_submitted" in completed.stderr and elapsed < 20, elapsed


def test_a_trickled_cancel_answer_ends_at_its_deadline(monkeypatch):
    monkeypatch.setattr(client_module, "CANCEL_WITHIN_S", 1.5)
    with EndpointEmulator() as emulator:
        emulator.cancel_replies = [trickled({"id": "job-123", "status": "CANCELLED"})]
        client = EndpointClient(emulator.url.replace("{endpointId}", "ep1"), "k")
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            client.cancel("job-123")
    assert time.monotonic() - started < 20


def test_a_results_download_whose_headers_trickle_ends_at_its_deadline(monkeypatch):
    monkeypatch.setenv("ALPHAFOLD_MSA_DOWNLOAD_DEADLINE_S", "1.5")
    with EndpointEmulator() as emulator:
        emulator.status_replies = [trickled({"archive": "not really"}, headers_too=True)]
        link = emulator.url.replace("{endpointId}", "ep1") + "/status/job-123"
        started = time.monotonic()
        with pytest.raises(StorageError, match="did not finish within its time limit"):
            download_link(link, 10**6, loopback=True)
    assert time.monotonic() - started < 20


def completed_with(members: dict[str, bytes] | None = None, **fields) -> Reply:
    """COMPLETED, its output carrying `members` as an inline results archive and `fields`."""
    output = {**COMPLETED.body["output"], **fields}
    if members is not None:
        data = tar_gz(members)
        output["files"] = {"sha256": hashlib.sha256(data).hexdigest(), "data": base64.b64encode(data).decode()}
    return Reply(200, {**COMPLETED.body, "output": output})


def test_results_never_replace_a_file_of_the_users_in_the_output_dir(small_msa_path, tmp_path):
    folder = tmp_path / "all"
    folder.mkdir()
    (folder / "notes.txt").write_text("my notes\n")
    with EndpointEmulator() as emulator:
        emulator.status_replies = [completed_with({"ranked_0.pdb": b"MODEL\n", "notes.txt": b"replaced\n"})]
        completed = launch(emulator, small_msa_path, tmp_path / "x.pdb", "--output-dir", str(folder))
    assert completed.returncode == 3, completed.stderr
    assert (folder / "notes.txt").read_text() == "my notes\n"
    last = completed.stderr.strip().splitlines()[-1]
    assert f"would replace {folder / 'notes.txt'}, which the launcher did not write" in last, last
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"], "nothing of the job's is moved in"
    assert (tmp_path / "x.pdb").read_text() == COMPLETED.body["output"]["structure"]


def test_a_rerun_replaces_the_launchers_own_files_and_keeps_the_users(small_msa_path, tmp_path):
    folder = tmp_path / "all"
    folder.mkdir()
    (folder / "family.sto").write_text("# STOCKHOLM 1.0\n//\n")
    with EndpointEmulator() as emulator:
        # pae.png: a file not every job has (the launcher cannot check for it before the job)
        emulator.status_replies = [completed_with({"ranked_0.pdb": b"first\n", "ranked_1.pdb": b"first\n",
                                                   "pae.png": b"first\n"})]
        first = launch(emulator, small_msa_path, tmp_path / "x.pdb", "--output-dir", str(folder))
        (folder / "pae.png").write_text("first, with my remarks\n")  # edited: the user's now
        emulator.status_replies = [completed_with({"ranked_0.pdb": b"second\n"})]
        second = launch(emulator, small_msa_path, tmp_path / "x.pdb", "--output-dir", str(folder))
        emulator.status_replies = [completed_with({"ranked_0.pdb": b"third\n", "pae.png": b"third\n"})]
        third = launch(emulator, small_msa_path, tmp_path / "x.pdb", "--output-dir", str(folder))
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert (folder / "ranked_0.pdb").read_text() == "second\n" and not (folder / "ranked_1.pdb").exists()
    assert (folder / "pae.png").read_text() == "first, with my remarks\n"
    assert (folder / "family.sto").read_text() == "# STOCKHOLM 1.0\n//\n"
    assert third.returncode == 3 and f"would replace {folder / 'pae.png'}" in third.stderr
    assert (folder / "ranked_0.pdb").read_text() == "second\n", "a refused output moves nothing in"


def test_only_the_jobs_own_files_make_the_scores_and_the_files_beside_the_structure(small_msa_path, tmp_path):
    folder = tmp_path / "all"
    folder.mkdir()
    # Files every job writes (ranking.json, summary.*, plddt.png) stop the command before it sends anything;
    # pae.png, which not every job has, is the user's as long as the job sends none.
    users = {"ranking.json": '{"order": ["mine"]}', "summary.json": '{"query_name": "mine", "note": "mine"}',
             "timings.json": '{"total_s": 1}', "summary.txt": "mine\n", "plddt.png": "mine"}
    for name, text in users.items():
        (folder / name).write_text(text)
    with EndpointEmulator() as emulator:
        refused = launch(emulator, small_msa_path, tmp_path / "x.pdb", "--output-dir", str(folder))
        assert refused.returncode == 2 and "the job's file ranking.json would replace" in refused.stderr
        assert emulator.requests == [], "nothing was sent"
    for name in users:
        (folder / name).unlink()
    users = {"pae.png": "mine"}
    (folder / "pae.png").write_text("mine")
    scores = {"model": "model_1_ptm", "mean_plddt": 80.0}
    with EndpointEmulator() as emulator:
        emulator.status_replies = [completed_with({"ranked_0.pdb": b"MODEL\n",
                                                   "scores_rank_0.json": json.dumps(scores).encode()})]
        completed = launch(emulator, small_msa_path, tmp_path / "x.pdb", "--output-dir", str(folder))
    assert completed.returncode == 0, completed.stderr
    assert json.loads((tmp_path / "x.scores.json").read_text()) == scores
    assert sorted(p.name for p in tmp_path.iterdir()) == ["all", "x.pdb", "x.scores.json"], "nothing of the user's"
    assert all((folder / name).read_text() == text for name, text in users.items())


def test_a_batch_job_folder_keeps_the_users_files(small_msa_path, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "one.a3m").write_bytes(small_msa_path.read_bytes())
    (tmp_path / "out" / "one").mkdir(parents=True)
    (tmp_path / "out" / "one" / "one.a3m").write_text("the user's copy\n")
    with EndpointEmulator() as emulator:
        emulator.status_replies = [completed_with({"ranked_0.pdb": b"MODEL\n", "one.a3m": b"replaced\n"})]
        completed = run_launcher("--msa", str(folder), "--output-dir", str(tmp_path / "out"), "--endpointId", "ep1",
                                 "--api-url", emulator.url, "--api-key", "k", "--poll-interval", "0.05", timeout=120)
    assert completed.returncode == 3, completed.stderr
    assert (tmp_path / "out" / "one" / "one.a3m").read_text() == "the user's copy\n"
    assert f"would replace {tmp_path / 'out' / 'one' / 'one.a3m'}" in completed.stderr


@pytest.mark.parametrize("members, message", [
    ({"a.txt": b"1", "a.txt ": b"2"}, "unexpected entry 'a.txt '"),
    ({"a.txt": b"1", "A.TXT": b"2"}, "two entries named 'A.TXT'"),
    ({"a.txt": b"1", "a.txt\x1b[2J": b"2"}, "unexpected entry"),
    ({"ok.txt": b"1", "-": b"2"}, "unexpected entry '-'"),
])
def test_an_archive_unpacks_into_a_new_folder_with_plain_distinct_names(tmp_path, members, message):
    with pytest.raises(ArchiveError, match=message):
        unpack(tar_gz(members), tmp_path / "new")
    assert not (tmp_path / "new").exists(), "a refused archive leaves no folder behind"
    (tmp_path / "existing").mkdir()
    with pytest.raises(ArchiveError, match="already exists: a results archive is unpacked into a new folder"):
        unpack(tar_gz({"a.txt": b"1"}), tmp_path / "existing")


class ConnectionRecorder:
    """A TCP listener on 127.0.0.1 that only counts the connections made to it."""

    def __init__(self):
        self.connections = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            connection.close()

    def __enter__(self) -> ConnectionRecorder:
        return self

    def __exit__(self, *exc) -> None:
        self.sock.close()


REMOTE_API = "https://api.runpod.ai/v2/ep1"  # never contacted: only its host decides what links may reach


@pytest.mark.parametrize("template, api, message", [
    ("https://127.0.0.1:{port}/r.tgz", REMOTE_API, "resolves to the non-public address 127.0.0.1"),
    ("https://[::1]:{port}/r.tgz", REMOTE_API, "resolves to the non-public address ::1"),
    ("http://127.0.0.1:{port}/r.tgz", REMOTE_API, "must be an https URL"),
    ("https://[::ffff:127.0.0.1]:{port}/r.tgz", LOCAL_API, "resolves to the non-public address ::ffff:127.0.0.1"),
    ("http://localhost:{port}/r.tgz", LOCAL_API, "must be an https URL"),
])
def test_a_results_link_to_a_private_address_is_never_fetched(tmp_path, template, api, message):
    with ConnectionRecorder() as recorder:
        files = {"url": template.format(port=recorder.port), "sha256": "0" * 64}
        with pytest.raises(StorageError, match=message):
            receive_files(files, tmp_path / "files", ResultOrigin("job-123", api))
        time.sleep(0.2)
        assert recorder.connections == 0


def test_a_results_link_whose_host_resolves_privately_is_refused_before_connecting(tmp_path, monkeypatch):
    def resolve(host, port, *args, **kwargs):
        assert host == "results.bucket.example", host
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("8.8.8.8", port)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.8", port))]

    def never(*args, **kwargs):
        raise AssertionError("no connection may be made")

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    monkeypatch.setattr(socket, "create_connection", never)
    monkeypatch.setattr("urllib3.util.connection.create_connection", never)
    files = {"url": "https://results.bucket.example/alphafold-msa/job-123/results.tar.gz", "sha256": "0" * 64}
    with pytest.raises(StorageError, match="results.bucket.example' resolves to the non-public address 10.0.0.8; "
                                           "results are downloaded only from public addresses"):
        receive_files(files, tmp_path / "files", ResultOrigin("job-123", REMOTE_API))


HOSTILE = "71\x1b[2J\tfake\ncolumn\r\x9b"


def test_endpoint_text_never_reaches_the_batch_table_raw(small_msa_path, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "one.a3m").write_bytes(small_msa_path.read_bytes())
    reply = completed_with(msa={"query_length": HOSTILE, "num_sequences": [HOSTILE]}, timings={"total_s": HOSTILE})
    reply.body["executionTime"] = HOSTILE
    with EndpointEmulator() as emulator:
        emulator.status_replies = [reply]
        completed = run_launcher("--msa", str(folder), "--output-dir", str(tmp_path / "out"), "--endpointId", "ep1",
                                 "--api-url", emulator.url, "--api-key", "k", "--poll-interval", "0.05", timeout=120)
    assert completed.returncode == 0, completed.stderr
    for text in (completed.stdout, completed.stderr, (tmp_path / "out" / "summary.tsv").read_text()):
        assert not any(c in text for c in "\x1b\r\x9b"), text
    rows = (tmp_path / "out" / "summary.tsv").read_text().splitlines()
    assert len(rows) == 2 and rows[1].split("\t") == ["one", "", "", "80.0", "0.5", "", "", "COMPLETED"]
    assert completed.stdout.splitlines()[1].split() == ["one", "-", "-", "80.00", "0.50", "-", "-", "COMPLETED"]


def test_table_cells_from_an_older_manifest_are_escaped(tmp_path):
    entry = Entry(name="one", path="one.a3m", sha256="0" * 64, status="COMPLETED", result={"length": HOSTILE})
    printed = write_tables(tmp_path, [entry])
    rows = (tmp_path / "summary.tsv").read_text().splitlines()
    assert len(rows) == 2 and len(rows[1].split("\t")) == 8
    assert rows[1].split("\t")[1] == "71\\x1b[2J\\tfake\\ncolumn\\r\\x9b"
    assert "\x1b" not in printed and len(printed.splitlines()) == 2


def test_odd_scores_and_statuses_from_the_endpoint_print_as_one_harmless_line(small_msa_path, tmp_path):
    scores = {"model": "model_1\x1b]0;owned\x07", "mean_plddt": "high", "relax": "fast", "msa": "x"}
    with EndpointEmulator() as emulator:
        emulator.status_replies = [
            Reply(200, {"id": "job-123", "status": "IN_QUEUE", "delayTime": "soon\x1b[2J"}),
            Reply(200, {"id": "job-123", "status": "IN_PROGRESS\x1b[31m"}),
            completed_with({"ranked_0.pdb": b"MODEL\n", "scores_rank_0.json": json.dumps(scores).encode()},
                           model=scores["model"], msa={"note": "unpaired\x1b[2J"})]
        completed = launch(emulator, small_msa_path, tmp_path / "x.pdb", "--output-dir", str(tmp_path / "all"))
    assert completed.returncode == 0, completed.stderr
    assert "Traceback" not in completed.stderr and "\x1b" not in completed.stderr and "\x07" not in completed.stderr
    assert "IN_PROGRESS\\x1b[31m" in completed.stderr
    last = completed.stderr.strip().splitlines()[-1]
    assert last.startswith(f"wrote {tmp_path / 'x.pdb'} (model_1\\x1b]0;owned") and "unpaired\\x1b[2J" in last
