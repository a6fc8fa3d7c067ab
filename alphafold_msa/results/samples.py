"""A prediction's samples (each model for each seed) as they finish: one line each in samples.tsv, written
and flushed at once (a run stopped midway keeps the lines so far), samples.json at the end, every sample's
structure too with `save_all`, and only the `keep` most confident samples held in memory for ranking; of the
others, the Cα atoms and pLDDT of the ensemble.MAX_SAMPLES most confident, for the structural states (about 16
bytes per residue each)."""

from __future__ import annotations

import heapq
import itertools
import json
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from alphafold_msa.files import write_atomic
from alphafold_msa.results.ensemble import MAX_SAMPLES, Sample
from alphafold_msa.results.structures import ModelPrediction
from alphafold_msa.results.types import sample_label

SAMPLES_TSV, SAMPLES_JSON = "samples.tsv", "samples.json"
COLUMNS = ("sample", "model", "seed", "max_msa", "dropout", "msa_mask_fraction", "msa_cluster", "mean_plddt", "ptm",
           "iptm", "ranking_confidence", "recycles", "seconds")


def confidence_score(prediction: ModelPrediction) -> float:
    """Ranking confidence on ColabFold's --stop-at-score scale, 0-100: mean pLDDT for one chain,
    100 x (0.8 ipTM + 0.2 pTM) for a complex."""
    confidence = prediction.ranking_confidence
    return 100 * confidence if prediction.iptm is not None else confidence


def sample_name(prediction: ModelPrediction) -> str:
    """'model_1_ptm_seed_003': the sample's model and seed (and AF-Cluster alignment: ..._seed_003_msa_012)."""
    return sample_label(prediction.model_name, prediction.seed, prediction.msa_cluster)


def ensemble_sample(prediction: ModelPrediction) -> Sample:
    """A sample as the ensemble compares it: its Cα atoms, pLDDT and ranking confidence (0-100)."""
    from alphafold.common import residue_constants

    ca = np.asarray(prediction.structure.atom_positions, np.float32)[:, residue_constants.atom_order["CA"]]
    return Sample(sample_name(prediction), ca, prediction.plddt, confidence_score(prediction))


class SampleLog:
    """The samples of one prediction, in `folder`: `recipe` (max_msa, dropout, msa_mask_fraction) is recorded
    with each; `keep` bounds the samples held; `save` (format -> text of a sample) writes each sample's
    structure as sample_<model>_seed_<seed>.<format> when given; `compare` bounds the samples whose Cα atoms are
    held for the ensemble."""

    def __init__(self, folder: Path, recipe: dict[str, Any], keep: int,
                 save: Callable[[ModelPrediction], dict[str, str]] | None = None, compare: int = MAX_SAMPLES):
        self.folder, self.recipe, self.keep, self.save, self.compare = folder, recipe, keep, save, compare
        self.rows: list[dict[str, Any]] = []
        self._held: list[tuple[tuple[float, float, int], ModelPrediction]] = []  # a min-heap: least first
        self._compared: list[tuple[tuple[float, int], Sample]] = []  # a min-heap: least confident first
        self._passed_over: list[str] = []  # samples beyond `compare`, by name
        self._order = itertools.count()
        self._tsv = open(folder / SAMPLES_TSV, "w", encoding="utf-8")
        self._tsv.write("\t".join(COLUMNS) + "\n")

    def add(self, prediction: ModelPrediction, number: int | None = None) -> None:
        """Record one finished sample, `number` in the job's order (ties between equally confident samples go to
        the lower number; default: the order they are added in); hold it when it is among the `keep` most
        confident so far."""
        row = {"sample": sample_name(prediction), "model": prediction.model_name, "seed": prediction.seed,
               **self.recipe, "msa_cluster": prediction.msa_cluster, "mean_plddt": round(prediction.mean_plddt, 2),
               "ptm": _rounded(prediction.ptm), "iptm": _rounded(prediction.iptm),
               "ranking_confidence": round(confidence_score(prediction), 2), "recycles": prediction.recycles,
               "seconds": round(prediction.predict_seconds, 3)}
        self.rows.append(row)
        self._tsv.write("\t".join(_cell(row[column]) for column in COLUMNS) + "\n")
        self._tsv.flush()
        if self.save is not None:
            for fmt, text in self.save(prediction).items():
                write_atomic(self.folder / f"sample_{row['sample']}.{fmt}", text)
        # Ties keep the earlier sample (rank's order: confidence, then pTM); the keys are unique.
        order = -(next(self._order) if number is None else number)
        _keep_best(self._held, ((prediction.ranking_confidence, prediction.ptm or 0.0, order), prediction), self.keep)
        sample = ensemble_sample(prediction)
        left_out = _keep_best(self._compared, ((sample.confidence, order), sample), self.compare)
        if left_out is not None:
            self._passed_over.append(left_out[1].id)

    def kept(self) -> list[ModelPrediction]:
        """The samples held: the `keep` most confident, in the order they were run (so ranking them breaks ties
        the same way whichever job ran them)."""
        return [prediction for _, prediction in sorted(self._held, key=lambda entry: -entry[0][2])]

    def kept_numbers(self) -> dict[str, int]:
        """Each held sample's number (see `add`), by sample name."""
        return {sample_name(prediction): -key[2] for key, prediction in self._held}

    def ensemble(self) -> tuple[list[Sample], list[str]]:
        """What the ensemble compares: the `compare` most confident samples (Cα atoms, pLDDT, confidence; most
        confident first, ties in the order they finished), and the names of the others (sorted)."""
        return [sample for _, sample in sorted(self._compared, key=lambda entry: entry[0], reverse=True)], \
            sorted(self._passed_over)

    def close(self, stopped_early: str | None = None) -> None:
        """samples.json: every sample's line, the ones kept, and why sampling stopped early (if it did)."""
        self._tsv.close()
        kept = sorted(sample_name(p) for p in self.kept())
        record = {"columns": list(COLUMNS), "samples": self.rows, "kept": kept, "stopped_early": stopped_early}
        write_atomic(self.folder / SAMPLES_JSON, json.dumps(record, indent=1))


def _keep_best(heap: list, entry: tuple, most: int) -> tuple | None:
    """Add `entry` (key, item) to the min-heap `heap` of the `most` best; the entry left out, if any."""
    if len(heap) < most:
        heapq.heappush(heap, entry)
        return None
    if entry[0] > heap[0][0]:
        return heapq.heapreplace(heap, entry)
    return entry


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _cell(value: Any) -> str:
    """A TSV cell: empty for None, lists as 16:32, numbers and booleans as text."""
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ":".join(str(v) for v in value)
    return str(value).lower() if isinstance(value, bool) else str(value)


def recipe_of(max_msa: Sequence[int] | None, dropout: bool, msa_mask_fraction: float) -> dict[str, Any]:
    """The sampling recipe recorded with each sample."""
    return {"max_msa": list(max_msa) if max_msa else None, "dropout": dropout, "msa_mask_fraction": msa_mask_fraction}
