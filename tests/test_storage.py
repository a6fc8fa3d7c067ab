"""Large results and inputs through an S3 bucket: a real S3 server (moto's) on 127.0.0.1, the real worker."""

from __future__ import annotations

import gzip
import hashlib
import json
import time

import pytest
from batch_endpoint import BatchEndpoint
from conftest import LOCAL_API, free_port, run_launcher, tar_gz

from alphafold_msa.errors import EXIT_TRANSFER_FAILED
from alphafold_msa.launcher.result_files import ResultOrigin, receive_files
from alphafold_msa.protocol.archive import ArchiveError, pack, unpack
from alphafold_msa.transfer.bucket import Bucket, ExpiredLinkError, StorageError, download_link
from alphafold_msa.worker import handler as worker
from alphafold_msa.worker.handler import handle_job

BUCKET_VARIABLES = ("BUCKET_ENDPOINT_URL", "BUCKET_ACCESS_KEY_ID", "BUCKET_SECRET_ACCESS_KEY", "BUCKET_NAME")


@pytest.fixture(scope="module")
def s3_server():
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {"BUCKET_ENDPOINT_URL": f"http://127.0.0.1:{port}", "BUCKET_ACCESS_KEY_ID": "test-key",
           "BUCKET_SECRET_ACCESS_KEY": "test-secret", "BUCKET_NAME": "results"}
    bucket = Bucket(env["BUCKET_ENDPOINT_URL"], env["BUCKET_ACCESS_KEY_ID"], env["BUCKET_SECRET_ACCESS_KEY"], "results")
    bucket.client().create_bucket(Bucket="results")
    yield env
    server.stop()


@pytest.fixture
def bucket_env(s3_server, monkeypatch) -> Bucket:
    for key, value in s3_server.items():
        monkeypatch.setenv(key, value)
    return Bucket.from_env()


@pytest.fixture
def no_bucket(monkeypatch):
    for key in BUCKET_VARIABLES:
        monkeypatch.delenv(key, raising=False)


def _job(msa_text: str, **fields) -> dict:
    return {"id": "job-s3", "input": {"msa": msa_text, "models": [1], "num_recycle": 0, "files": True, **fields}}


def test_results_over_the_inline_limit_arrive_through_the_bucket_intact(testdata, worker_env, bucket_env,
                                                                        monkeypatch, tmp_path):
    monkeypatch.setattr(worker, "INLINE_ARCHIVE_BYTES", 10_000)
    result = handle_job(_job((testdata / "pfam" / "RRM_1.sto").read_text()))
    assert "error" not in result, result
    files = result["files"]
    assert "data" not in files and files["key"] == "s3://results/alphafold-msa/job-s3/results.tar.gz"
    stored = bucket_env.get("alphafold-msa/job-s3/results.tar.gz", 10**8)
    assert hashlib.sha256(stored).hexdigest() == files["sha256"] and len(stored) == files["bytes"]
    written = {p.name for p in receive_files(files, tmp_path / "fetched", ResultOrigin("job-s3", LOCAL_API))}
    assert {"ranked_0.pdb", "scores_rank_0.json", "ranking.json", "timings.json", "plddt.png", "pae.png",
            "coverage.png", "summary.json", "summary.txt"} <= written
    assert (tmp_path / "fetched" / "ranked_0.pdb").read_text() == result["structure"]
    assert list((tmp_path / "work").iterdir()) == [], "the job folder is removed once the result is stored"

    with pytest.raises(StorageError, match="damaged or was replaced"):
        receive_files({**files, "sha256": "0" * 64}, tmp_path / "tampered", ResultOrigin("job-s3", LOCAL_API))


def test_small_results_travel_inline(small_msa, worker_env, no_bucket, tmp_path):
    result = handle_job(_job(small_msa))
    assert "error" not in result, result
    assert "url" not in result["files"] and result["files"]["bytes"] < worker.INLINE_ARCHIVE_BYTES
    written = {p.name for p in receive_files(result["files"], tmp_path / "inline", ResultOrigin("job-s3", LOCAL_API))}
    assert {"ranked_0.pdb", "plddt.png", "coverage.png", "summary.txt"} <= written


