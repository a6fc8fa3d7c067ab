"""What a prediction returns: ranked models with their files and scores (no jax needed to use it)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

# Said inside every file of a prediction made with generated random weights (--demo-weights).
DEMO_WEIGHTS_NOTE = "predicted with RANDOM demo weights: not a structure prediction"
DEMO_WEIGHTS_PLOT_NOTE = "RANDOM DEMO WEIGHTS: NOT A PREDICTION"  # short enough for the narrowest plot


@dataclasses.dataclass(frozen=True)
class RankedModel:
    """One predicted structure; rank 0 is the most confident."""

    rank: int
    model_name: str
    seed: int
    recycles: int
    mean_plddt: float
    ptm: float | None
    max_pae: float | None
    structure_paths: dict[str, Path]  # format ("pdb", "cif") -> file
    scores_path: Path
    iptm: float | None = None  # complexes only
    relaxed_path: Path | None = None  # the Amber-relaxed PDB, when relaxation was asked for and worked

    @property
    def structure_path(self) -> Path:
        """The PDB file when one was written, else the first format's file."""
        return self.structure_paths.get("pdb") or next(iter(self.structure_paths.values()))


@dataclasses.dataclass(frozen=True)
class PredictionResult:
    """Files written by `run_prediction` and the scores that ranked them."""

    output_dir: Path
    models: list[RankedModel]
    msa_summary: dict[str, Any]
    timings: dict[str, Any]
    ranking_path: Path
    timings_path: Path
    plots: dict[str, Path] = dataclasses.field(default_factory=dict)  # plddt, pae, coverage -> PNG
    summary_path: Path | None = None  # summary.json (summary.txt beside it)

    @property
    def best(self) -> RankedModel:
        return self.models[0]
