"""A job's output folder as one flat .tar.gz and back, with its SHA-256, and where a worker keeps it in
its bucket (standard library only)."""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import shutil
import tarfile
import zlib
from pathlib import Path
from typing import Collection

from alphafold_msa import settings
from alphafold_msa.errors import RemoteError

MAX_MEMBERS = 10_000
# A member's name: one plain file name (no folders, no dot first, no spaces or control characters).
PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
RESULTS_KEY_PREFIX = "alphafold-msa/"
# Files every prediction's folder holds, whatever its models (tests/test_result_folder.py keeps this true):
# the launcher checks before a job that none would replace a file of the user's.
FIXED_RESULT_FILES = ("ranked_0.pdb", "scores_rank_0.json", "ranking.json", "timings.json", "summary.json",
                      "summary.txt", "plddt.png", "coverage.png", "config.json", "log.txt", "msa.a3m", "cite.bibtex",
                      "samples.tsv", "samples.json")
# A prediction's offline page (results/html_report.py; unless the job asks for none), and the viewer script the
# pages of a batch or screen share in the batch folder.
REPORT_FILE, VIEWER_FILE = "report.html", "report-viewer.js"
_NOT_IN_KEYS = re.compile(r"[^A-Za-z0-9_-]")


class ArchiveError(RemoteError):
    """A results archive is damaged, does not match its checksum, or holds unexpected entries."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pack(directory: Path, leave_out: Collection[str] = ()) -> bytes:
    """The regular files directly in `directory` whose names `unpack` accepts (PLAIN_NAME: no dot files, no
    links), but those named in `leave_out`, by name, as gzip-compressed tar bytes."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=6) as tar:
        for path in sorted(p for p in Path(directory).iterdir()
                           if p.is_file() and not p.is_symlink() and PLAIN_NAME.fullmatch(p.name)
                           and p.name not in leave_out):
            tar.add(path, arcname=path.name, recursive=False)
    return buffer.getvalue()


def key_safe_id(job_id: str) -> str:
    """A job id as it may appear in an object key, a path or a log line: letters, digits, '_' and '-'
    (anything else becomes '_'), at most 64 characters."""
    return _NOT_IN_KEYS.sub("_", job_id)[:64]


def results_prefix(job_id: str) -> str:
    """The folder of a worker's bucket that holds job `job_id`'s results archive: alphafold-msa/<id>/."""
    return f"{RESULTS_KEY_PREFIX}{key_safe_id(job_id)}/"


def unpack(data: bytes, destination: Path, expected_sha256: str | None = None, *, max_bytes: int | None = None,
           max_members: int = MAX_MEMBERS) -> list[Path]:
    """Write the archive's files into `destination`, a folder this creates (it must not exist); check
    the checksum first.

    Nothing is ever replaced: the folder is new, each file is created only if its name is free, and
    two members whose names differ only in case are refused. Only plain files with plain names
    (PLAIN_NAME) are accepted, so an archive cannot write outside `destination` or name a file with
    control characters; at most `max_members` of them and `max_bytes` (default
    $ALPHAFOLD_MSA_MAX_RESULT_BYTES, else 4 GB) in all, so a small archive cannot fill the disk. A
    damaged archive leaves no folder behind.
    """
    max_bytes = settings.result_max_bytes() if max_bytes is None else max_bytes
    if expected_sha256 is not None and sha256(data) != expected_sha256:
        raise ArchiveError(f"the results archive's SHA-256 is {sha256(data)}, not the {expected_sha256} "
                           f"the worker reported: the download is damaged")
    try:
        destination.mkdir(parents=True)
    except FileExistsError:
        raise ArchiveError(f"{destination} already exists: a results archive is unpacked into a new folder") from None
    try:
        return _extract_all(data, destination, max_bytes, max_members)
    except BaseException:
        shutil.rmtree(destination, ignore_errors=True)
        raise


def _extract_all(data: bytes, destination: Path, max_bytes: int, max_members: int) -> list[Path]:
    written: list[Path] = []
    names: set[str] = set()
    total = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for member in tar:
                _check_member(member, names)
                total += member.size
                if len(written) >= max_members:
                    raise ArchiveError(f"the results archive holds more than {max_members:,} files, the most a "
                                       "job's results have")
                if total > max_bytes:
                    raise ArchiveError(f"the results archive holds more than {max_bytes:,} bytes unpacked (limit: "
                                       f"{settings.MAX_RESULT_BYTES.name})")
                written.append(_extract(tar, member, destination))
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise ArchiveError(f"the results archive cannot be read ({error})") from None
    return written


def _check_member(member: tarfile.TarInfo, names: set[str]) -> None:
    """Refuse anything but a plain file with a plain name not seen before (in any case)."""
    if not member.isfile() or not PLAIN_NAME.fullmatch(member.name):
        raise ArchiveError(f"the results archive holds an unexpected entry '{member.name}'")
    if member.name.lower() in names:
        raise ArchiveError(f"the results archive holds two entries named '{member.name}'")
    names.add(member.name.lower())


def _extract(tar: tarfile.TarFile, member: tarfile.TarInfo, destination: Path) -> Path:
    """One member streamed to `destination` / its name, a file that must not exist yet (the folder is
    unpack's own, so no reader sees it before it is complete)."""
    target = destination / member.name
    source = tar.extractfile(member)
    assert source is not None, "a regular file (_check_member)"
    with source, open(target, "xb") as sink:
        shutil.copyfileobj(source, sink, 1 << 20)
    return target