def test_an_expired_link_is_fetched_with_the_bucket_credentials_or_named(bucket_env, monkeypatch, tmp_path):
    archive_dir = tmp_path / "files"
    archive_dir.mkdir()
    (archive_dir / "summary.txt").write_text("query: q\n")
    data = pack(archive_dir)
    url = bucket_env.upload("alphafold-msa/old/results.tar.gz", data, expires_s=1)
    assert download_link(url, 10**6, loopback=True) == data
    time.sleep(1.5)
    with pytest.raises(ExpiredLinkError, match="the download link expired at"):
        download_link(url, 10**6, loopback=True)
    files = {"url": url, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
             "key": "s3://results/alphafold-msa/old/results.tar.gz"}
    origin = ResultOrigin("old", LOCAL_API)
    assert [p.name for p in receive_files(files, tmp_path / "via-credentials", origin)] == ["summary.txt"]
    for key in BUCKET_VARIABLES:
        monkeypatch.delenv(key)
    with pytest.raises(StorageError, match="still in the bucket as s3://results/alphafold-msa/old/results.tar.gz"):
        receive_files(files, tmp_path / "no-credentials", origin)


def test_without_a_bucket_a_job_with_large_results_fails_before_computing(no_bucket, monkeypatch, tmp_path):
    monkeypatch.setenv("PARAM_DIR", str(tmp_path / "no-weights-here"))
    monkeypatch.setenv("WORKDIR", str(tmp_path / "work"))
    query = "ACDEFGHIKLMNPQRSTVWY" * 40  # 800 residues, five models
    result = handle_job({"id": "big", "input": {"msa": f">q\n{query}\n", "files": True}})
    assert result["error"].startswith("the result files of this job (800 residues, 5 model(s) kept) would be about ")
    assert "set BUCKET_ENDPOINT_URL, BUCKET_ACCESS_KEY_ID, BUCKET_SECRET_ACCESS_KEY and BUCKET_NAME" in result["error"]


def test_af_cluster_s_saved_samples_count_in_the_estimate_before_computing(testdata, no_bucket, monkeypatch,
                                                                            tmp_path):
    """Every cluster's and control's sample, saved with save_all, is counted once the alignment is clustered,
    before any weights are read: 14 alignments x 1 model (19 structures with the 5 kept) do not fit where 6 would."""
    monkeypatch.setenv("PARAM_DIR", str(tmp_path / "no-weights-here"))
    monkeypatch.setenv("WORKDIR", str(tmp_path / "work"))
    monkeypatch.setattr(worker, "INLINE_ARCHIVE_BYTES", 700_000)
    job = {"msa": (testdata / "pfam" / "fn3.sto").read_text(), "models": [1], "save_all": True, "files": True}
    one = handle_job({"id": "one", "input": job})
    assert "weights missing" in one["error"], "one alignment's samples fit: the job goes on to the weights"
    clustered = handle_job({"id": "clustered", "input": {**job, "msa_clusters": True}})
    assert clustered["error"].startswith("the result files of this job (86 residues, 5 model(s) kept, 19 "
                                         "structures) would be about ")


def test_when_the_estimate_falls_short_the_top_model_still_comes_back(small_msa, worker_env, no_bucket, monkeypatch):
    from alphafold_msa.protocol import schema as jobs

    monkeypatch.setattr(worker, "INLINE_ARCHIVE_BYTES", 10_000)
    for constant in ("_ARCHIVE_FIXED_BYTES", "_ARCHIVE_PAE_BYTES_PER_PAIR", "_ARCHIVE_STRUCTURE_BYTES_PER_RESIDUE"):
        monkeypatch.setattr(jobs, constant, 0)  # an estimate that misses: the archive turns out too large
    result = handle_job(_job(small_msa))
    assert "files" not in result and result["structure"].startswith("MODEL")
    assert "over the 0 MB a result can carry, and no bucket is configured" in result["files_error"]


