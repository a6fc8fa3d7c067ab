"""Make sure complete AlphaFold weights are in PARAM_DIR/params: download, verify, extract, atomically.

    python -m alphafold_msa.model.provision [--param-dir DIR]

Used by start.sh (every worker start) and by `launch.py --local`. "Present" means complete: a
MANIFEST.json (file, size, sha256) written only after a verified extraction, and every required
file there with its recorded size. Otherwise one process per volume (an flock, released by the
kernel if its holder dies) downloads the archive resumably (HTTP Range, bounded retries), checking
free space before and while it streams, verifies and safely extracts it into a temporary folder,
moves each file into place and writes the manifest last (every other file there stays); the others wait and
then reuse it. AlphaFold-Multimer v1 and v2 come from older archives (model/weights.py ARCHIVES), added the same
way when first asked for.

Environment: PARAM_DIR, PARAMS_URL (source archive), ALPHAFOLD_MODELS (comma-separated parameter
names that must be present, e.g. model_1_ptm,model_2_ptm; default all fifteen official files),
ALPHAFOLD_MSA_DOWNLOAD_RETRIES (default 5), ALPHAFOLD_MSA_WEIGHTS_DEADLINE_S (the whole download,
every byte with headers and retries included; default 4 hours), PARAMS_SHA256 (the archive's expected SHA-256),
ALPHAFOLD_MSA_ASSUME_FREE_BYTES (overrides the free-space reading, for tests). Credentials in
PARAMS_URL (user:password@, presigned query strings) never reach a log, an error or the manifest.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Callable, Iterator, Sequence
from urllib.parse import unquote

import urllib3
from urllib3.util import parse_url

from alphafold_msa import settings
from alphafold_msa.errors import EXIT_OK, AlphafoldMsaError, WeightsError
from alphafold_msa.files import write_atomic
from alphafold_msa.model.weights import ARCHIVES, ParamsArchive, archive_of, default_param_dir
from alphafold_msa.transfer.https import (
    CONNECT_TIMEOUT_S,
    READ_TIMEOUT_S,
    DownloadError,
    DownloadTimeout,
    ReadDeadline,
    deadline_pool_manager,
    read_body,
    redact_url,
    too_slow,
)

logger = logging.getLogger("alphafold_msa.model.provision")
MANIFEST = "MANIFEST.json"
OFFICIAL_MODELS = tuple(
    f"model_{n}{suffix}" for suffix in ("", "_ptm", "_multimer_v3") for n in range(1, 6)
)
_CHUNK = 1 << 20
_SPACE_MARGIN = 256 << 20
_WEIGHTS = "the weights (archive and extraction)"
# One request per attempt (download_archive retries), following a mirror's redirects.
_REDIRECTS_ONLY = urllib3.Retry(total=None, connect=0, read=0, other=0, status=0, redirect=10)


class ProvisionError(WeightsError):
    """The weights could not be made complete; the message says why and where."""


def required_models() -> list[str]:
    """$ALPHAFOLD_MODELS as a list of parameter names, else all official ones."""
    return settings.model_names() or list(OFFICIAL_MODELS)


def read_manifest(params_dir: Path) -> dict | None:
    try:
        return json.loads((params_dir / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def missing_or_damaged(params_dir: Path, models: Sequence[str]) -> list[str]:
    """Required files that the manifest does not vouch for (absent, not listed, or of another size)."""
    manifest = read_manifest(params_dir)
    files = manifest.get("files", {}) if isinstance(manifest, dict) else {}
    problems = []
    for model in models:
        name = f"params_{model}.npz"
        path = params_dir / name
        if name not in files or not path.is_file() or path.stat().st_size != files[name]["size"]:
            problems.append(name)
    return problems


@contextlib.contextmanager
def volume_lock(param_dir: Path) -> Iterator[None]:
    """An exclusive flock on PARAM_DIR/.params.lock; the kernel drops it if the holder dies."""
    param_dir.mkdir(parents=True, exist_ok=True)
    with open(param_dir / ".params.lock", "a") as handle:
        waited = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waited:
                    logger.info("another worker is provisioning %s; waiting for it", param_dir)
                    waited = True
                time.sleep(1)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _free_bytes(path: Path) -> int:
    assumed = settings.assumed_free_bytes()
    return assumed if assumed is not None else shutil.disk_usage(path).free


class _Retryable(Exception):
    """A transient failure of one download attempt."""


def expected_sha256(archive: ParamsArchive, url: str) -> str | None:
    """The archive's expected SHA-256: its setting ($PARAMS_SHA256 for the default one), else the official pin
    for the official URL."""
    pinned = settings.params_sha256(archive.sha256_setting)
    if pinned:
        return pinned
    return archive.official_sha256 if url == archive.official_url else None


def download_archive(url: str, target: Path, deadline: float) -> None:
    """Download `url` to `target`, resuming a partial file with HTTP Range; bounded retries, every byte
    of every attempt (status line and headers too) and the pauses between them within `deadline`
    (time.monotonic())."""
    shown = redact_url(url)
    attempts = settings.download_retries() + 1
    for attempt in range(1, attempts + 1):
        try:
            _download_once(url, shown, target, deadline)
            return
        except DownloadTimeout as error:
            raise ProvisionError(str(error)) from None
        except (_Retryable, DownloadError, urllib3.exceptions.HTTPError) as error:
            reason = _failure(error)
            if attempt == attempts:
                raise ProvisionError(f"download of {shown} failed after {attempts} attempts: {reason}") from None
            delay = min(30.0, 2.0 ** (attempt - 1), max(0.0, deadline - time.monotonic()))
            logger.warning("download attempt %d failed (%s); retrying in %.0f s", attempt, reason, delay)
            time.sleep(delay)


def _failure(error: Exception) -> str:
    """What went wrong in an attempt, without the URL (it may carry credentials): our own message, or
    the name of the connection's error."""
    if isinstance(error, (_Retryable, DownloadError)):
        return str(error)
    cause = error.reason if isinstance(error, urllib3.exceptions.MaxRetryError) and error.reason else error
    return type(cause).__name__


