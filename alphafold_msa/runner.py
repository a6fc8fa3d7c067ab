"""A warm model runner: one compiled AlphaFold network per process, parameters swapped per model."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from alphafold_msa import config as configs
from alphafold_msa import memory, weights
from alphafold_msa.features import FeatureDict, pad_residues, process_features

logger = logging.getLogger(__name__)


class ModelRunner:
    """Runs the five models of one preset under one model config; reused across jobs.

    With `bucketing` (the default), the sequence length and the MSA crops are rounded up to
    buckets so that jobs share compilations; without it, a job runs at its exact length with
    AlphaFold's fixed MSA crops.
    """

    def __init__(self, param_dir: str | os.PathLike, model_config: str = "full", preset: str = "monomer_ptm",
                 bucketing: bool = True, bfloat16: bool = True):
        from alphafold.model import model

        self.param_dir = Path(param_dir)
        self.model_config = configs.resolve_model_config(model_config)
        self.preset = preset
        self.bucketing = bucketing
        self.network_config = configs.network_config(preset, self.model_config, bfloat16)
        # RunModel keeps (and predict mutates) this config object, so keep the default apart.
        self._default_early_stop = self.network_config.model.recycle_early_stop_tolerance
        self._model = model.RunModel(self.network_config)
        self._params: dict[str, Any] = {}
        self._shapes_seen: set[tuple] = set()
        self.counters: Counter[str] = Counter()

    def names(self, numbers: Sequence[int]) -> list[str]:
        return [configs.model_name(n, self.preset) for n in numbers]

    def check_weights(self, numbers: Sequence[int]) -> None:
        """Fail before any compute if a requested parameter file is missing."""
        weights.check_present(self.param_dir, self.names(numbers))

    def check_memory(self, length: int, numbers: Sequence[int]) -> None:
        """Refuse, before any compute, a query whose estimated peak memory does not fit the device."""
        kept_loaded = len(set(self._params) | set(self.names(numbers)))
        available, where = memory.device_memory()
        memory.check_fits(length, self.model_config, kept_loaded, available, where)

    def params(self, number: int) -> Any:
        """The parameters of model `number`, loaded once and kept on the device."""
        name = configs.model_name(number, self.preset)
        if name not in self._params:
            import jax

            start = time.perf_counter()
            loaded = weights.load_params(self.param_dir, name, self.network_config, self.model_config)
            self._params[name] = jax.device_put(loaded)
            self.counters["params_loaded"] += 1
            logger.info("loaded %s in %.1f s", name, time.perf_counter() - start)
        else:
            self.counters["params_cache_hits"] += 1
        return self._params[name]

    def msa_crops(self, depth: int) -> tuple[int, int]:
        """(MSA clusters, extra MSA rows) for an alignment of `depth` rows: fitted to it and bucketed."""
        data = self.network_config.data
        return configs.msa_crops(depth, data.eval.max_msa_clusters, data.common.max_extra_msa, self.bucketing)

    @property
    def multimer(self) -> bool:
        return self.preset == "multimer"

    def process(self, raw: FeatureDict, num_recycle: int, random_seed: int) -> FeatureDict:
        """Model-ready features for one seed: one MSA sample per recycle (AlphaFold-Multimer samples
        inside the model, so its features pass through unchanged)."""
        if self.multimer:
            return raw
        crops = self.msa_crops(len(raw["msa"]))
        processed = process_features(raw, self.network_config, num_recycle, random_seed, crops)
        if "asym_id" in raw:  # chains of a pTM complex
            processed["asym_id"] = np.tile(raw["asym_id"], (len(processed["aatype"]), 1))
        return processed

    def predict(
        self,
        processed: FeatureDict,
        number: int,
        num_recycle: int,
        random_seed: int,
        recycle_early_stop_tolerance: float | None = None,
    ) -> tuple[dict, int]:
        """Run model `number`; returns AlphaFold's output dict (for the real length) and the recycles done.

        The features are padded to the length bucket, so nearby lengths reuse one compilation;
        outputs are cut back to the query's residues.
        """
        model = self._model
        model.params = self.params(number)
        model.config.model.num_recycle = num_recycle
        model.config.model.recycle_early_stop_tolerance = (
            self._default_early_stop if recycle_early_stop_tolerance is None else recycle_early_stop_tolerance)
        if self.multimer:
            # Complexes run at their exact length; the MSA is sampled to fixed shapes outside the network.
            length = padded_length = processed["aatype"].shape[0]
            signature = (length,)
        else:
            length = processed["aatype"].shape[1]
            padded_length = configs.bucket_length(length) if self.bucketing else length
            if padded_length != length:
                processed = pad_residues(processed, self.network_config, padded_length)
            # Each recycle runs on a [1, ...] slice, so shapes past the recycle axis decide compilation.
            signature = tuple(sorted((k, v.shape[1:]) for k, v in processed.items()))
        if signature not in self._shapes_seen:
            self._shapes_seen.add(signature)
            self.counters["compilations"] += 1
            logger.info("compiling for %d residues (bucket of %d)", length, padded_length)
        else:
            self.counters["compile_cache_hits"] += 1
        result, recycles = model.predict(processed, random_seed=random_seed)
        self.counters["predictions"] += 1
        return unpad_result(result, length), int(recycles)


def unpad_result(result: dict, length: int) -> dict:
    """The outputs a prediction is written from, cut to the first `length` residues."""
    fold = result["structure_module"]
    out = {
        "plddt": result["plddt"][:length],
        "structure_module": {"final_atom_positions": fold["final_atom_positions"][:length],
                             "final_atom_mask": fold["final_atom_mask"][:length]},
    }
    if "predicted_aligned_error" in result:
        out["predicted_aligned_error"] = result["predicted_aligned_error"][:length, :length]
        out["ptm"] = result["ptm"]
    if "iptm" in result:
        out["iptm"] = result["iptm"]
    return out


_RUNNERS: dict[tuple, ModelRunner] = {}
_RUNNERS_LOCK = threading.Lock()


def get_runner(param_dir: str | os.PathLike, model_config: str | None = None, preset: str = "monomer_ptm") -> ModelRunner:
    """The process-wide runner for these settings, created on first use."""
    key = (str(Path(param_dir).resolve()), configs.resolve_model_config(model_config), preset)
    with _RUNNERS_LOCK:
        if key not in _RUNNERS:
            _RUNNERS[key] = ModelRunner(param_dir, key[1], preset)
        return _RUNNERS[key]