def test_an_unreachable_bucket_still_returns_the_top_model(small_msa, worker_env, monkeypatch):
    for key, value in {"BUCKET_ENDPOINT_URL": "http://127.0.0.1:9", "BUCKET_ACCESS_KEY_ID": "k",
                       "BUCKET_SECRET_ACCESS_KEY": "s", "BUCKET_NAME": "results"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(worker, "INLINE_ARCHIVE_BYTES", 10_000)
    result = handle_job(_job(small_msa))
    assert result["structure"].startswith("MODEL") and "files" not in result
    assert result["files_error"].startswith("cannot upload to bucket 'results' at http://127.0.0.1:9")


def test_an_alignment_in_the_bucket_is_fetched_by_msa_url(testdata, worker_env, bucket_env):
    text = (testdata / "pfam" / "RRM_1.sto").read_bytes()
    bucket_env.client().put_object(Bucket="results", Key="alphafold-msa/inputs/rrm.sto.gz", Body=gzip.compress(text))
    result = handle_job({"id": "by-url", "input": {"msa_url": "s3://results/alphafold-msa/inputs/rrm.sto.gz",
                                                   "models": [1], "num_recycle": 0}})
    assert "error" not in result, result
    assert result["msa"]["query_length"] == 71 and result["msa"]["num_sequences"] == 79


@pytest.mark.parametrize("url, message", [
    ("http://example.org/family.a3m", "msa_url must be an https URL or in the worker's bucket"),
    ("https://127.0.0.1/family.a3m", "resolves to the non-public address 127.0.0.1"),
    ("https://169.254.169.254/latest/meta-data", "resolves to the non-public address 169.254.169.254"),
    ("https://10.0.0.8/family.a3m", "resolves to the non-public address 10.0.0.8"),
    ("s3://someone-elses/family.a3m", "is not in the worker's bucket 'results'"),
])
def test_msa_urls_outside_the_bucket_must_be_public_https(url, message, bucket_env, monkeypatch, tmp_path):
    monkeypatch.setenv("WORKDIR", str(tmp_path / "work"))
    result = handle_job({"id": "url", "input": {"msa_url": url}})
    assert message in result["error"]


def test_an_msa_url_over_the_size_limit_is_refused(bucket_env, monkeypatch, tmp_path):
    monkeypatch.setenv("WORKDIR", str(tmp_path / "work"))
    monkeypatch.setenv("ALPHAFOLD_MSA_URL_MAX_BYTES", "100")
    bucket_env.client().put_object(Bucket="results", Key="alphafold-msa/inputs/big.a3m",
                                   Body=b">q\n" + b"A" * 500 + b"\n")
    result = handle_job({"id": "big-url", "input": {"msa_url": "s3://results/alphafold-msa/inputs/big.a3m"}})
    assert result["error"] == "s3://results/alphafold-msa/inputs/big.a3m is 504 bytes, over the 100-byte limit"


@pytest.mark.parametrize("key", ["config/worker.env", "alphafold-msa/job-1/results.tar.gz",
                                 "alphafold-msa/inputs/../../config/worker.env"])
def test_msa_url_reads_only_the_input_prefix_of_the_bucket(bucket_env, monkeypatch, tmp_path, key):
    monkeypatch.setenv("WORKDIR", str(tmp_path / "work"))
    bucket_env.client().put_object(Bucket="results", Key="config/worker.env", Body=b"SECRET_TOKEN=hunter2\n")
    for url in (f"s3://results/{key}", f"{bucket_env.endpoint_url}/results/{key}"):
        result = handle_job({"id": "prefix", "input": {"msa_url": url}})
        assert set(result) == {"error"} and "hunter2" not in result["error"], result
        assert ("only objects under s3://results/alphafold-msa/inputs/" in result["error"]
                or "'..' segments" in result["error"]), result


def test_any_key_when_allowed_and_fetched_bytes_are_never_echoed(bucket_env, monkeypatch, tmp_path):
    monkeypatch.setenv("WORKDIR", str(tmp_path / "work"))
    monkeypatch.setenv("ALPHAFOLD_MSA_URL_ANY_KEY", "1")
    bucket_env.client().put_object(Bucket="results", Key="config/worker.env", Body=b"SECRET_TOKEN=hunter2\n")
    bucket_env.client().put_object(Bucket="results", Key="config/page.html", Body=b"<html>hunter2</html>\n")
    bucket_env.client().put_object(Bucket="results", Key="config/rows.a3m", Body=b">q\nMKVLA\n>hunter2\nMK?LA\n")
    for name in ("worker.env", "page.html", "rows.a3m"):
        result = handle_job({"id": "echo", "input": {"msa_url": f"s3://results/config/{name}"}})
        assert result["error"].startswith("input.msa_url: the fetched file is not an alignment the worker can read")
        assert "hunter2" not in result["error"] and "SECRET" not in result["error"], result


def test_the_launcher_downloads_large_results_from_the_bucket(testdata, worker_env, bucket_env, monkeypatch,
                                                              tmp_path):
    monkeypatch.setattr(worker, "INLINE_ARCHIVE_BYTES", 10_000)
    output = tmp_path / "rrm.pdb"
    with BatchEndpoint(handle_job) as endpoint:
        completed = run_launcher("--msa", str(testdata / "pfam" / "RRM_1.sto"), "--output", str(output),
                                 "--output-dir", str(tmp_path / "all"), "--endpointId", "ep1",
                                 "--api-url", endpoint.url, "--api-key", "k", "--models", "1", "--num-recycle", "0",
                                 "--format", "pdb,cif", "--poll-interval", "0.2")
    assert completed.returncode == 0, completed.stderr
    assert {p.name for p in (tmp_path / "all").iterdir()} >= {"ranked_0.pdb", "ranked_0.cif", "plddt.png",
                                                               "summary.json"}
    for name in ("rrm_plddt.png", "rrm_pae.png", "rrm_coverage.png", "rrm.summary.txt", "rrm.summary.json"):
        assert (tmp_path / name).is_file(), name
    assert output.read_text() == (tmp_path / "all" / "ranked_0.pdb").read_text()
    summary = json.loads((tmp_path / "rrm.summary.json").read_text())
    assert summary["query_length"] == 71 and summary["models"][0]["model"] == "model_1_ptm"


def test_an_archive_cannot_write_outside_its_folder(tmp_path):
    with pytest.raises(ArchiveError, match="unexpected entry '../escaped.txt'"):
        unpack(tar_gz({"../escaped.txt": b"hi"}), tmp_path / "dest")
    assert not (tmp_path / "escaped.txt").exists()
    with pytest.raises(ArchiveError, match="cannot be read"):
        unpack(b"\x1f\x8b not really gzip", tmp_path / "dest")


def test_bucket_errors_never_show_credentials_from_the_endpoint():
    """botocore quotes the endpoint URL in its messages: its user name and password are redacted."""
    bucket = Bucket("http://user:hunter2@127.0.0.1:9", "k", "s", "results")
    for attempt in (lambda: bucket.upload("alphafold-msa/j/results.tar.gz", b"data"),
                    lambda: bucket.get("alphafold-msa/inputs/a.a3m", 100)):
        with pytest.raises(StorageError) as caught:
            attempt()
        message = str(caught.value)
        assert "hunter2" not in message and "user" not in message and " http://127.0.0.1:9: " in message, message


EXPIRED_LINK = "http://127.0.0.1:9/results.tar.gz?X-Amz-Date=20200101T000000Z&X-Amz-Expires=60"


def _store_results(bucket: Bucket, key: str, text: str) -> str:
    """A results archive holding summary.txt = `text` under `key`; its SHA-256."""
    data = tar_gz({"summary.txt": text.encode()})
    bucket.client().put_object(Bucket="results", Key=key, Body=data)
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("key", [
    "s3://results/alphafold-msa/other-job/results.tar.gz", "s3://results/config/worker.env",
    "s3://results/alphafold-msa/job-1/../other-job/results.tar.gz", "s3://results/alphafold-msa/job-10/results.tar.gz",
    "alphafold-msa/job-1/results.tar.gz",
])
def test_after_a_link_expires_only_the_jobs_own_object_is_read(bucket_env, tmp_path, key):
    from alphafold_msa.protocol.output import OutputError

    sha = _store_results(bucket_env, "alphafold-msa/other-job/results.tar.gz", "someone else's job\n")
    origin = ResultOrigin("job-1", LOCAL_API)
    with pytest.raises(OutputError, match=f"output.files.key '{key}' is not job job-1's: only objects under "
                                          f"alphafold-msa/job-1/ are read"):
        receive_files({"url": EXPIRED_LINK, "sha256": sha, "key": key}, tmp_path / "got", origin)
    assert not (tmp_path / "got").exists()
    own = _store_results(bucket_env, "alphafold-msa/job-1/results.tar.gz", "mine\n")
    files = {"url": EXPIRED_LINK, "sha256": own, "key": "s3://results/alphafold-msa/job-1/results.tar.gz"}
    receive_files(files, tmp_path / "own", origin)
    assert (tmp_path / "own" / "summary.txt").read_text() == "mine\n"


@pytest.mark.parametrize("job_id", ["job-1", "a.b:c", "x" * 80, "sync-3f9e2c1a-9b7d-4c2e-8f1a-1234567890ab-u1"])
def test_the_launcher_looks_for_results_where_the_worker_puts_them(job_id):
    from alphafold_msa.protocol.archive import results_prefix

    assert results_prefix(job_id) == f"alphafold-msa/{worker.safe_job_id(job_id)}/"


@pytest.mark.parametrize("batch", [False, True], ids=["one job", "batch"])
def test_the_job_id_decides_which_object_an_expired_link_falls_back_to(s3_server, bucket_env, small_msa_path, tmp_path,
                                                                       batch):
    from endpoint_emulator import EndpointEmulator, Reply
    from test_remote import COMPLETED

    alignment = tmp_path / "in" / "one.a3m"
    alignment.parent.mkdir()
    alignment.write_bytes(small_msa_path.read_bytes())
    foreign = _store_results(bucket_env, "alphafold-msa/other-job/results.tar.gz", "someone else's job\n")
    own = _store_results(bucket_env, "alphafold-msa/job-123/results.tar.gz", "job-123's\n")
    where = ["--output-dir", str(tmp_path / "out")] if batch else ["--output", str(tmp_path / "x.pdb"),
                                                                   "--output-dir", str(tmp_path / "out")]
    runs = []
    with EndpointEmulator() as emulator:
        for sha, key in ((foreign, "other-job"), (own, "job-123")):
            files = {"url": EXPIRED_LINK, "sha256": sha, "key": f"s3://results/alphafold-msa/{key}/results.tar.gz"}
            emulator.status_replies = [Reply(200, {**COMPLETED.body, "output": {**COMPLETED.body["output"],
                                                                                "files": files}})]
            # the batch is its folder's one alignment
            runs.append(run_launcher("--msa", str(alignment.parent if batch else alignment), *where, "--endpointId",
                                     "ep1", "--api-url", emulator.url,
                                     "--api-key", "k", "--poll-interval", "0.05", env=s3_server, timeout=120))
    refused, fetched = runs
    assert refused.returncode == 3, refused.stderr
    assert ("output.files.key 's3://results/alphafold-msa/other-job/results.tar.gz' is not job job-123's"
            in refused.stderr)
    assert fetched.returncode == 0, fetched.stderr
    folder = tmp_path / "out" / ("one" if batch else "")
    assert (folder / "summary.txt").read_text() == "job-123's\n"


def test_an_expired_link_without_the_bucket_here_is_a_storage_failure(no_bucket, small_msa_path, tmp_path):
    """The structure the output carries is written; the exit code says storage failed, not the endpoint."""
    from endpoint_emulator import EndpointEmulator, Reply
    from test_remote import COMPLETED

    files = {"url": EXPIRED_LINK, "sha256": "0" * 64, "key": "s3://results/alphafold-msa/job-123/results.tar.gz"}
    with EndpointEmulator() as emulator:
        emulator.status_replies = [Reply(200, {**COMPLETED.body, "output": {**COMPLETED.body["output"],
                                                                            "files": files}})]
        completed = run_launcher("--msa", str(small_msa_path), "--output", str(tmp_path / "x.pdb"), "--endpointId",
                                 "ep1", "--api-url", emulator.url, "--api-key", "k", "--poll-interval", "0.05",
                                 timeout=120)
    assert completed.returncode == EXIT_TRANSFER_FAILED, completed.stderr
    assert "still in the bucket as s3://results/alphafold-msa/job-123/results.tar.gz" in completed.stderr
    assert (tmp_path / "x.pdb").read_text() == COMPLETED.body["output"]["structure"]
