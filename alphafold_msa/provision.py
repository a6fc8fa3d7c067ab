"""Make sure complete AlphaFold weights are in PARAM_DIR/params: download, verify, extract, atomically.

    python -m alphafold_msa.provision [--param-dir DIR]

Used by start.sh (every worker start) and by `launch.py --local`. "Present" means complete: a
MANIFEST.json (file, size, sha256) written only after a verified extraction, and every required
file there with its recorded size. Otherwise one process per volume (an flock, released by the
kernel if its holder dies) downloads the archive resumably (HTTP Range, bounded retries) after
checking free space, verifies and safely extracts it into a temporary folder, writes the manifest
and moves the folder into place; the others wait and then reuse it.

Environment: PARAM_DIR, PARAMS_URL (source archive), ALPHAFOLD_MODELS (comma-separated parameter
names that must be present, e.g. model_1_ptm,model_2_ptm; default all fifteen official files),
ALPHAFOLD_MSA_DOWNLOAD_RETRIES (default 5), ALPHAFOLD_MSA_ASSUME_FREE_BYTES (overrides the free-space
reading, for tests).
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
from pathlib import Path
from typing import Iterator, Sequence

import requests

from alphafold_msa.errors import UserError
from alphafold_msa.weights import OFFICIAL_URL, default_param_dir

logger = logging.getLogger("alphafold_msa.provision")
MANIFEST = "MANIFEST.json"
OFFICIAL_MODELS = tuple(
    f"model_{n}{suffix}" for suffix in ("", "_ptm", "_multimer_v3") for n in range(1, 6)
)
_CHUNK = 1 << 20
_SPACE_MARGIN = 256 << 20


class ProvisionError(UserError):
    """The weights could not be made complete; the message says why and where."""


def required_models() -> list[str]:
    """$ALPHAFOLD_MODELS as a list of parameter names, else all official ones."""
    names = [n.strip() for n in os.environ.get("ALPHAFOLD_MODELS", "").split(",") if n.strip()]
    return names or list(OFFICIAL_MODELS)


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
    override = os.environ.get("ALPHAFOLD_MSA_ASSUME_FREE_BYTES")
    return int(override) if override else shutil.disk_usage(path).free


def _retries() -> int:
    return int(os.environ.get("ALPHAFOLD_MSA_DOWNLOAD_RETRIES", "5"))


def download(url: str, target: Path) -> None:
    """Download `url` to `target`, resuming a partial file with HTTP Range; bounded retries."""
    attempts = _retries() + 1
    for attempt in range(1, attempts + 1):
        have = target.stat().st_size if target.exists() else 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        try:
            with requests.get(url, headers=headers, stream=True, timeout=(30, 300)) as response:
                if response.status_code == 416 and have:
                    return  # the partial file is already complete
                if response.status_code in (401, 403, 404):
                    raise ProvisionError(f"weights archive not available at {url} (HTTP {response.status_code}); "
                                         f"check PARAMS_URL")
                if response.status_code >= 500:
                    raise requests.ConnectionError(f"HTTP {response.status_code}")
                response.raise_for_status()
                resumed = response.status_code == 206
                remaining = int(response.headers.get("Content-Length", "0"))
                total = remaining + (have if resumed else 0)
                needed = remaining + total + _SPACE_MARGIN  # the rest of the archive, then its extraction
                free = _free_bytes(target.parent)
                if needed > free:
                    raise ProvisionError(
                        f"not enough free space in {target.parent}: the weights need about {needed / 1e9:.1f} GB "
                        f"(archive and extraction), {free / 1e9:.1f} GB are free"
                    )
                logger.info("downloading %s (%s, %.2f GB)", url, "resuming" if resumed else "from the start",
                            total / 1e9)
                with open(target, "ab" if resumed else "wb") as out:
                    for chunk in response.iter_content(_CHUNK):
                        out.write(chunk)
                if total and target.stat().st_size != total:
                    raise requests.ConnectionError(f"connection closed at {target.stat().st_size} of {total} bytes")
                return
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as error:
            if attempt == attempts:
                raise ProvisionError(f"download of {url} failed after {attempts} attempts: {error}") from None
            delay = min(30.0, 2.0 ** (attempt - 1))
            logger.warning("download attempt %d failed (%s); retrying in %.0f s", attempt, error, delay)
            time.sleep(delay)


def _check_member(member: tarfile.TarInfo, archive: Path) -> None:
    name = member.name
    if name.startswith("/") or ".." in Path(name).parts:
        raise ProvisionError(f"{archive}: refusing member '{name}': it would be written outside the weights folder")
    if not (member.isfile() or member.isdir()):
        raise ProvisionError(f"{archive}: refusing member '{name}': links and special files are not allowed")


def extract_verified(archive: Path, destination: Path, models: Sequence[str]) -> dict:
    """Check every member, extract regular files into `destination`, return the manifest's file table."""
    try:
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            for member in members:
                _check_member(member, archive)
            names = {Path(m.name).name for m in members if m.isfile()}
            absent = [f"params_{m}.npz" for m in models if f"params_{m}.npz" not in names]
            if absent:
                raise ProvisionError(f"{archive}: the archive lacks {', '.join(absent)}")
            files = {}
            for member in members:
                if not member.isfile():
                    continue
                target = destination / Path(member.name).name
                digest = hashlib.sha256()
                source = tar.extractfile(member)
                with open(target, "wb") as out:
                    while block := source.read(_CHUNK):
                        digest.update(block)
                        out.write(block)
                if target.stat().st_size != member.size:
                    raise ProvisionError(f"{archive}: member {member.name} is truncated")
                files[target.name] = {"size": member.size, "sha256": digest.hexdigest()}
            return files
    except (tarfile.TarError, EOFError, OSError) as error:
        raise ProvisionError(f"{archive}: the weights archive is damaged or incomplete ({error})") from None