def _request_headers(url: str, have: int) -> dict[str, str]:
    """A Range from byte `have` on (when part of the archive is here) and the URL's user:password as
    Basic auth (urllib3 drops it when a redirect leaves the host)."""
    headers = {"Range": f"bytes={have}-"} if have else {}
    auth = parse_url(url).auth
    if auth:
        user, _, password = auth.partition(":")
        headers.update(urllib3.make_headers(basic_auth=f"{unquote(user)}:{unquote(password)}"))
    return headers


def _download_once(url: str, shown: str, target: Path, deadline: float) -> None:
    """One attempt, ended at `deadline` wherever it is: connecting, reading the status line and headers
    (a `ReadDeadline` shuts the socket then), or the body."""
    what = f"downloading {shown}"
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise too_slow(what, settings.WEIGHTS_DEADLINE.name)
    have = target.stat().st_size if target.exists() else 0
    timeout = urllib3.Timeout(connect=min(CONNECT_TIMEOUT_S, remaining), read=min(READ_TIMEOUT_S, remaining))
    with deadline_pool_manager(url) as pool, ReadDeadline(deadline) as reads:
        try:
            with pool.request("GET", url, headers=_request_headers(url, have), timeout=timeout,
                              retries=_REDIRECTS_ONLY, preload_content=False, decode_content=False) as response:
                _save(response, shown, target, have, deadline)
        finally:
            if reads.cut:  # whatever the cut-off read made of it: an error, or a short body
                raise too_slow(what, settings.WEIGHTS_DEADLINE.name) from None


