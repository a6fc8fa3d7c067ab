"""The fused-kernel self-check: the fused path must agree with plain XLA on this GPU before it is used.

The first time a worker meets a (GPU, driver, jax, alphafold-colabfold, colabfold-kernels)
combination, it runs one fixed small input (CHECK_LENGTH residues, one recycle, the loaded
weights) through the fused path (bfloat16), plain XLA in bfloat16 and plain XLA in float32, the
reference. The fused path passes when, for pLDDT, PAE and the Cα positions, it is no further from
the reference than NOISE_FACTOR times plain bfloat16's own distance plus a small absolute SLACK:
bfloat16 noise is what every fast path carries, and it depends on the weights (small with the real
parameters, large with random ones), so the bar is measured on the spot (docs/kernels.md). Non-finite
outputs or an error fail the check. Beside the network, module-level cases (kernel_cases: the extra-MSA row
attention at head dimension 8, the template pointwise attention with absent templates) must pass the same way,
and the input run as one of a batch through the fused network must be as close to float32 as the fused path must,
or samples run one per call. The verdict is kept as
`<param dir>/kernel-check/<key>.json`, so later workers of the same kind skip the check. A check
that fails, or cannot run, leaves the worker on the XLA path with a one-line warning.

One worker at a time checks a kind: it holds an flock on `<key>.pending`, which records the attempt
while the check runs and is removed once it ends. Other workers of that kind wait for its verdict. A
marker left behind means its process died in the check (XLA aborts on an illegal memory access, or
the platform stopped the worker): the next worker checks once more, and when that process dies too the
fused kernels count as failed.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from alphafold_msa.model import kernel_cases, kernels
from alphafold_msa.model.kernels import Device

logger = logging.getLogger(__name__)

CHECK_LENGTH = 40
CHECK_DEPTH = 64
CHECK_RECYCLES = 1
CHECK_BATCH = 4  # samples in the check's batch: three other seeds, then the check's input
CHECK_FOLDER = "kernel-check"
# What the check runs; a verdict of an earlier version is checked again.
CHECK_VERSION = 3
# 2: a batch of samples and the module-level cases (kernel_cases) beside the network; 3: the batch of CHECK_BATCH
# seeds, the check's input last, compiled with the compile mode's options.
# The fused path may be this many times further from float32 than plain bfloat16 is, plus SLACK.
NOISE_FACTOR = 2.0
SLACK = {"plddt_mean_abs": 0.5, "plddt_max_abs": 2.0, "pae_mean_abs": 0.25, "ca_rmsd": 0.25}
# Packages whose version changes what the fused kernels compute or how they are compiled.
_PACKAGES = ("jax", "jaxlib", "jax-cuda12-plugin", "jax-cuda13-plugin", "alphafold-colabfold", "colabfold-kernels",
             "colabfold-cuda-kernels", "colabfold-legacy-kernels", "nvidia-cuda-nvcc-cu12", "nvidia-cuda-nvcc")
# Checks of one kind whose process may die before the fused kernels count as failed: a process may die
# for reasons of its own (stopped by the platform, out of host memory), so one death is given a second try.
CHECK_ATTEMPTS = 2
# The longest a worker waits for another worker's check of the same kind; then it goes on without a verdict.
CHECK_WAIT_S = 1800.0
_POLL_S = 1.0
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
            "path": path, "network": network, "versions": dict(sorted(versions.items())), "check": CHECK_VERSION}


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
    where a fused run that raised is {'error': 'Type: message'} (a failure of the fused kernels); with
    'modules', kernel_cases.run_cases' outputs (each must pass too), with 'batched' the fused output of the same
    input run as the last of a batch of CHECK_BATCH (its verdict is kept apart: a batch that fails leaves the fused
    kernels in use, one sample per call). An exception out of `run` itself means the check could not run and is
    raised here.
    """
    start = time.perf_counter()
    outputs = run(path)  # an exception here, or from judging the plain-XLA outputs, means no verdict
    distances: dict[str, dict[str, float]]
    if "error" in outputs["fused"]:
        distances, problems = {}, [str(outputs["fused"]["error"])]
    else:
        distances, problems = judge(outputs)
    module_distances: dict[str, dict] = {}
    if "modules" in outputs:
        module_distances, module_problems = kernel_cases.judge_cases(outputs["modules"])
        problems += module_problems
    verdict = {"passed": not problems, "problems": problems, "distances_to_float32": distances,
               "modules_relative_to_float32": module_distances, "noise_factor": NOISE_FACTOR, "slack": SLACK,
               "seconds": round(time.perf_counter() - start, 2), "checked_at": _now()}
    if "batched" in outputs and not problems:
        verdict["batched"] = judge_batch(outputs)
    return verdict


