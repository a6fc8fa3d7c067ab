"""Writing predictions: ranked PDB files with pLDDT B-factors, scores JSON, ranking and timings."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from alphafold_msa.files import write_atomic
from alphafold_msa.model.features import FeatureDict
from alphafold_msa.model.relax import RelaxOutcome
from alphafold_msa.protocol.output import DEMO_WEIGHTS_NOTE
from alphafold_msa.results.types import RankedModel, colabfold_tag, msa_suffix


@dataclasses.dataclass
class ModelPrediction:
    """One model's output, reduced to what is written and ranked."""

    model_name: str
    seed: int
    recycles: int
    plddt: np.ndarray
    ptm: float | None
    pae: np.ndarray | None
    structure: Any  # alphafold.common.protein.Protein
    predict_seconds: float
    iptm: float | None = None  # complexes only
    msa_cluster: str | None = None  # the AF-Cluster alignment it was predicted from (msa_clusters), if any

    @property
    def key(self) -> str:
        """Its name in ranking.json and timings.json: model_1_ptm_seed_0, model_1_ptm_seed_0_msa_003."""
        return f"{self.model_name}_seed_{self.seed}{msa_suffix(self.msa_cluster)}"

    def structure_text(self, fmt: str) -> str:
        """The model as PDB or mmCIF text, pLDDT in the B-factor column, chains A, B, ..."""
        from alphafold.common import protein

        if fmt == "cif":
            kind = "Multimer" if self.is_complex else "Monomer"
            return protein.to_mmcif(self.structure, self.key, kind)
        return protein.to_pdb(self.structure)

    @property
    def chain_index(self) -> np.ndarray:
        return np.asarray(self.structure.chain_index)

    @property
    def is_complex(self) -> bool:
        return len(np.unique(self.chain_index)) > 1

    @property
    def mean_plddt(self) -> float:
        return float(np.mean(self.plddt))

    @property
    def ranking_confidence(self) -> float:
        """0.8 ipTM + 0.2 pTM for complexes (AlphaFold-Multimer's ranking), else mean pLDDT."""
        if self.iptm is not None and self.ptm is not None:  # ipTM comes with pTM (AlphaFold-Multimer)
            return 0.8 * self.iptm + 0.2 * self.ptm
        return self.mean_plddt

    def interface_scores(self) -> dict[str, Any]:
        """ipSAE, pDockQ, pDockQ2, LIS, interface pLDDT and contacts per ordered chain pair and for the complex
        (results/interface.py), rounded to 4 decimals."""
        from alphafold.common import residue_constants
        from alphafold.common.protein import PDB_CHAIN_IDS

        from alphafold_msa.results.interface import interface_scores

        assert self.pae is not None, "a complex's model with PAE (scores)"
        positions = np.asarray(self.structure.atom_positions, float)
        glycine = np.asarray(self.structure.aatype) == residue_constants.restype_order["G"]
        atom = np.where(glycine, residue_constants.atom_order["CA"], residue_constants.atom_order["CB"])
        cb = positions[np.arange(len(positions)), atom]
        scores = interface_scores(self.pae, self.plddt, cb, self.chain_index, list(PDB_CHAIN_IDS))
        return _rounded(scores)

    def chain_scores(self) -> dict[str, Any]:
        """Per-chain mean pLDDT and the mean PAE of every ordered chain pair (rows: aligned chain)."""
        from alphafold.common.protein import PDB_CHAIN_IDS

        chains = np.unique(self.chain_index)
        masks = {PDB_CHAIN_IDS[c]: self.chain_index == c for c in chains}
        out: dict[str, Any] = {"chain_mean_plddt": {c: round(float(self.plddt[m].mean()), 2) for c, m in masks.items()}}
        if self.pae is not None:
            out["chain_pair_pae"] = {f"{a}-{b}": round(float(self.pae[np.ix_(ma, mb)].mean()), 2)
                                     for a, ma in masks.items() for b, mb in masks.items() if a != b}
        return out

    @property
    def max_pae(self) -> float | None:
        return None if self.pae is None else float(np.max(self.pae))

    def scores(self) -> dict[str, Any]:
        """ColabFold-compatible scores (plddt, max_pae, pae, ptm) plus model, seed (and AF-Cluster alignment) and
        recycles."""
        out: dict[str, Any] = {
            "model": self.model_name,
            "seed": self.seed,
            **({"msa_cluster": self.msa_cluster} if self.msa_cluster is not None else {}),
            "recycles": self.recycles,
            "mean_plddt": round(self.mean_plddt, 2),
            "plddt": np.round(self.plddt.astype(float), 2).tolist(),
        }
        if self.pae is not None and self.ptm is not None:  # set together (to_prediction)
            out["ptm"] = round(self.ptm, 4)
            out["max_pae"] = round(float(np.max(self.pae)), 2)
            out["pae"] = np.round(self.pae.astype(float), 2).tolist()
        if self.is_complex:
            if self.iptm is not None:
                out["iptm"] = round(self.iptm, 4)
                out["ranking_confidence"] = round(self.ranking_confidence, 4)
            out.update(self.chain_scores())
            if self.pae is not None:
                out["interface"] = self.interface_scores()
        return out


