"""What a prediction returns: ranked models with their files, and what those files hold (no jax needed to use it)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any


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
    # What those files hold, as written: format -> structure text, the scores (scores_rank_{i}.json), the
    # relaxed structure's text.
    structures: dict[str, str] = dataclasses.field(default_factory=dict, repr=False)
    scores: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False)
    relaxed: str | None = dataclasses.field(default=None, repr=False)

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
    summary: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False)  # what summary.json holds
    ranking: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False)  # what ranking.json holds

    @property
    def best(self) -> RankedModel:
        return self.models[0]