def _save(response: urllib3.BaseHTTPResponse, shown: str, target: Path, have: int, deadline: float) -> None:
    """Write the answer to `target`: appended only when the server resumes exactly where the partial
    file ends, with free space checked before and while it streams."""
    if response.status == 416 and have:
        return  # the partial file is already complete (the checksum and extraction check it)
    if response.status in (401, 403, 404):
        raise ProvisionError(f"weights archive not available at {shown} (HTTP {response.status}); check PARAMS_URL")
    if response.status >= 500:
        raise _Retryable(f"HTTP {response.status}")
    if response.status not in (200, 206):
        raise ProvisionError(f"weights archive at {shown}: unexpected HTTP {response.status}")
    resumed = response.status == 206
    if resumed and not _resumes_at(response.headers.get("Content-Range", ""), have):
        target.unlink(missing_ok=True)
        raise _Retryable(f"the server answered the request for bytes {have}- with Content-Range "
                         f"'{response.headers.get('Content-Range', '')}'; the partial download is discarded")
    length = response.headers.get("Content-Length", "")
    remaining = int(length) if length.isascii() and length.isdigit() else 0  # 0: unknown
    kept = have if resumed else 0
    total = remaining + kept
    free = _free_bytes(target.parent)
    _check_space(target.parent, remaining + total, _WEIGHTS, free)
    logger.info("downloading %s (%s, %s)", shown, "resuming" if resumed else "from the start",
                f"{total / 1e9:.2f} GB" if remaining else "size not given")
    with open(target, "ab" if resumed else "wb") as out:
        read_body(response, _space_checked(out.write, target.parent, kept, free), deadline,
                  f"downloading {shown}", settings.WEIGHTS_DEADLINE.name)
    if total and target.stat().st_size != total:
        raise _Retryable(f"connection closed at {target.stat().st_size} of {total} bytes")


def _space_checked(write: Callable[[bytes], object], folder: Path, kept: int, free: int) -> Callable[[bytes], None]:
    """`write`, refusing (ProvisionError) a chunk past what `free` bytes hold: the archive so far (`kept` bytes
    from earlier attempts plus this attempt's) and its extraction, about as large. Checked per chunk, so a
    mirror that gives no Content-Length, or sends more than it announced, stops before the disk fills."""
    written = 0

    def checked(chunk: bytes) -> None:
        nonlocal written
        written += len(chunk)
        _check_space(folder, written + kept + written, _WEIGHTS, free)
        write(chunk)

    return checked


def _resumes_at(content_range: str, offset: int) -> bool:
    """True when a 206's Content-Range ('bytes START-END/TOTAL') starts at `offset`."""
    unit, _, spec = content_range.partition(" ")
    first = spec.split("-", 1)[0]
    return unit == "bytes" and first.isdigit() and int(first) == offset


def _check_space(folder: Path, needed: int, what: str, free: int | None = None) -> None:
    """Refuse to write `needed` bytes (plus a margin) where less is free (`free`, else measured now)."""
    needed += _SPACE_MARGIN
    free = _free_bytes(folder) if free is None else free
    if needed > free:
        raise ProvisionError(f"not enough free space in {folder}: {what} need about {needed / 1e9:.1f} GB, "
                             f"{free / 1e9:.1f} GB are free")


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _check_member(member: tarfile.TarInfo, archive: Path) -> None:
    name = member.name
    if name.startswith("/") or ".." in Path(name).parts:
        raise ProvisionError(f"{archive}: refusing member '{name}': it would be written outside the weights folder")
    if not (member.isfile() or member.isdir()):
        raise ProvisionError(f"{archive}: refusing member '{name}': links and special files are not allowed")


def _required_members(members: list[tarfile.TarInfo], models: Sequence[str], archive: Path) -> dict:
    """The members to extract, by file name: one per required model; absent or ambiguous ones refused."""
    by_name: dict[str, list[tarfile.TarInfo]] = {}
    for member in members:
        if member.isfile():
            by_name.setdefault(Path(member.name).name, []).append(member)
    wanted = [f"params_{model}.npz" for model in models]
    absent = [name for name in wanted if name not in by_name]
    if absent:
        raise ProvisionError(f"{archive}: the archive lacks {', '.join(absent)}")
    for name in wanted:
        if len(by_name[name]) > 1:
            raise ProvisionError(f"{archive}: members {', '.join(m.name for m in by_name[name])} would all be "
                                 f"extracted as {name}; refusing an ambiguous archive")
    return {name: by_name[name][0] for name in wanted}