def to_prediction(model_name: str, seed: int, recycles: int, processed: FeatureDict, result: dict,
                  predict_seconds: float, msa_cluster: str | None = None) -> ModelPrediction:
    """Turn AlphaFold's output dict into a ModelPrediction with its PDB text (pLDDT in B-factors)."""
    from alphafold.common import protein

    plddt = np.asarray(result["plddt"], np.float32)
    atom_mask = np.asarray(result["structure_module"]["final_atom_mask"])
    per_recycle = processed["aatype"].ndim == 2  # monomer features carry a leading recycle axis
    features = {k: processed[k] for k in ("aatype", "residue_index")}
    if "asym_id" in processed:  # chains numbered from 0 (AlphaFold-Multimer counts from 1)
        asym_id = np.asarray(processed["asym_id"]).astype(np.int32)
        features["asym_id"] = asym_id - asym_id.min()
    structure = protein.from_prediction(
        features=features,
        result=result,
        b_factors=plddt[:, None] * atom_mask,
        remove_leading_feature_dimension=per_recycle,
    )
    has_pae = "predicted_aligned_error" in result
    prediction = ModelPrediction(
        model_name=model_name,
        seed=seed,
        recycles=recycles,
        plddt=plddt,
        ptm=float(result["ptm"]) if has_pae else None,
        pae=np.asarray(result["predicted_aligned_error"], np.float32) if has_pae else None,
        structure=structure,
        predict_seconds=predict_seconds,
        msa_cluster=msa_cluster,
    )
    if "iptm" in result and prediction.is_complex:
        prediction.iptm = float(result["iptm"])
    return prediction


def rank(predictions: list[ModelPrediction]) -> list[ModelPrediction]:
    """Most confident first: complexes by 0.8 ipTM + 0.2 pTM, monomers by mean pLDDT then pTM
    (AlphaFold's and ColabFold's rankings)."""
    return sorted(predictions, key=lambda p: (p.ranking_confidence, p.ptm or 0.0), reverse=True)


def demo_labelled(text: str, fmt: str) -> str:
    """A structure's text saying inside that it comes from random demo weights: a REMARK record
    first in a PDB file, a comment after the data block's name in mmCIF."""
    if fmt == "cif":
        first, _, rest = text.partition("\n")
        return f"{first}\n# {DEMO_WEIGHTS_NOTE}\n{rest}"
    return f"REMARK   1 {DEMO_WEIGHTS_NOTE}\n{text}"


def relaxed_text(pdb: str, prediction: ModelPrediction, fmt: str) -> str:
    """The relaxed structure (`pdb`, as Amber relaxation returns it) in `fmt`: mmCIF is written from its
    heavy atoms as the prediction's own mmCIF is."""
    if fmt == "pdb":
        return pdb
    from alphafold.common import protein

    relaxed = dataclasses.replace(prediction, structure=protein.from_pdb_string(pdb))
    return relaxed.structure_text(fmt)


def structure_texts(prediction: ModelPrediction, formats: Sequence[str], demo_weights: bool) -> dict[str, str]:
    """The prediction in each of `formats`, saying inside that the weights were random when they were."""
    return {fmt: demo_labelled(text, fmt) if demo_weights else text
            for fmt, text in ((fmt, prediction.structure_text(fmt)) for fmt in formats)}


def _write_copies(text: str, *paths: Path) -> None:
    """`text` into each of `paths` (one file under this project's name and ColabFold's)."""
    for path in paths:
        write_atomic(path, text)


