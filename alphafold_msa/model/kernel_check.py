"""The fused-kernel self-check: the fused path must agree with plain XLA on this GPU before it is used.

The first time a worker meets a (GPU, driver, jax, alphafold-colabfold, colabfold-kernels)
combination, it runs one fixed small input (CHECK_LENGTH residues, one recycle, the loaded
weights) through the fused path (bfloat16), plain XLA in bfloat16 and plain XLA in float32, the
reference. The fused path passes when, for pLDDT, PAE and the Cα positions, it is no further from
the reference than NOISE_FACTOR times plain bfloat16's own distance plus a small absolute SLACK:
bfloat16 noise is what every fast path carries, and it depends on the weights (small with the real
parameters, large with random ones), so the bar is measured on the spot (docs/kernels.md). Non-finite
outputs or an error fail the check. The verdict is kept as
`<param dir>/kernel-check/<key>.json`, so later workers of the same kind skip the check. A check
that fails, or cannot run, leaves the worker on the XLA path with a one-line warning.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from alphafold_msa.model import kernels
from alphafold_msa.model.kernels import Device

logger = logging.getLogger(__name__)

CHECK_LENGTH = 40
CHECK_DEPTH = 64
CHECK_RECYCLES = 1
CHECK_FOLDER = "kernel-check"
# The fused path may be this many times further from float32 than plain bfloat16 is, plus SLACK.
NOISE_FACTOR = 2.0
SLACK = {"plddt_mean_abs": 0.5, "plddt_max_abs": 2.0, "pae_mean_abs": 0.25, "ca_rmsd": 0.25}
# Packages whose version changes what the fused kernels compute or how they are compiled.
_PACKAGES = ("jax", "jaxlib", "jax-cuda12-plugin", "jax-cuda13-plugin", "alphafold-colabfold", "colabfold-kernels",
             "colabfold-cuda-kernels", "colabfold-legacy-kernels", "nvidia-cuda-nvcc-cu12", "nvidia-cuda-nvcc")
# A check that started this long ago without a verdict brought its process down.
PENDING_STALE_S = 1800.0
_CA = 1  # atom37 index of the alpha carbon

CheckRun = Callable[[str], Mapping[str, Mapping[str, Any]]]


def driver_version() -> str:
    """The NVIDIA driver's version, from /proc/driver/nvidia/version, or 'unknown'."""
    try:
        text = Path("/proc/driver/nvidia/version").read_text(errors="replace")
    except OSError:
        return "unknown"
    match = re.search(r"Kernel Module\s+(?:for \S+\s+)?([0-9][0-9.]*)", text)
    return match.group(1) if match else "unknown"


def package_versions() -> dict[str, str]:
    """Versions of the packages the fused kernels' behaviour depends on."""
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def check_identity(device: Device, path: str, driver: str, versions: Mapping[str, str],
                   network: str) -> dict[str, Any]:
    """What a verdict holds for: the GPU, its driver, the package versions, the fused path and the
    network checked (a monomer and a multimer network each run their own check)."""
    return {"gpu": device.name, "compute_capability": device.compute_capability, "driver": driver,
            "path": path, "network": network, "versions": dict(sorted(versions.items()))}


def check_key(identity: Mapping[str, Any]) -> str:
    """A file-name-safe key for `identity`: a readable prefix and a hash of the whole."""
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    name = re.sub(r"[^A-Za-z0-9]+", "-", str(identity["gpu"])).strip("-")[:40] or "gpu"
    return f"{name}-{identity['path']}-{digest}"


def compare(fused: Mapping[str, Any], plain: Mapping[str, Any]) -> dict[str, float]:
    """Differences between two outputs of the same input: pLDDT, PAE and Cα positions (no superposition)."""
    plddt = np.abs(np.asarray(fused["plddt"], np.float64) - np.asarray(plain["plddt"], np.float64))
    ca = [np.asarray(out["structure_module"]["final_atom_positions"], np.float64)[:, _CA] for out in (fused, plain)]
    out = {"plddt_mean_abs": float(plddt.mean()), "plddt_max_abs": float(plddt.max()),
           "ca_rmsd": float(np.sqrt(((ca[0] - ca[1]) ** 2).sum(axis=-1).mean()))}
    if "predicted_aligned_error" in fused and "predicted_aligned_error" in plain:
        pae = np.abs(np.asarray(fused["predicted_aligned_error"], np.float64)
                     - np.asarray(plain["predicted_aligned_error"], np.float64))
        out["pae_mean_abs"] = float(pae.mean())
    return {name: round(value, 4) for name, value in out.items()}


def judge(outputs: Mapping[str, Mapping[str, Any]]) -> tuple[dict[str, dict[str, float]], list[str]]:
    """(distances to the float32 reference of the 'fused' and the 'xla' output, problems) for the check's
    outputs; ValueError when a plain-XLA output is not finite (then the check says nothing)."""
    for label in ("xla", "reference"):
        if not _finite(outputs[label]):  # says nothing about the fused kernels: no verdict
            raise ValueError(f"the plain-XLA {label} output is not finite")
    problems = [] if _finite(outputs["fused"]) else ["fused output is not finite"]
    distances = {label: compare(outputs[label], outputs["reference"]) for label in ("fused", "xla")}
    for name, slack in SLACK.items():
        if name in distances["fused"]:
            limit = round(NOISE_FACTOR * distances["xla"][name] + slack, 4)
            if not distances["fused"][name] <= limit:
                problems.append(f"{name}={distances['fused'][name]} > {limit}")
    return distances, problems


