"""A job's output folder as one flat .tar.gz and back, with its SHA-256 (standard library only)."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import tarfile
import zlib
from pathlib import Path

from alphafold_msa import settings
from alphafold_msa.errors import UserError

MAX_MEMBERS = 10_000


class ArchiveError(UserError):
    """A results archive is damaged, does not match its checksum, or holds unexpected entries."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pack(directory: Path) -> bytes:
    """The regular files directly in `directory`, by name, as gzip-compressed tar bytes."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=6) as tar:
        for path in sorted(p for p in Path(directory).iterdir() if p.is_file()):
            tar.add(path, arcname=path.name, recursive=False)
    return buffer.getvalue()


def unpack(data: bytes, destination: Path, expected_sha256: str | None = None, *, max_bytes: int | None = None,
           max_members: int = MAX_MEMBERS) -> list[Path]:
    """Write the archive's files into `destination` (each atomically); check the checksum first.

    Only plain files with simple names are accepted, so an archive cannot write outside `destination`;
    at most `max_members` of them and `max_bytes` (default $ALPHAFOLD_MSA_MAX_RESULT_BYTES, else 4 GB)
    in all, so a small archive cannot fill the disk.
    """
    max_bytes = settings.result_max_bytes() if max_bytes is None else max_bytes
    if expected_sha256 is not None and sha256(data) != expected_sha256:
        raise ArchiveError(f"the results archive's SHA-256 is {sha256(data)}, not the {expected_sha256} "
                           f"the worker reported: the download is damaged")
    destination.mkdir(parents=True, exist_ok=True)
    written, total = [], 0
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for member in tar:
                _check_member(member)
                total += member.size
                if len(written) >= max_members or total > max_bytes:
                    raise ArchiveError(f"the results archive holds more than {max_members} files or "
                                       f"{max_bytes:,} bytes unpacked (limit: {settings.MAX_RESULT_BYTES.name})")
                written.append(_extract(tar, member, destination))
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise ArchiveError(f"the results archive cannot be read ({error})") from None
    return written


def _check_member(member: tarfile.TarInfo) -> None:
    name = member.name
    if not member.isfile() or "/" in name or "\\" in name or name.startswith(".") or not name:
        raise ArchiveError(f"the results archive holds an unexpected entry '{name}'")


def _extract(tar: tarfile.TarFile, member: tarfile.TarInfo, destination: Path) -> Path:
    """One member streamed to `destination` / its name, through a partial file."""
    target = destination / member.name
    partial = target.with_name(member.name + ".partial")
    with tar.extractfile(member) as source, open(partial, "wb") as sink:
        shutil.copyfileobj(source, sink, 1 << 20)
    os.replace(partial, target)
    return target