def _extract(tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path, archive: Path) -> dict:
    """Write one member to `target`; its size and SHA-256, after checking that it opens as an .npz."""
    digest = hashlib.sha256()
    source = tar.extractfile(member)
    assert source is not None, "a regular file (_required_members)"
    with open(target, "wb") as out:
        while block := source.read(_CHUNK):
            digest.update(block)
            out.write(block)
    if target.stat().st_size != member.size:
        raise ProvisionError(f"{archive}: member {member.name} is truncated")
    _check_npz(target, member.name, archive)
    return {"size": member.size, "sha256": digest.hexdigest()}


def _check_npz(path: Path, member: str, archive: Path) -> None:
    """Refuse a parameter file that is not an intact .npz (every entry's CRC checked)."""
    try:
        with zipfile.ZipFile(path) as npz:
            bad = npz.testzip()
            names = npz.namelist()
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise ProvisionError(f"{archive}: member {member} is not a readable .npz file ({error})") from None
    if bad is not None or not names or not all(name.endswith(".npy") for name in names):
        raise ProvisionError(f"{archive}: member {member} is not an intact .npz file"
                             + (f" (entry {bad} is damaged)" if bad else ""))


def extract_verified(archive: Path, destination: Path, models: Sequence[str]) -> dict:
    """Check every member, then extract only the required files into `destination` (after checking the
    space their sizes need), each verified to open; return the manifest's file table."""
    try:
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            for member in members:
                _check_member(member, archive)
            wanted = _required_members(members, models, archive)
            _check_space(destination.parent, sum(m.size for m in wanted.values()), "the extracted weights")
            return {name: _extract(tar, member, destination / name, archive) for name, member in wanted.items()}
    except (tarfile.TarError, EOFError, OSError) as error:
        raise ProvisionError(f"{archive}: the weights archive is damaged or incomplete ({error})") from None


def _verify_archive(archive: Path, url: str, source: ParamsArchive) -> str:
    """The archive's SHA-256, refused (and the archive removed) when it differs from the expected one."""
    actual = file_sha256(archive)
    expected = expected_sha256(source, url)
    setting = source.sha256_setting.name
    if expected is None and url == source.official_url:
        logger.warning("the official archive's SHA-256 is not pinned in this release; set %s to check it", setting)
    if expected is not None and actual != expected:
        archive.unlink(missing_ok=True)
        raise ProvisionError(f"the archive from {redact_url(url)} has SHA-256 {actual}, not the expected {expected} "
                             f"({setting}): it is damaged or not the official weights")
    return actual


