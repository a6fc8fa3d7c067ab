"""A job's output folder as one flat .tar.gz and back, with its SHA-256 (standard library only)."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
import zlib
from pathlib import Path

from alphafold_msa.errors import UserError


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


def unpack(data: bytes, destination: Path, expected_sha256: str | None = None) -> list[Path]:
    """Write the archive's files into `destination` (each atomically); check the checksum first.

    Only plain files with simple names are accepted, so an archive cannot write outside `destination`.
    """
    if expected_sha256 is not None and sha256(data) != expected_sha256:
        raise ArchiveError(f"the results archive's SHA-256 is {sha256(data)}, not the {expected_sha256} "
                           f"the worker reported: the download is damaged")
    destination.mkdir(parents=True, exist_ok=True)
    written = []
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for member in tar:
                name = member.name
                if not member.isfile() or "/" in name or "\\" in name or name.startswith(".") or not name:
                    raise ArchiveError(f"the results archive holds an unexpected entry '{name}'")
                target = destination / name
                partial = target.with_name(name + ".partial")
                partial.write_bytes(tar.extractfile(member).read())
                os.replace(partial, target)
                written.append(target)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise ArchiveError(f"the results archive cannot be read ({error})") from None
    return written
