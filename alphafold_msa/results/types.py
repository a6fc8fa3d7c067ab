"""What a prediction returns: ranked models with their files, and what those files hold (no jax needed to use it)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

# A file named as ColabFold names a ranked model's (colabfold_tag, relaxed_ or scores_ before it).
COLABFOLD_NAME = re.compile(r"(relaxed_|scores_)?rank_\d{3,}_.+")


def colabfold_tag(rank: int, model_name: str, seed: int, msa_cluster: str | None = None) -> str:
    """ColabFold's name for a ranked model's files, rank counted from 1: rank_001_model_3_ptm_seed_000
    for rank 0 (ranked_0.pdb); a sample of an AF-Cluster alignment ends in its name (..._seed_000_msa_003)."""
    return f"rank_{rank + 1:03d}_{model_name}_seed_{seed:03d}{msa_suffix(msa_cluster)}"


def sample_label(model_name: str, seed: int, msa_cluster: str | None) -> str:
    """'model_1_ptm_seed_003' (and its AF-Cluster alignment: ..._seed_003_msa_012): a sample's name."""
    return f"{model_name}_seed_{seed:03d}{msa_suffix(msa_cluster)}"


def msa_suffix(msa_cluster: str | None) -> str:
    """'_msa_003' for a sample of AF-Cluster's cluster 003 (or control U10-000), '' for the alignment given."""
    return "" if msa_cluster is None else f"_msa_{msa_cluster}"


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
    msa_cluster: str | None = None  # the AF-Cluster alignment it was predicted from (msa_clusters), if any
    # What those files hold, as written: format -> structure text, the scores (scores_rank_{i}.json), the
    # relaxed structure's text: format -> text (PDB always, mmCIF when it is among the job's formats).
    structures: dict[str, str] = dataclasses.field(default_factory=dict, repr=False)
    scores: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False)
    relaxed_structures: dict[str, str] = dataclasses.field(default_factory=dict, repr=False)

    @property
    def relaxed(self) -> str | None:
        """The relaxed structure as PDB text, when it was relaxed."""
        return self.relaxed_structures.get("pdb")

    def final_structure(self, fmt: str) -> str:
        """The model as it should be used, in `fmt`: relaxed when it was, else as predicted."""
        return self.relaxed_structures.get(fmt) or self.structures[fmt]

    @property
    def sample(self) -> str:
        """Its sample's name, as samples.tsv gives it (samples.sample_name)."""
        return sample_label(self.model_name, self.seed, self.msa_cluster)

    @property
    def key(self) -> str:
        """Its name in ranking.json and the summary: model_1_ptm_seed_0, or model_1_ptm_seed_0_msa_003."""
        return f"{self.model_name}_seed_{self.seed}{msa_suffix(self.msa_cluster)}"

    @property
    def colabfold_tag(self) -> str:
        """What its ColabFold-named files are called after: rank_001_model_3_ptm_seed_000.pdb, relaxed_<tag>.pdb,
        scores_<tag>.json (copies of ranked_{i}.pdb, relaxed_rank_{i}.pdb, scores_rank_{i}.json)."""
        return colabfold_tag(self.rank, self.model_name, self.seed, self.msa_cluster)

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
