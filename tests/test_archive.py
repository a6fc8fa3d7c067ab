"""The results archive (alphafold_msa/protocol/archive.py): a job's folder packed and unpacked with its
SHA-256, within caps, refusing every entry that is not a plain file with a plain name; where a worker
keeps it in its bucket. Real files and real tar.gz archives."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest
from conftest import tar_gz

from alphafold_msa.protocol.archive import ArchiveError, key_safe_id, pack, results_prefix, sha256, unpack


def _tar_gz_entries(*entries: tarfile.TarInfo) -> bytes:
    """A .tar.gz of `entries` as given (links, folders, devices...), each regular file holding b"x" * size."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for entry in entries:
            tar.addfile(entry, io.BytesIO(b"x" * entry.size) if entry.isfile() else None)
    return buffer.getvalue()


def _entry(name: str, kind: bytes = tarfile.REGTYPE, size: int = 0, target: str = "") -> tarfile.TarInfo:
    entry = tarfile.TarInfo(name)
    entry.type, entry.size, entry.linkname = kind, size, target
    return entry


def test_a_folder_packs_and_unpacks_to_the_same_files(tmp_path):
    job = tmp_path / "job"
    (job / "plots").mkdir(parents=True)
    files = {"ranked_0.pdb": b"MODEL 1\nEND\n", "scores_rank_0.json": b'{"ptm": 0.5}', "plddt.png": bytes(range(256)),
             "empty.txt": b""}
    for name, data in files.items():
        (job / name).write_bytes(data)
    (job / "plots" / "pae.png").write_bytes(b"in a subfolder: not packed")
    data = pack(job)
    assert sha256(data) == hashlib.sha256(data).hexdigest()
    written = unpack(data, tmp_path / "copy", expected_sha256=sha256(data))
    assert [path.name for path in written] == sorted(files), "the folder's files by name, nothing else"
    assert {path.name: path.read_bytes() for path in written} == files
    assert all(path.parent == tmp_path / "copy" for path in written)


def test_a_checksum_mismatch_is_refused_before_anything_is_written(tmp_path):
    data = tar_gz({"summary.txt": b"query: q\n"})
    wrong = "0" * 64
    with pytest.raises(ArchiveError, match=f"SHA-256 is {sha256(data)}, not the {wrong} the worker reported"):
        unpack(data, tmp_path / "dest", expected_sha256=wrong)
    assert not (tmp_path / "dest").exists()


@pytest.mark.parametrize("data", [b"", b"\x1f\x8b\x08 damaged", tar_gz({"a.txt": b"1" * 5000})[:-40]],
                         ids=["empty", "damaged-gzip", "truncated"])
def test_an_unreadable_archive_leaves_no_folder(tmp_path, data):
    with pytest.raises(ArchiveError, match="the results archive cannot be read"):
        unpack(data, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def test_results_archives_are_unpacked_within_a_size_and_count_cap(tmp_path, monkeypatch):
    data = tar_gz({name: b"x" * 1000 for name in ("a.txt", "b.txt", "c.txt")})
    assert len(unpack(data, tmp_path / "exact", max_bytes=3000, max_members=3)) == 3
    with pytest.raises(ArchiveError, match=r"2,999 bytes unpacked \(limit: ALPHAFOLD_MSA_MAX_RESULT_BYTES\)"):
        unpack(data, tmp_path / "big", max_bytes=2999)
    with pytest.raises(ArchiveError, match="more than 2 files"):
        unpack(data, tmp_path / "many", max_bytes=10_000, max_members=2)
    monkeypatch.setenv("ALPHAFOLD_MSA_MAX_RESULT_BYTES", "1500")
    with pytest.raises(ArchiveError, match="1,500 bytes"):
        unpack(data, tmp_path / "env")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exact"], "a refused archive leaves no folder behind"


@pytest.mark.parametrize("entry", [
    _entry("plots", tarfile.DIRTYPE),
    _entry("plots/pae.png", size=1),
    _entry("/etc/cron.d/job", size=1),
    _entry(".alphafold-msa-files.json", size=1),
    _entry("link.pdb", tarfile.SYMTYPE, target="/etc/passwd"),
    _entry("hard.pdb", tarfile.LNKTYPE, target="ranked_0.pdb"),
    _entry("fifo", tarfile.FIFOTYPE),
    _entry("null", tarfile.CHRTYPE),
    _entry("x" * 129, size=1),
    _entry("résumé.txt", size=1),
], ids=["folder", "nested", "absolute", "dot-file", "symlink", "hardlink", "fifo", "device", "long", "unicode"])
def test_only_plain_files_with_plain_names_are_unpacked(tmp_path, entry):
    data = _tar_gz_entries(_entry("ranked_0.pdb", size=3), entry)
    with pytest.raises(ArchiveError, match="the results archive holds an unexpected entry"):
        unpack(data, tmp_path / "dest")
    assert not (tmp_path / "dest").exists(), "the file written before the bad entry goes with its folder"


def test_names_that_differ_only_in_case_are_one_name(tmp_path):
    data = tar_gz({"Summary.txt": b"first", "ranked_0.pdb": b"MODEL", "summary.TXT": b"second"})
    with pytest.raises(ArchiveError, match="two entries named 'summary.TXT'"):
        unpack(data, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


@pytest.mark.parametrize("job_id, safe", [
    ("job-1", "job-1"),
    ("sync-3f9e2c1a-9b7d_u1", "sync-3f9e2c1a-9b7d_u1"),
    ("a.b:c", "a_b_c"),
    ("../../config", "______config"),
    ("job 1/\n", "job_1__"),
    ("é", "_"),
    ("x" * 80, "x" * 64),
])
def test_job_ids_become_safe_key_segments(job_id, safe):
    assert key_safe_id(job_id) == safe
    assert results_prefix(job_id) == f"alphafold-msa/{safe}/"
    assert Path(results_prefix(job_id)).parts == ("alphafold-msa", safe), "one folder, never a way out of it"