def install(param_dir: Path, url: str, models: Sequence[str]) -> None:
    """Download (resuming), verify, extract and move the weights into place. Call under the lock."""
    for leftover in [*param_dir.glob(".params.tmp-*"), *param_dir.glob(".params.old-*")]:
        shutil.rmtree(leftover, ignore_errors=True)  # from a worker killed mid-install
    work = param_dir / ".download"
    work.mkdir(parents=True, exist_ok=True)
    archive = work / "alphafold_params.tar.partial"
    download(url, archive)
    staging = Path(tempfile.mkdtemp(prefix=".params.tmp-", dir=param_dir))
    try:
        files = extract_verified(archive, staging, models)
    except ProvisionError:
        shutil.rmtree(staging, ignore_errors=True)
        archive.unlink(missing_ok=True)  # a damaged archive is fetched anew next time
        raise
    manifest = {"source": url, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "files": files}
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2))
    staging.chmod(0o755)
    params = param_dir / "params"
    retired = None
    if params.exists():
        retired = param_dir / f".params.old-{os.getpid()}"
        params.rename(retired)
    staging.rename(params)
    if retired is not None:
        shutil.rmtree(retired, ignore_errors=True)
    archive.unlink(missing_ok=True)
    logger.info("weights ready in %s (%d files)", params, len(files))


def ensure_weights(param_dir: str | os.PathLike | None = None, url: str | None = None,
                   models: Sequence[str] | None = None) -> Path:
    """Return PARAM_DIR after making sure every required parameter file is complete there."""
    param_dir = Path(param_dir or default_param_dir())
    url = url or os.environ.get("PARAMS_URL") or OFFICIAL_URL
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
        try:
            install(param_dir, url, models)
        except ProvisionError as error:
            raise ProvisionError(f"cannot provision AlphaFold weights into {params}: {error}") from None
    return param_dir


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m alphafold_msa.provision", description=__doc__.split("\n")[0])
    parser.add_argument("--param-dir", help="default: $PARAM_DIR, /runpod-volume when mounted, else /data")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s provision: %(message)s",
                        datefmt="%Y-%m-%dT%H:%M:%SZ")
    logging.Formatter.converter = time.gmtime
    try:
        ensure_weights(args.param_dir)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
