"""Amber relaxation of predicted structures with `alphafold.relax` (OpenMM), on the GPU when there is one."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import time
from typing import Any

import numpy as np

# ColabFold's settings: bounded L-BFGS steps per round, up to three violation-informed rounds.
MAX_ITERATIONS = 2000
MAX_OUTER_ITERATIONS = 3
TOLERANCE = 2.39  # kcal/mol
STIFFNESS = 10.0  # kcal/mol/A^2
MAX_ATTEMPTS = 3


@dataclasses.dataclass(frozen=True)
class RelaxOutcome:
    """A relaxed structure (None when relaxation failed) and what happened."""

    pdb: str | None
    info: dict[str, Any]


def openmm_platform() -> str:
    """'CUDA' when OpenMM can use an NVIDIA GPU here, else 'CPU'."""
    import openmm

    names = {openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())}
    return "CUDA" if "CUDA" in names else "CPU"


def violations(structure: Any) -> int:
    """Residues with structural violations (clashes, bond lengths and angles), as AlphaFold counts them."""
    from alphafold.relax import amber_minimize

    return int(amber_minimize.get_violation_metrics(structure)["num_residue_violations"])


def relax(structure: Any, platform: str | None = None, timeout_s: float | None = None) -> RelaxOutcome:
    """Relax an `alphafold.common.protein.Protein` in a child process; a failure, or running past
    `timeout_s` (default $ALPHAFOLD_MSA_RELAX_TIMEOUT, else 600 s), is reported in `info`, never raised."""
    from alphafold_msa import settings

    platform = platform or openmm_platform()
    timeout_s = settings.relax_timeout() if timeout_s is None else timeout_s
    started = time.perf_counter()
    # A fresh interpreter: OpenMM cannot be interrupted, but a child process can be stopped.
    with multiprocessing.get_context("spawn").Pool(1, initializer=_keep_jax_off_the_gpu) as pool:
        pending = pool.apply_async(_relax_here, (structure, platform))
        try:
            return pending.get(timeout_s)
        except multiprocessing.TimeoutError:
            seconds = round(time.perf_counter() - started, 2)
            return RelaxOutcome(pdb=None, info={
                "platform": platform, "seconds": seconds,
                "error": f"relaxation stopped after {timeout_s:g} s ({settings.RELAX_TIMEOUT.name})"})


def _keep_jax_off_the_gpu() -> None:
    """In the relaxation's child: jax (imported by alphafold.relax) must not reserve the GPU the parent holds."""
    os.environ["JAX_PLATFORMS"] = "cpu"
    os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"


def _relax_here(structure: Any, platform: str) -> RelaxOutcome:
    """The relaxation itself, in this process: AlphaFold's Amber pipeline with ColabFold's settings."""
    from alphafold.common import protein
    from alphafold.relax import amber_minimize, utils

    started = time.perf_counter()
    info: dict[str, Any] = {"platform": platform}
    try:
        info["violations_before"] = violations(structure)
        out = amber_minimize.run_pipeline(
            prot=structure, max_iterations=MAX_ITERATIONS, tolerance=TOLERANCE, stiffness=STIFFNESS,
            exclude_residues=[], max_outer_iterations=MAX_OUTER_ITERATIONS, max_attempts=MAX_ATTEMPTS,
            use_gpu=platform == "CUDA")
        pdb = utils.overwrite_b_factors(out["min_pdb"], structure.b_factors)
        relaxed = protein.from_pdb_string(pdb)
        info["violations_after"] = violations(relaxed)
        moved = np.asarray(out["pos"]) - np.asarray(out["posinit"])
        info["rmsd_to_unrelaxed"] = round(float(np.sqrt((moved ** 2).sum() / len(moved))), 3)
        info["energy_before_kcal_mol"] = round(float(out["einit"]), 1)
        info["energy_after_kcal_mol"] = round(float(out["efinal"]), 1)
    except Exception as error:  # OpenMM and PDBFixer raise many kinds; the prediction must survive them
        info["error"] = f"{type(error).__name__}: {error}"
        pdb = None
    info["seconds"] = round(time.perf_counter() - started, 2)
    return RelaxOutcome(pdb=pdb, info=info)