def judge_batch(outputs: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Whether the check's input, run as one of a batch (`outputs['batched']`), is within bfloat16's noise of the
    float32 reference as the fused path must be: `passed`, the problems and its distances. A batch computes the
    same sums in another order, which bfloat16 rounds differently (and random weights amplify, as they do plain
    bfloat16's own distance)."""
    batched = outputs["batched"]
    if "error" in batched:
        return {"passed": False, "problems": [str(batched["error"])]}
    distances, problems = judge({**outputs, "fused": batched})
    return {"passed": not problems, "problems": problems, "distances_to_float32": distances["fused"]}


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
        verdict = _load(cache_file, identity)
        record["check_cached"] = verdict is not None
        if verdict is None:
            verdict, record["check_cached"] = _check_once(candidate, run, cache_file, identity, device)
        passed = verdict["passed"]
        record["check"] = verdict
        if not passed:
            logger.warning("fused %s kernels not used on this %s (%s); using xla",
                           candidate, device.name, "; ".join(verdict["problems"]))
    record["path"] = kernels.choose(requested, device, passed)
    return record["path"], record


def _check_once(candidate: str, run: CheckRun, cache_file: Path, identity: Mapping[str, Any],
                device: Device) -> tuple[dict[str, Any], bool]:
    """(verdict, whether another worker's verdict was read): the check run by one worker of this kind at a
    time, holding the pending marker; a worker that waited for it reads the verdict it kept."""
    try:
        with _held(_pending_file(cache_file)) as marker:
            return _check_held(candidate, run, cache_file, identity, device, marker)
    except TimeoutError:
        return {"passed": False, "identity": identity, "kept": False, "problems": [
            f"another worker's check of these kernels did not end within {CHECK_WAIT_S / 60:.0f} minutes"]}, False


def _check_held(candidate: str, run: CheckRun, cache_file: Path, identity: Mapping[str, Any], device: Device,
                marker: int | None) -> tuple[dict[str, Any], bool]:
    """_check_once's work once it holds the pending `marker` (None: the folder cannot be written)."""
    pending = _pending_file(cache_file)
    verdict = _load(cache_file, identity)
    if verdict is not None:
        _remove(pending)
        return verdict, True
    died = _attempts(marker)  # checks of this kind whose process died, by the marker they left
    if died >= CHECK_ATTEMPTS:
        verdict = {"passed": False, "identity": identity, "checked_at": _now(), "problems": [
            f"{died} checks never finished (their processes likely crashed in the fused kernels)"]}
        _write(cache_file, verdict)
        _remove(pending)
        return verdict, False
    if died:
        logger.warning("a check of the %s kernels on this %s never finished; checking once more",
                       candidate, device.name)
    _mark(marker, {"identity": identity, "started_at": _now(), "attempt": died + 1})
    return _check(candidate, run, cache_file, identity, device), False


def _check(candidate: str, run: CheckRun, cache_file: Path, identity: Mapping[str, Any],
           device: Device) -> dict[str, Any]:
    """Run the check and keep its verdict; a check that could not run is not kept (the next worker tries).
    Either way the pending marker goes: only a process that dies in the check leaves it."""
    logger.info("checking the %s kernels against plain XLA on this %s (once per GPU kind)", candidate, device.name)
    try:
        verdict = {**run_and_judge(candidate, run), "identity": identity}
    except Exception as error:  # the plain-XLA runs failed: no verdict on the fused kernels
        _remove(_pending_file(cache_file))
        return {"passed": False, "problems": [f"the check could not run: {type(error).__name__}: {error}"],
                "identity": identity, "kept": False}
    _write(cache_file, verdict)
    _remove(_pending_file(cache_file))
    return verdict


@contextlib.contextmanager
def _held(pending: Path) -> Iterator[int | None]:
    """An exclusive flock on the marker `pending` (made when absent), which the kernel drops if this process
    dies: yields its file descriptor, or None when the folder cannot be written (the check runs unguarded, as
    nothing can be kept there either). TimeoutError after waiting CHECK_WAIT_S for another worker."""
    deadline = time.monotonic() + CHECK_WAIT_S
    while True:
        try:
            pending.parent.mkdir(parents=True, exist_ok=True)
            marker = os.open(pending, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            yield None
            return
        try:
            if not _lock(marker, deadline):
                raise TimeoutError
            if _is_current(marker, pending):  # else removed while this worker waited: lock the one there now
                yield marker
                return
        finally:
            os.close(marker)


def _lock(marker: int, deadline: float) -> bool:
    """An exclusive flock on `marker`, polled until `deadline`; False when another worker held it until then."""
    waiting = False
    while True:
        try:
            fcntl.flock(marker, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            if not waiting:
                logger.info("another worker is checking these kernels; waiting for its verdict")
                waiting = True
            time.sleep(_POLL_S)
        except OSError:  # a file system without locks: the check runs unguarded
            return True


def _is_current(marker: int, pending: Path) -> bool:
    """Whether `marker` is still the file at `pending` (not one removed since it was opened)."""
    try:
        held, there = os.fstat(marker), os.stat(pending)
    except FileNotFoundError:
        return False
    return (held.st_dev, held.st_ino) == (there.st_dev, there.st_ino)


def _attempts(marker: int | None) -> int:
    """How many checks of this kind died: the attempt the held `marker` records (one that records none, from
    an earlier release, counts as one); 0 when it is empty (nothing started) or there is none."""
    if marker is None:
        return 0
    content = os.pread(marker, 1 << 16, 0)
    if not content.strip():
        return 0
    try:
        attempt = json.loads(content).get("attempt", 1)
    except (ValueError, AttributeError):
        return 1
    return attempt if isinstance(attempt, int) and attempt > 0 else 1


def _mark(marker: int | None, data: Mapping[str, Any]) -> None:
    """Record `data` in the held marker, in place (the flock is on this file, so it is not replaced)."""
    if marker is None:
        return
    try:
        os.ftruncate(marker, 0)
        os.pwrite(marker, json.dumps(data, indent=2).encode(), 0)
    except OSError as error:
        logger.warning("could not record the kernel check in progress: %s", error)


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