def install(param_dir: Path, url: str, models: Sequence[str], source: ParamsArchive = ARCHIVES[0]) -> None:
    """Download (resuming), verify and extract `models` of `source`'s archive, then move each file into
    PARAM_DIR/params and rewrite its manifest last: every other file there (other archives', or put there by hand)
    stays as it is. Call under the lock."""
    _recover(param_dir)
    work = param_dir / ".download"
    work.mkdir(parents=True, exist_ok=True)
    archive = work / source.partial_name
    download_archive(url, archive, time.monotonic() + settings.weights_deadline())
    archive_sha256 = _verify_archive(archive, url, source)
    staging = Path(tempfile.mkdtemp(prefix=".params.tmp-", dir=param_dir))
    try:
        files = extract_verified(archive, staging, models)
    except ProvisionError:
        shutil.rmtree(staging, ignore_errors=True)
        archive.unlink(missing_ok=True)  # a damaged archive is fetched anew next time
        raise
    params = param_dir / "params"
    params.mkdir(exist_ok=True)
    params.chmod(0o755)
    previous = read_manifest(params) or {}
    for name in files:
        os.replace(staging / name, params / name)
    shutil.rmtree(staging, ignore_errors=True)
    entry = {"source": redact_url(url), "archive_sha256": archive_sha256,
             "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    write_atomic(params / MANIFEST, json.dumps(_merged_manifest(previous, params, entry, files), indent=2))
    archive.unlink(missing_ok=True)
    logger.info("weights ready in %s (%d files from %s)", params, len(files), source.label)


def _merged_manifest(previous: dict, params: Path, entry: dict, files: dict) -> dict:
    """The manifest after `files` came from the archive `entry` describes: the previous entries of the files still
    there with their recorded size, these files, and each archive's source and files."""
    recorded = previous.get("files", {}) if isinstance(previous.get("files"), dict) else {}
    kept = {name: value for name, value in recorded.items() if name not in files and isinstance(value, dict)
            and (params / name).is_file() and (params / name).stat().st_size == value.get("size")}
    archives = previous.get("archives")
    if not isinstance(archives, list):  # a manifest written before archives were recorded: one archive
        archives = [{key: previous[key] for key in ("source", "archive_sha256", "created") if key in previous}
                    | {"files": sorted(recorded)}] if recorded else []
    earlier = [{**old, "files": [name for name in old.get("files", []) if name in kept]} for old in archives
               if isinstance(old, dict)]
    return {**entry, "files": {**kept, **files},
            "archives": [old for old in earlier if old["files"]] + [{**entry, "files": sorted(files)}]}


def _recover(param_dir: Path) -> None:
    """After a worker killed mid-install: staging folders removed; a weights folder left aside by an older
    release's swap put back when none replaced it."""
    for leftover in param_dir.glob(".params.tmp-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    for retired in sorted(param_dir.glob(".params.old-*")):
        if not (param_dir / "params").exists():
            retired.rename(param_dir / "params")
            logger.info("weights folder restored from %s", retired.name)
        else:
            shutil.rmtree(retired, ignore_errors=True)


def ensure_weights(param_dir: str | os.PathLike | None = None, url: str | None = None,
                   models: Sequence[str] | None = None) -> Path:
    """Return PARAM_DIR after making sure every required parameter file is complete there, each fetched from its
    archive (weights.ARCHIVES: its mirror setting, else the official URL; `url` instead for the default one)."""
    param_dir = Path(param_dir or default_param_dir())
    models = list(models or required_models())
    params = param_dir / "params"
    if not missing_or_damaged(params, models):
        logger.info("weights present in %s", params)
        return param_dir
    with volume_lock(param_dir):
        problems = missing_or_damaged(params, models)
        if not problems:
            logger.info("weights present in %s (provisioned by another worker)", params)
            return param_dir
        logger.info("weights incomplete in %s (%s); provisioning", params, ", ".join(problems[:3]))
        for source in ARCHIVES:
            needed = [model for model in models if archive_of(model) is source]
            if not missing_or_damaged(params, needed):
                continue
            try:
                install(param_dir, (url if source is ARCHIVES[0] else None) or source.url(), needed, source)
            except ProvisionError as error:
                raise ProvisionError(f"cannot provision {source.label} into {params}: {error}") from None
    return param_dir


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m alphafold_msa.model.provision", description=__doc__.split("\n")[0])
    parser.add_argument("--param-dir", help="default: $PARAM_DIR, /runpod-volume when mounted, else /data")
    args = parser.parse_args(argv)
    formatter = logging.Formatter("%(asctime)s provision: %(message)s", datefmt="%Y-%m-%dT%H:%M:%SZ")
    formatter.converter = time.gmtime  # this formatter's clock only, not every logger's in the process
    handler = logging.StreamHandler()
    handler.setFormatter(formatter)
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    try:
        settings.check_all()  # the container's first step: a malformed setting stops it here, in one line
        ensure_weights(args.param_dir)
    except AlphafoldMsaError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    except OSError as error:  # the weights folder cannot be created, locked or written
        print(f"error: cannot provision AlphaFold weights: {error}", file=sys.stderr)
        return WeightsError.exit_code
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
