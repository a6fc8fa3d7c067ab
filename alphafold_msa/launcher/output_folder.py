"""The folders the launcher puts a job's files in (--output-dir, a batch's out/<name>/; a remote job's or a
--local prediction's alike), which may also hold files of the user's own: what an endpoint sends (or a
local prediction writes) never replaces a file the launcher did not write.

A job's files first arrive in a fresh folder inside the destination (`arriving`), then `install` moves
them in. A file already in the destination is replaced (or, when the new output lacks it, removed)
only when RECORD, the launcher's list of the files it put there last, names it with the SHA-256 it
still has: the launcher wrote it and nobody changed it since. So running the same command again
replaces the previous run's files, the alignment, notes or an edited summary stay as they are, and a
new file that would replace one of them stops the install before anything moves (`OutputConflict`,
naming the file). A folder written by a launcher that kept no record counts as the user's.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from alphafold_msa.errors import RemoteError, UserError
from alphafold_msa.files import write_atomic
from alphafold_msa.protocol.archive import PLAIN_NAME

RECORD = ".alphafold-msa-files.json"  # hidden: a job's files have plain names, never starting with a dot


class OutputConflict(RemoteError):
    """A file of the job's output would replace a file the launcher did not write."""


@contextlib.contextmanager
def arriving(destination: Path) -> Iterator[Path]:
    """A path inside `destination` (made when missing) where a job's files can arrive as a new folder;
    whatever is left of it is removed afterwards."""
    destination.mkdir(parents=True, exist_ok=True)
    holder = Path(tempfile.mkdtemp(prefix=".arriving-", dir=destination))
    try:
        yield holder / "files"
    finally:
        shutil.rmtree(holder, ignore_errors=True)


def check_free(destination: Path, names: Sequence[str]) -> None:
    """Before a job: UserError when a file named in `names` is in `destination` and the launcher did not
    write it (or it changed since): the job's file would replace it."""
    name = _in_the_way(destination, names, _own_files(destination) if destination.is_dir() else {})
    if name is not None:
        raise UserError(f"--output-dir {destination}: {_conflict(destination, name)}")


def adopt(destination: Path, paths: Sequence[Path]) -> None:
    """Count `paths` (files the launcher wrote into `destination` besides a job's) among its own there, so the
    next run may replace them."""
    record = {name: [digest] for name, digest in _own_files(destination).items()}
    record.update({path.name: [_file_sha256(path)] for path in paths
                   if path.is_file() and path.resolve().parent == destination.resolve()})
    _write_record(destination, record)


def install(arrived: Path, destination: Path) -> list[Path]:
    """Move the files in `arrived` into `destination`, replacing only the launcher's own earlier
    files there and removing those the new output lacks; returns the files installed."""
    new = {path.name: _file_sha256(path) for path in sorted(arrived.iterdir())}
    ours = _own_files(destination)
    name = _in_the_way(destination, new, ours)
    if name is not None:
        raise OutputConflict(_conflict(destination, name))
    # While the files move, the old and the new version of each count as the launcher's: a launcher
    # killed meanwhile leaves a folder that the next run can still replace.
    moving = {name: [digest] for name, digest in ours.items()}
    for name, digest in new.items():
        moving.setdefault(name, []).append(digest)
    _write_record(destination, moving)
    for name in new:
        os.replace(arrived / name, destination / name)
    for name in set(ours) - set(new):
        (destination / name).unlink()
    _write_record(destination, {name: [digest] for name, digest in new.items()})
    return [destination / name for name in new]


def _in_the_way(destination: Path, names: Iterable[str], ours: dict[str, str]) -> str | None:
    """The first of `names` whose file in `destination` is not the launcher's own (`ours`), if any."""
    return next((name for name in names if os.path.lexists(destination / name) and name not in ours), None)


def _conflict(destination: Path, name: str) -> str:
    return (f"the job's file {name} would replace {destination / name}, which the launcher did not write; move it "
            f"away or choose another output folder")


def _file_sha256(path: Path) -> str:
    """The SHA-256 of the file at `path`, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _own_files(destination: Path) -> dict[str, str]:
    """The files in `destination` that the record lists with their present SHA-256: name -> SHA-256."""
    own = {}
    for name, digests in _read_record(destination).items():
        path = destination / name
        if path.is_file() and not path.is_symlink():
            digest = _file_sha256(path)
            if digest in digests:
                own[name] = digest
    return own


def _read_record(destination: Path) -> dict[str, list[str]]:
    """RECORD's plain file names and their SHA-256s; nothing when it is missing or damaged."""
    try:
        files = json.loads((destination / RECORD).read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    if not isinstance(files, dict):
        return {}
    return {name: digests for name, digests in files.items()
            if PLAIN_NAME.fullmatch(name) and isinstance(digests, list)}


def _write_record(destination: Path, files: dict[str, list[str]]) -> None:
    write_atomic(destination / RECORD, json.dumps({"files": dict(sorted(files.items()))}, indent=1))