def write_ranked(ranked: list[ModelPrediction], output_dir: Path, formats: Sequence[str] = ("pdb",),
                 relaxed: Mapping[int, RelaxOutcome] | None = None,
                 demo_weights: bool = False) -> tuple[list[RankedModel], dict[str, Any], Path]:
    """ranked_{i}.pdb (and/or .cif), scores_rank_{i}.json and ranking.json in `output_dir`; for each
    rank in `relaxed`, relaxed_rank_{i}.pdb when relaxation worked, and its record in the scores. Each
    model's files also under ColabFold's names (rank counted from 1): rank_001_model_3_ptm_seed_000.pdb,
    relaxed_rank_001_..., scores_rank_001_... . With `demo_weights`, every structure and score file says
    the weights were random. Returns the ranked models (with what their files hold), the ranking and its file."""
    relaxed = relaxed or {}
    label = demo_labelled if demo_weights else (lambda text, fmt: text)
    models = []
    for index, prediction in enumerate(ranked):
        scores = prediction.scores()
        if demo_weights:
            scores["demo_weights"] = True
        relaxed_texts = {}
        if index in relaxed:
            outcome = relaxed[index]
            scores["relax"] = outcome.info
            if outcome.pdb is not None:
                relaxed_texts = {fmt: label(relaxed_text(outcome.pdb, prediction, fmt), fmt)
                                 for fmt in relaxed_formats(formats)}
        models.append(write_rank(output_dir, index, structure_texts(prediction, formats, demo_weights), scores,
                                 relaxed_texts))
    complex_ranking = any(p.iptm is not None for p in ranked)
    ranking, ranking_path = write_ranking(output_dir, [(p.key, p.ptm, p.iptm) for p in ranked], models,
                                          complex_ranking)
    return models, ranking, ranking_path


def relaxed_formats(formats: Sequence[str]) -> tuple[str, ...]:
    """The formats a relaxed structure is written in: PDB always, then the job's others."""
    return ("pdb", *(fmt for fmt in formats if fmt != "pdb"))


def write_rank(output_dir: Path, rank: int, structures: Mapping[str, str], scores: dict[str, Any],
               relaxed_texts: Mapping[str, str]) -> RankedModel:
    """One ranked model's files: ranked_{rank}.<format> (`structures`), relaxed_rank_{rank}.<format> (when
    relaxed) and scores_rank_{rank}.json, each also under ColabFold's name; the RankedModel holding what they
    hold, its numbers as `scores` has them."""
    tag = colabfold_tag(rank, scores["model"], scores["seed"], scores.get("msa_cluster"))
    structure_paths = {fmt: output_dir / f"ranked_{rank}.{fmt}" for fmt in structures}
    for fmt, path in structure_paths.items():
        _write_copies(structures[fmt], path, output_dir / f"{tag}.{fmt}")
    relaxed_path = output_dir / f"relaxed_rank_{rank}.pdb" if relaxed_texts else None
    for fmt, text in relaxed_texts.items():
        _write_copies(text, output_dir / f"relaxed_rank_{rank}.{fmt}", output_dir / f"relaxed_{tag}.{fmt}")
    scores_path = output_dir / f"scores_rank_{rank}.json"
    _write_copies(json.dumps(scores), scores_path, output_dir / f"scores_{tag}.json")
    return RankedModel(rank=rank, model_name=scores["model"], seed=scores["seed"], recycles=scores["recycles"],
                       mean_plddt=scores["mean_plddt"], ptm=scores.get("ptm"), max_pae=scores.get("max_pae"),
                       iptm=scores.get("iptm"), structure_paths=structure_paths, scores_path=scores_path,
                       relaxed_path=relaxed_path, structures=dict(structures), scores=scores,
                       msa_cluster=scores.get("msa_cluster"), relaxed_structures=dict(relaxed_texts))


def write_ranking(output_dir: Path, exact: Sequence[tuple[str, float | None, float | None]],
                  models: Sequence[RankedModel], complex_ranking: bool) -> tuple[dict[str, Any], Path]:
    """ranking.json: the metric, the models in rank order (`exact`: each one's key, pTM and ipTM unrounded), their
    mean pLDDT, pTM and (a complex's) ipTM; the ranking and its file."""
    ranking: dict[str, Any] = {
        "metric": "0.8*iptm+0.2*ptm" if complex_ranking else "mean_plddt",
        "order": [key for key, _, _ in exact],
        "mean_plddt": {key: model.mean_plddt for (key, _, _), model in zip(exact, models)},
        "ptm": {key: ptm for key, ptm, _ in exact if ptm is not None},
    }
    if complex_ranking:
        ranking["iptm"] = {key: iptm for key, _, iptm in exact}
    ranking_path = output_dir / "ranking.json"
    write_atomic(ranking_path, json.dumps(ranking, indent=2))
    return ranking, ranking_path


def _rounded(value: Any) -> Any:
    """Floats rounded to 4 decimals, in nested dicts and lists."""
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    return [_rounded(item) for item in value] if isinstance(value, list) else value
