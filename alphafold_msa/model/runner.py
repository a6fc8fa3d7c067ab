"""A warm model runner: one compiled AlphaFold network per preset and length bucket, parameters swapped per model."""

from __future__ import annotations

import copy
import logging
import os
import threading
import time
import weakref
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from alphafold_msa import settings
from alphafold_msa.errors import ConfigError
from alphafold_msa.model import config as configs
from alphafold_msa.model import kernel_cases, kernel_check, memory, weights
from alphafold_msa.model import kernels as _kernels
from alphafold_msa.model.features import (
    FeatureDict,
    build_features,
    pad_residues,
    process_features,
    zero_recycling_inputs,
)
from alphafold_msa.protocol.schema import MODEL_NUMBERS

logger = logging.getLogger(__name__)

# With ALPHAFOLD_MSA_SAMPLES_PER_CALL=auto on a GPU, one network call holds samples up to this many residues in all
# (a 128-residue length bucket: 8 samples; 384: 2; from 513 residues: one), as many as fit in device memory.
BATCH_RESIDUES = 1024


class ModelRunner:
    """Runs the five models of one preset under one model config; reused across jobs.

    With `bucketing` (the default), the sequence length and the MSA crops are rounded up to
    buckets so that jobs share compilations; without it, a job runs at its exact length with
    AlphaFold's fixed MSA crops.
    """

    def __init__(self, param_dir: str | os.PathLike, model_config: str = "full", preset: str = "monomer_ptm",
                 bucketing: bool = True, bfloat16: bool = True, kernels: str | None = None,
                 compile_mode: str | None = None):
        self.param_dir = Path(param_dir)
        self.model_config = configs.resolve_model_config(model_config)
        self.preset = preset
        self.bucketing = bucketing
        self.requested_kernels = _kernels.resolve_kernels(kernels)
        self.compile_mode = _kernels.resolve_compile_mode(compile_mode)
        if not bfloat16 and self.requested_kernels in _kernels.FUSED_PATHS:
            raise ConfigError(f"kernels '{self.requested_kernels}' need the bfloat16 network")
        self.bfloat16 = bfloat16
        self.network_config = configs.network_config(preset, self.model_config, bfloat16)
        # Jobs with templates run their template-aware models through a second network.
        self.template_config = configs.network_config(preset, self.model_config, bfloat16, templates=True)
        # RunModel keeps (and predict mutates) its config object, so keep the default apart.
        self._default_early_stop = self.network_config.model.recycle_early_stop_tolerance
        self._networks: dict[str, Any] = {}
        self._kernel_record: dict[str, Any] | None = None
        self._params: dict[str, Any] = {}
        self._shapes_seen: set[tuple] = set()
        self._batched: weakref.WeakKeyDictionary[Any, Callable] = weakref.WeakKeyDictionary()  # by network
        self.counters: Counter[str] = Counter()
        # predict swaps parameters into, and sets recycling on, the shared network, and the fork keeps its
        # kernel choice in module globals while tracing: one call at a time across every runner.
        self._lock = _NETWORK_LOCK

    def names(self, numbers: Sequence[int]) -> list[str]:
        return [configs.model_name(n, self.preset) for n in numbers]

    def check_weights(self, numbers: Sequence[int]) -> None:
        """Fail before any compute if a requested parameter file is missing."""
        weights.check_present(self.param_dir, self.names(numbers))

    def check_memory(self, length: int, numbers: Sequence[int]) -> None:
        """Refuse, before any compute, a query whose estimated peak memory does not fit the device."""
        kept_loaded = len(set(self._params) | set(self.names(numbers)))
        available, where = memory.device_memory()
        memory.check_fits(length, self.model_config, kept_loaded, available, where, self.memory_table())

    def memory_table(self) -> memory.MemoryTable:
        """The table of device memory by length to plan this runner's jobs with: its device's, its network's."""
        return memory.table_for(_kernels.current_device().platform, self.model_config,
                                "multimer" if self.multimer else "monomer", self.kernels)

    def uses_templates(self, number: int) -> bool:
        """Whether model `number` of this preset reads templates (see config.template_models)."""
        return number in configs.template_models(self.preset)

    def config(self, templates: bool = False):
        """The template-free network's config, or with `templates` the template-aware one."""
        return self.template_config if templates else self.network_config

    def params(self, number: int, templates: bool = False) -> Any:
        """The parameters of model `number`, loaded once and kept on the device; their template
        modules only for the template-aware network."""
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
        return self._params[name] if templates else weights.without_templates(self._params[name])

    def counter_snapshot(self) -> dict[str, int]:
        """The counters as they are now (read under the runner's lock)."""
        with self._lock:
            return dict(self.counters)

    def msa_crops(self, depth: int, max_msa: tuple[int, int] | None = None) -> tuple[int, int]:
        """(MSA clusters, extra MSA rows) for an alignment of `depth` rows: fitted to it and bucketed, at most
        the job's `max_msa` (clusters, extra) or else the config's."""
        data = self.network_config.data
        clusters, extra = max_msa or (int(data.eval.max_msa_clusters), int(data.common.max_extra_msa))
        return configs.msa_crops(depth, clusters, extra, bucketing=self.bucketing)

    @property
    def multimer(self) -> bool:
        return configs.is_multimer(self.preset)

    def process(self, raw: FeatureDict, num_recycle: int, random_seed: int, templates: bool = False,
                max_msa: tuple[int, int] | None = None) -> FeatureDict:
        """Model-ready features for one seed: one MSA sample per recycle, cropped to at most `max_msa`
        (AlphaFold-Multimer samples inside the model, so its features pass through unchanged); the
        template features are kept only for the template-aware network (`templates`)."""
        if self.multimer:
            return raw
        crops = self.msa_crops(len(raw["msa"]), max_msa)
        with _FEATURES_LOCK:
            processed = process_features(raw, self.config(templates), num_recycle, random_seed, crops)
        if "asym_id" in raw:  # chains of a pTM complex
            processed["asym_id"] = np.tile(raw["asym_id"], (len(processed["aatype"]), 1))
        return processed

    @property
    def kernels(self) -> str:
        """The kernel path this runner's network uses ('xla', 'pallas', 'cuda_legacy'), chosen on first use."""
        return self.kernel_record["path"]

    @property
    def kernel_record(self) -> dict[str, Any]:
        """What was requested, the path chosen and the self-check's verdict when one applied."""
        with self._lock:
            if self._kernel_record is None:
                self._kernel_record = self._select_kernels()
            return self._kernel_record

    def _select_kernels(self) -> dict[str, Any]:
        """Choose the kernel path (running the self-check when needed), keep only its network and return
        the record of the choice."""
        device = _kernels.current_device()
        # The fused kernels run in bfloat16 only: a float32 network stays on plain XLA.
        requested = "xla" if self.requested_kernels == "auto" and not self.bfloat16 else self.requested_kernels
        path, record = kernel_check.select(requested, device, self.param_dir / kernel_check.CHECK_FOLDER,
                                           self.self_check, network=f"{self.preset}/{self.model_config}/"
                                                                   f"{self.compile_mode}")
        self._networks = {key: net for key, net in self._networks.items()
                          if key.partition("-")[0] == path and "float32" not in key}
        logger.info("kernels: %s (requested %s) on %s", path, self.requested_kernels, device.name)
        return {**record, "requested": self.requested_kernels, "compile_mode": self.compile_mode,
                "device": device.name}

    def network(self, path: str, bfloat16: bool | None = None, templates: bool = False,
                max_msa: tuple[int, int] | None = None, dropout: bool = False) -> Any:
        """The network (alphafold's RunModel, compiled on first call) for kernel path `path`, built once;
        `bfloat16=False` gives the float32 network the self-check measures against, `templates` the
        template-aware one, `max_msa` AlphaFold-Multimer's with those MSA crops (a monomer network's crops
        are its features' shapes: it needs no network of its own), `dropout` one with evaluation-time dropout
        (the fork's global_config.eval_dropout, as ColabFold's --use-dropout)."""
        key = path if bfloat16 is None or bfloat16 == self.bfloat16 else f"{path}-float32"
        key += "-templates" if templates else ""
        crops = max_msa if self.multimer else None
        key += f"-msa{crops[0]}x{crops[1]}" if crops else ""
        key += "-dropout" if dropout else ""
        with self._lock:
            return self._networks.get(key) or self._build_network(key, path, bfloat16, templates, crops, dropout)

    def _build_network(self, key: str, path: str, bfloat16: bool | None, templates: bool,
                       msa_crops: tuple[int, int] | None, dropout: bool) -> Any:
        from alphafold.model import model

        device = _kernels.current_device()
        config = copy.deepcopy(self.config(templates))
        config.model.global_config.eval_dropout = dropout
        if msa_crops:
            evo = config.model.embeddings_and_evoformer
            evo.num_msa, evo.num_extra_msa = msa_crops
        config.model.global_config.bfloat16 = self.bfloat16 if bfloat16 is None else bfloat16
        config.model.global_config.update(_kernels.global_config_settings(path, device))
        # The fork trims a length bucket's padding in its packed attention kernel.
        config.model.global_config.length_buckets = self.bucketing and not self.multimer
        self._networks[key] = model.RunModel(config, jit_kwargs=_kernels.jit_kwargs(self.compile_mode, device))
        return self._networks[key]

    def self_check(self, fused_path: str) -> dict[str, dict]:
        """The fixed self-check input through `fused_path`, plain XLA and plain XLA in float32 (the reference)."""
        number = next((n for n in MODEL_NUMBERS
                       if weights.params_file(self.param_dir, self.names([n])[0]).is_file()), 1)
        import jax

        raw = check_features(self.multimer)
        processed = self.process(raw, kernel_check.CHECK_RECYCLES, random_seed=0)

        def run(network: Any) -> dict:
            return self._run(network, processed, number, kernel_check.CHECK_RECYCLES, 0, 0.0)[0]

        with jax.default_matmul_precision("highest"):  # float32 products, not TF32, for the reference
            outputs = {"reference": run(self.network("xla", bfloat16=False))}
        self._networks.pop("xla-float32", None)
        outputs["xla"] = run(self.network("xla"))
        try:
            outputs["fused"] = run(self.network(fused_path))
        except Exception as error:  # a fused kernel that fails to compile or run fails the check
            outputs["fused"] = {"error": f"{type(error).__name__}: {error}"}
            return outputs
        device = _kernels.current_device()
        module_config = configs.network_config("monomer_ptm", self.model_config, templates=True).model
        plain = _kernels.global_config_settings("xla", device)
        outputs["modules"] = kernel_cases.run_cases(
            module_config.global_config, module_config.embeddings_and_evoformer,
            {"fused": {**_kernels.global_config_settings(fused_path, device), "bfloat16": True},
             "xla": {**plain, "bfloat16": True}, "reference": {**plain, "bfloat16": False}})
        if not self.multimer:  # the input as one of a batch
            try:
                seeds = list(range(1, kernel_check.CHECK_BATCH)) + [0]  # the check's own input last
                batch = [self.process(raw, kernel_check.CHECK_RECYCLES, seed) for seed in seeds[:-1]] + [processed]
                outputs["batched"] = self._run_batch(self.network(fused_path), batch, number,
                                                     kernel_check.CHECK_RECYCLES, seeds, 0.0, count=False)[-1][0]
            except Exception as error:  # a batch that fails leaves the worker on one sample per call
                outputs["batched"] = {"error": f"{type(error).__name__}: {error}"}
        return outputs

    def predict(
        self,
        processed: FeatureDict,
        number: int,
        num_recycle: int,
        random_seed: int,
        recycle_early_stop_tolerance: float | None = None,
        on_compile: Callable[[int], None] | None = None,
        templates: bool = False,
        max_msa: tuple[int, int] | None = None,
        dropout: bool = False,
    ) -> tuple[dict, int]:
        """Run model `number` (through the template-aware network with `templates`, on features
        processed for it, with at most `max_msa` MSA clusters and extra rows, with evaluation-time `dropout`
        drawn from `random_seed`); returns AlphaFold's output dict (for the real length) and the recycles done.

        The features are padded to the length bucket, so nearby lengths reuse one compilation;
        outputs are cut back to the query's residues. `on_compile(length)` is called first when
        this run compiles the network (a shape not seen before).
        """
        if templates and not self.uses_templates(number):
            raise ConfigError(f"model {number} of the {self.preset} set was trained without templates")
        network = self.network(self.kernels, templates=templates, max_msa=max_msa, dropout=dropout)
        return self._run(network, processed, number, num_recycle, random_seed, recycle_early_stop_tolerance,
                         count=True, on_compile=on_compile, templates=templates, max_msa=max_msa, dropout=dropout)

    def predict_batch(
        self,
        processed: Sequence[FeatureDict],
        number: int,
        num_recycle: int,
        random_seeds: Sequence[int],
        recycle_early_stop_tolerance: float | None = None,
        on_compile: Callable[[int], None] | None = None,
        templates: bool = False,
        max_msa: tuple[int, int] | None = None,
        dropout: bool = False,
    ) -> list[tuple[dict, int]]:
        """Model `number` on several samples in one network call per recycle: `processed[i]` (features of one
        query, processed for seed `random_seeds[i]`, all of one shape) with `random_seeds[i]` (`max_msa`: for
        AlphaFold-Multimer, which runs them one at a time). The network runs once over the batch (jax.vmap) and
        each sample keeps the output of the recycle where it alone would have stopped: for each, the computation
        `predict` does for it alone, its sums in an order XLA may choose otherwise for a batch (bfloat16 rounds
        them differently: within bfloat16's noise, identical where XLA keeps the order). A monomer network only;
        one sample is `predict`."""
        if len(processed) != len(random_seeds):
            raise ValueError(f"{len(processed)} feature sets for {len(random_seeds)} seeds")
        if len(processed) == 1 or self.multimer:
            return [self.predict(features, number, num_recycle, seed, recycle_early_stop_tolerance, on_compile,
                                 templates, max_msa, dropout) for features, seed in zip(processed, random_seeds)]
        if templates and not self.uses_templates(number):
            raise ConfigError(f"model {number} of the {self.preset} set was trained without templates")
        network = self.network(self.kernels, templates=templates, dropout=dropout)
        return self._run_batch(network, processed, number, num_recycle, random_seeds, recycle_early_stop_tolerance,
                               on_compile, templates, dropout)

    def samples_per_call(self, length: int, numbers: Sequence[int], feature_bytes: int = 0) -> int:
        """How many samples of one model run in one network call at `length` (with models `numbers` loaded; each
        sample's features of one recycle, `feature_bytes`, on the device beside its working memory): at most
        $ALPHAFOLD_MSA_SAMPLES_PER_CALL, or with `auto` on a GPU up to BATCH_RESIDUES residues per call (on a CPU
        one: two cores gained 10-30% from a batch of four at 24-40 residues, for four times the memory), never
        more than MAX_SAMPLES_PER_CALL nor than fit in device memory. One for AlphaFold-Multimer, for the CUDA
        legacy kernels, and for the fused kernels unless their self-check found a sample run in a batch as close
        to float32 as the fused path itself must be."""
        if self.multimer:
            return 1
        record = self.kernel_record
        if record["path"] == "cuda_legacy" or (record["path"] != "xla" and not record.get("check", {}).get(
                "batched", {}).get("passed", False)):
            return 1
        most = settings.samples_per_call()
        if most is None:
            if _kernels.current_device().platform != "gpu":
                return 1
            most = min(settings.MAX_SAMPLES_PER_CALL, max(1, BATCH_RESIDUES // configs.bucket_length(length)))
        if most == 1:
            return 1
        kept_loaded = len(set(self._params) | set(self.names(numbers)))
        available, _ = memory.device_memory()
        return memory.samples_fitting(length, self.model_config, kept_loaded, available, most, self.memory_table(),
                                      feature_bytes)

    def _run_batch(self, network: Any, processed: Sequence[FeatureDict], number: int, num_recycle: int,
                   random_seeds: Sequence[int], recycle_early_stop_tolerance: float | None,
                   on_compile: Callable[[int], None] | None = None, templates: bool = False,
                   dropout: bool = False, count: bool = True) -> list[tuple[dict, int]]:
        length = processed[0]["aatype"].shape[1]
        padded_length = configs.bucket_length(length) if self.bucketing else length
        shapes = {tuple(sorted((k, v.shape) for k, v in features.items())) for features in processed}
        if len(shapes) != 1:
            raise ValueError("a batch's samples must have features of one shape (one query, one MSA crop)")
        stacked = _stacked(processed, self.config(templates), padded_length)
        signature = (dropout, len(processed), *sorted((k, v.shape[2:]) for k, v in stacked.items()))
        with self._lock:
            network.params = self.params(number, templates)
            if count:
                self._count_compilation(signature, length, padded_length, on_compile, len(processed))
            outputs = _run_batched(self._batched_apply(network), network.params, stacked, random_seeds, num_recycle,
                                   int(network.config.data.eval.num_ensemble),
                                   self._tolerance(recycle_early_stop_tolerance),
                                   float(network.config.model.stop_at_score))
            self.counters["predictions"] += len(processed) if count else 0
        return [(unpad_result(result, length), recycles) for result, recycles in outputs]

    def _batched_apply(self, network: Any) -> Callable:
        """`network`'s step (one recycle) mapped over a batch of samples (keys and features; parameters shared),
        compiled as the network is (its compile mode: the compiler options go on the outermost jit)."""
        import jax

        if network not in self._batched:
            self._batched[network] = jax.jit(jax.vmap(network.apply.__wrapped__, in_axes=(None, 0, 0)),
                                             **_kernels.jit_kwargs(self.compile_mode, _kernels.current_device()))
        return self._batched[network]

    def _run(self, model: Any, processed: FeatureDict, number: int, num_recycle: int, random_seed: int,
             recycle_early_stop_tolerance: float | None, count: bool = False,
             on_compile: Callable[[int], None] | None = None, templates: bool = False,
             max_msa: tuple[int, int] | None = None, dropout: bool = False) -> tuple[dict, int]:
        if self.multimer:
            # Complexes run at their exact length; the MSA is sampled to fixed shapes outside the network.
            length = padded_length = processed["aatype"].shape[0]
            signature: tuple = (length, templates, max_msa, dropout)
        else:
            length = processed["aatype"].shape[1]
            padded_length = configs.bucket_length(length) if self.bucketing else length
            if padded_length != length:
                processed = pad_residues(processed, self.config(templates), padded_length)
            # Each recycle runs on a [1, ...] slice, so shapes past the recycle axis decide compilation.
            signature = (dropout, *sorted((k, v.shape[1:]) for k, v in processed.items()))
        with self._lock:
            model.params = self.params(number, templates)
            model.config.model.num_recycle = num_recycle
            model.config.model.recycle_early_stop_tolerance = self._tolerance(recycle_early_stop_tolerance)
            if count:
                self._count_compilation(signature, length, padded_length, on_compile)
            result, recycles = model.predict(processed, random_seed=random_seed)
            if count:
                self.counters["predictions"] += 1
        return unpad_result(result, length), int(recycles)

    def _tolerance(self, recycle_early_stop_tolerance: float | None) -> float:
        """A job's recycle early-stop tolerance, or the network config's default."""
        return self._default_early_stop if recycle_early_stop_tolerance is None else recycle_early_stop_tolerance

    def _count_compilation(self, signature: tuple, length: int, padded_length: int,
                           on_compile: Callable[[int], None] | None, samples: int = 1) -> None:
        """Count a run of network shape `signature`: a compilation (logged, `on_compile(length)` called) the first
        time, a cache hit after. Called under the runner's lock."""
        if signature in self._shapes_seen:
            self.counters["compile_cache_hits"] += 1
            return
        self._shapes_seen.add(signature)
        self.counters["compilations"] += 1
        of = f"{samples} samples of " if samples > 1 else ""
        logger.info("compiling for %s%d residues (bucket of %d)", of, length, padded_length)
        if on_compile is not None:
            on_compile(length)


def _stacked(processed: Sequence[FeatureDict], network_config: Any, padded_length: int) -> FeatureDict:
    """The samples' features on a leading axis, each padded to `padded_length` residues (one feature at a time,
    so no padded copy of the whole batch is held beside it)."""
    stacked = {}
    for name in processed[0]:
        stacked[name] = np.stack([pad_residues({name: features[name]}, network_config, padded_length)[name]
                                  for features in processed])
    return stacked


def _run_batched(apply: Callable, params: Any, stacked: FeatureDict, random_seeds: Sequence[int], num_recycle: int,
                 num_ensemble: int, tolerance: float, stop_at_score: float) -> list[tuple[dict, int]]:
    """The monomer network's recycling loop (alphafold's RunModel.predict) over a batch: `stacked` holds each
    sample's features on a leading axis, `apply(params, keys, batch)` runs one recycle of all of them. Each sample
    draws the keys its seed draws alone and stops where it alone stops (ranking confidence above
    `stop_at_score`, or, after the first recycle, a change below `tolerance`); its output is that recycle's."""
    import jax
    import jax.numpy as jnp

    count, length = len(random_seeds), stacked["aatype"].shape[2]
    prev = zero_recycling_inputs(length, lambda shape, dtype: jnp.zeros((count, *shape), dtype))
    keys = jnp.stack([jax.random.PRNGKey(seed) for seed in random_seeds])
    kept: list[tuple[Any, int] | None] = [None] * count
    for recycle in range(num_recycle + 1):
        split = jax.vmap(jax.random.split)(keys)
        keys, step_keys = split[:, 0], split[:, 1]
        # one recycle's features on the device at a time
        step = jax.device_put({name: value[:, recycle * num_ensemble:(recycle + 1) * num_ensemble]
                               for name, value in stacked.items()})
        result = apply(params, step_keys, {**step, "prev": prev})
        prev = result.pop("prev")
        confidence, change = jax.device_get((result["ranking_confidence"], result["tol"]))
        for index in range(count):
            last = recycle == num_recycle or confidence[index] > stop_at_score or (
                recycle > 0 and change[index] < tolerance)
            if kept[index] is None and last:
                kept[index] = (jax.tree_util.tree_map(lambda value, i=index: value[i], result), recycle)
        if all(entry is not None for entry in kept):
            break
    return [(jax.device_get(result), recycles) for result, recycles in kept]  # type: ignore[misc]


def check_features(multimer: bool) -> FeatureDict:
    """The self-check's fixed input: a generated CHECK_LENGTH-residue query and CHECK_DEPTH - 1 homologs."""
    from alphafold_msa.msa import from_sequences

    rng = np.random.default_rng(0)
    letters = np.array(list("ACDEFGHIKLMNPQRSTVWY"))
    query = rng.choice(letters, kernel_check.CHECK_LENGTH)
    rows = np.repeat(query[None], kernel_check.CHECK_DEPTH, axis=0)
    mutate = rng.random(rows.shape) < 0.3
    rows[mutate] = rng.choice(letters, int(mutate.sum()))
    rows[0] = query
    msa = from_sequences(["".join(row) for row in rows])
    if not multimer:
        return build_features(msa)
    from alphafold_msa.model.complex_features import build_multimer_features
    from alphafold_msa.msa import ComplexMsa

    return build_multimer_features(ComplexMsa((msa,), (1,), None, "kernel self-check"))


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


_NETWORK_LOCK = threading.RLock()
# The fork's feature pipeline seeds and draws from module-global random state: one call at a time, apart
# from the network's lock so that one job's features are processed while another job's network runs.
_FEATURES_LOCK = threading.Lock()


class RunnerCache:
    """Model runners by weights folder, config, preset, kernels and compile mode, created on first use.

    Whoever serves many jobs keeps one (the worker for its process, the launcher for a local batch),
    so later jobs reuse loaded parameters and compiled networks.
    """

    def __init__(self) -> None:
        self._runners: dict[tuple, ModelRunner] = {}
        self._lock = threading.Lock()

    def get(self, param_dir: str | os.PathLike, model_config: str | None = None, preset: str = "monomer_ptm",
            kernels: str | None = None, compile_mode: str | None = None) -> ModelRunner:
        """The runner for these settings (unset ones from the environment)."""
        key = (str(Path(param_dir).resolve()), configs.resolve_model_config(model_config), preset,
               _kernels.resolve_kernels(kernels), _kernels.resolve_compile_mode(compile_mode))
        with self._lock:
            if key not in self._runners:
                self._runners[key] = ModelRunner(param_dir, key[1], preset, kernels=key[3], compile_mode=key[4])
            return self._runners[key]