def _finite(output: Mapping[str, Any]) -> bool:
    arrays = [output["plddt"], output["structure_module"]["final_atom_positions"],
              *([output["predicted_aligned_error"]] if "predicted_aligned_error" in output else [])]
    return all(np.isfinite(np.asarray(value)).all() for value in arrays)


def run_and_judge(path: str, run: CheckRun) -> dict[str, Any]:
    """Run the check for fused path `path` and judge it: a verdict with `passed`, the distances and time.

    `run(path)` returns {'fused': output, 'xla': output, 'reference': output} for the fixed input,
    where a fused run that raised is {'error': 'Type: message'} (a failure of the fused kernels);
    an exception out of `run` itself means the check could not run and is raised here.
    """
    start = time.perf_counter()
    outputs = run(path)  # an exception here, or from judging the plain-XLA outputs, means no verdict
    if "error" in outputs["fused"]:
        distances, problems = {}, [str(outputs["fused"]["error"])]
    else:
        distances, problems = judge(outputs)
    return {"passed": not problems, "problems": problems, "distances_to_float32": distances,
            "noise_factor": NOISE_FACTOR, "slack": SLACK, "seconds": round(time.perf_counter() - start, 2),
            "checked_at": _now()}


def select(requested: str, device: Device, cache_dir: Path, run: CheckRun, network: str = "monomer_ptm",
           driver: str | None = None, versions: Mapping[str, str] | None = None) -> tuple[str, dict[str, Any]]:
    """(kernel path, record) for a `requested` choice on `device`, running the self-check when needed.

    The record says what was requested and chosen and, when a check applied, its verdict and
    whether it came from `cache_dir`.
    """
    candidate = kernels.needs_check(requested, device)
    record: dict[str, Any] = {"requested": requested}
    passed = None
    if candidate is not None:
        identity = check_identity(device, candidate, driver or driver_version(), versions or package_versions(),
                                  network)
        cache_file = cache_dir / f"{check_key(identity)}.json"
        verdict = _load(cache_file, identity) or _unfinished_check(cache_file, identity)
        record["check_cached"] = verdict is not None
        if verdict is None:
            verdict = _check(candidate, run, cache_file, identity, device)
        passed = verdict["passed"]
        record["check"] = verdict
        if not passed:
            logger.warning("fused %s kernels not used on this %s (%s); using xla",
                           candidate, device.name, "; ".join(verdict["problems"]))
    record["path"] = kernels.choose(requested, device, passed)
    return record["path"], record


def _check(candidate: str, run: CheckRun, cache_file: Path, identity: Mapping[str, Any],
           device: Device) -> dict[str, Any]:
    """Run the check and keep its verdict; a check that could not run is not kept (the next worker tries)."""
    logger.info("checking the %s kernels against plain XLA on this %s (once per GPU kind)", candidate, device.name)
    pending = _pending_file(cache_file)
    _write(pending, {"identity": identity, "started_at": _now()})
    try:
        verdict = {**run_and_judge(candidate, run), "identity": identity}
    except Exception as error:  # the plain-XLA runs failed: no verdict on the fused kernels
        _remove(pending)
        return {"passed": False, "problems": [f"the check could not run: {type(error).__name__}: {error}"],
                "identity": identity, "kept": False}
    _write(cache_file, verdict)
    _remove(pending)
    return verdict


def _unfinished_check(cache_file: Path, identity: Mapping[str, Any]) -> dict[str, Any] | None:
    """A failed verdict when an earlier check of this kind started over PENDING_STALE_S ago and never
    finished: the fused kernels likely brought its process down, so no worker should try them again."""
    pending = _pending_file(cache_file)
    try:
        age = time.time() - pending.stat().st_mtime
    except OSError:
        return None
    if age < PENDING_STALE_S:
        return None
    verdict = {"passed": False, "identity": identity, "checked_at": _now(),
               "problems": [f"a check started {age / 60:.0f} minutes ago never finished (its process likely "
                            f"crashed in the fused kernels)"]}
    _write(cache_file, verdict)
    _remove(pending)
    return verdict


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:  # an unwritable volume: nothing was written there either
        pass


def _pending_file(cache_file: Path) -> Path:
    return cache_file.with_suffix(".pending")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _load(cache_file: Path, identity: Mapping[str, Any]) -> dict[str, Any] | None:
    try:
        verdict = json.loads(cache_file.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(verdict, dict) or verdict.get("identity") != identity or not isinstance(
            verdict.get("passed"), bool):
        return None
    return verdict


def _write(path: Path, data: Mapping[str, Any]) -> None:
    """Write `data` as JSON atomically for later workers; a volume that cannot be written costs only a re-check."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(handle, "w") as out:
            json.dump(data, out, indent=2)
        os.replace(partial, path)
    except OSError as error:
        logger.warning("could not keep the kernel check's verdict in %s: %s", path, error)
