"""run_prediction: MSA -> features -> the monomer models -> ranked structures and scores on disk."""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence, TypeVar

import numpy as np

from alphafold_msa import settings
from alphafold_msa.errors import ConfigError, MsaError
from alphafold_msa.files import write_atomic
from alphafold_msa.model import config as configs
from alphafold_msa.model.complex_features import build_multimer_features, build_ptm_complex_features, concatenated_msa
from alphafold_msa.model.feature_memory import feature_depth, held_bytes
from alphafold_msa.model.features import FeatureDict, build_features, mask_msa_columns, processed_bytes
from alphafold_msa.model.relax import RelaxOutcome
from alphafold_msa.model.relax import relax as relax_structure
from alphafold_msa.model.runner import ModelRunner, RunnerCache
from alphafold_msa.model.templates import monomer_templates, multimer_templates, ptm_complex_templates
from alphafold_msa.model.weights import default_param_dir
from alphafold_msa.msa import ComplexMsa, Msa, read_input
from alphafold_msa.msa.clusters import (
    N_CONTROLS,
    Cluster,
    Control,
    MsaClustering,
    cluster_alignment,
    cluster_msa,
    clustering_summary,
    describe,
    groups,
    overview,
)
from alphafold_msa.msa.filter import check_length, filter_msa
from alphafold_msa.msa.limits import job_memory_bytes
from alphafold_msa.msa.pairing import pair_complex
from alphafold_msa.protocol.output import DEMO_WEIGHTS_PLOT_NOTE
from alphafold_msa.protocol.schema import COMPLEX_MODES
from alphafold_msa.protocol.spec import JobSpec, TemplateSpec
from alphafold_msa.results.ensemble import compare_limit, write_ensemble
from alphafold_msa.results.html_report import write_report
from alphafold_msa.results.input_summary import complex_summary, covered_ranges, msa_summary, template_summary
from alphafold_msa.results.job_record import (
    LOG_FILE,
    JobLog,
    software_versions,
    write_alignment,
    write_citations,
    write_config,
    write_msa_clusters,
)
from alphafold_msa.results.merge import write_part
from alphafold_msa.results.report import PlotDrawer, chain_boundaries, write_summary
from alphafold_msa.results.report import summary as report_summary
from alphafold_msa.results.samples import SampleLog, confidence_score, recipe_of, sample_name
from alphafold_msa.results.structures import ModelPrediction, rank, structure_texts, to_prediction, write_ranked
from alphafold_msa.results.types import PredictionResult
from alphafold_msa.structures.match import TemplateMatch, match_templates, query_targets

logger = logging.getLogger(__name__)
T = TypeVar("T")


def settle_pairing(msa: ComplexMsa, pairing: str | None) -> ComplexMsa:
    """The complex with its paired rows settled (`pairing`: species, none, file or None for the default),
    unless that was done already, as the launcher does before a prediction. The chains' rows as read
    (kept for sending a job) are let go: a prediction needs only the paired and unpaired blocks."""
    if msa.pairing is None:
        msa = pair_complex(msa, pairing)
    elif pairing is not None and pairing != msa.pairing.method:
        raise ConfigError(f"the complex was already paired by '{msa.pairing.method}', not '{pairing}'")
    settled = msa.pairing
    assert settled is not None, "pair_complex records how the complex was paired"
    return dataclasses.replace(msa, pairing=dataclasses.replace(settled, inputs=None))


def match_query_templates(msa: Msa | ComplexMsa, templates: Sequence[TemplateSpec]) -> list[TemplateMatch]:
    """The templates' chains matched to the query (or to the complex's chains, by chain id)."""
    if not templates:
        return []
    return match_templates(templates, query_targets(msa))


def _prepare(msa: Msa | ComplexMsa, complex_mode: str, max_msa_depth: int, seed: int,
             matches: Sequence[TemplateMatch] = (), featurize: bool = True
             ) -> tuple[FeatureDict, dict, Msa, Msa | ComplexMsa]:
    """(raw features, MSA summary, the filtered alignment as one Msa, the filtered alignment or complex) for a
    single chain or a complex (its chains' alignments concatenated: AlphaFold-Multimer's features in multimer
    mode), with the matched templates' features; without `featurize` (AF-Cluster runs its clusters' alignments,
    not the whole one), no features for one chain."""
    if isinstance(msa, Msa):
        filtered, record = filter_msa(msa, max_msa_depth, seed=seed)
        templates = monomer_templates(matches, msa.query_sequence) if matches and featurize else None
        raw = build_features(filtered, templates) if featurize else {}
        return raw, msa_summary(msa, filtered, record), filtered, filtered
    if complex_mode not in COMPLEX_MODES:
        raise ConfigError(f"complex mode must be one of {', '.join(COMPLEX_MODES)}, got '{complex_mode}'")
    kept = tuple(filter_msa(chain, max_msa_depth, seed=seed)[0] for chain in msa.chains)
    # Paired rows come best first (pairing.py) or as given: at most max_msa_depth of them, the queries included.
    paired = tuple(rows.take(np.arange(min(max_msa_depth, rows.depth))) for rows in msa.paired) if msa.paired else None
    kept_complex = dataclasses.replace(msa, chains=kept, paired=paired)
    alignment = concatenated_msa(kept_complex)
    summary = complex_summary(msa, kept_complex, complex_mode, alignment)
    chains = (msa.chain_ids, msa.sequences)
    if complex_mode == "multimer":
        chain_templates = multimer_templates(matches, *chains) if matches else None
        return build_multimer_features(kept_complex, chain_templates), summary, alignment, kept_complex
    complex_templates = ptm_complex_templates(matches, *chains) if matches else None
    features = build_ptm_complex_features(kept_complex, complex_templates)
    return features, summary, alignment, kept_complex


# Features of the next group of seeds are processed while the current group's models run when one seed's processed
# features hold at most this much; larger ones are processed after, as they are needed. A group's features hold
# at most a third of the job memory (samples_per_call), so the group running, its batch copy and the next group
# fit in it.
PREFETCH_MAX_BYTES = 256 * 2**20


@dataclasses.dataclass(frozen=True)
class _SeedWork:
    """One seed of one alignment: its AF-Cluster name (or None), its raw features, the seed and its first
    sample's number."""

    msa_cluster: str | None
    raw: Callable[[], FeatureDict]
    seed: int
    first: int


def _seed_work(alignments: Iterator[tuple[str | None, Callable[[], FeatureDict]]], run: range,
               spec: JobSpec) -> Iterator[_SeedWork]:
    """The seeds with samples in `run`, in sample order (each alignment's raw features made once, when first
    needed)."""
    number_of_first = 0
    for msa_cluster, features in alignments:
        if not _overlaps(run, number_of_first, spec.predictions):
            number_of_first += spec.predictions
            continue
        raw = functools.cache(features)
        for seed in range(spec.random_seed, spec.random_seed + spec.num_seeds):
            first = number_of_first
            number_of_first += len(spec.models)
            if _overlaps(run, first, len(spec.models)):
                yield _SeedWork(msa_cluster, raw, seed, first)


def _seed_groups(seeds: Iterator[_SeedWork], size: int) -> Iterator[list[_SeedWork]]:
    """Consecutive seeds of one alignment, `size` at a time (the samples of one model run together)."""
    group: list[_SeedWork] = []
    for work in seeds:
        if group and (len(group) == size or work.raw is not group[0].raw):
            yield group
            group = []
        group.append(work)
    if group:
        yield group


def _predict_all(runner: ModelRunner, alignments: Iterator[tuple[str | None, Callable[[], FeatureDict]]],
                 run: range, spec: JobSpec, samples: SampleLog, timings: dict, report: Callable[[str], None],
                 templates: bool = False, samples_per_call: int = 1) -> str | None:
    """Every model for every seed of each alignment (`alignments`: its AF-Cluster name or None, and what makes its
    raw features), of the samples numbered in `run` (spec.samples_run: in this order, from 0), features processed
    once per seed and network, masked as the spec asks, each sample handed to `samples` in that order as it
    finishes; with `templates`, the template-aware models run through the template-aware network. Seeds run in
    groups of up to `samples_per_call`, each model's samples of a group in one network call. The next group's
    features are processed in a background thread while this group's models run (PREFETCH_MAX_BYTES a seed). Times go
    into `timings` (features_wait_s: how long the models waited for features). Returns why sampling stopped early
    (stop_at_score), if it did.
    A network compiled for this length is announced first: it is the long silent step (a job with
    templates says which of its two networks, with or without templates)."""
    from concurrent.futures import ThreadPoolExecutor

    uses = {number: templates and runner.uses_templates(number) for number in spec.models}

    def process(group: list[_SeedWork]) -> tuple[list[dict[bool, FeatureDict]], float]:
        stage = time.perf_counter()
        processed = []
        for work in group:
            sample_raw = mask_msa_columns(work.raw(), spec.msa_mask_fraction, work.seed)
            processed.append({flag: runner.process(sample_raw, spec.num_recycle, work.seed, flag, spec.max_msa)
                              for flag in set(uses.values())})
        return processed, time.perf_counter() - stage

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="features")
    try:
        groups_ = _seed_groups(_seed_work(alignments, run, spec), samples_per_call)
        group = next(groups_, None)
        upcoming = pool.submit(process, group) if group is not None else None
        done = 0
        while group is not None and upcoming is not None:
            stage = time.perf_counter()
            processed, seconds = upcoming.result()
            timings["features_wait_s"] += round(time.perf_counter() - stage, 3)
            timings["process_features_s"] += round(seconds, 3)
            following = next(groups_, None)
            upcoming = None
            if following is not None and _nbytes(processed) <= PREFETCH_MAX_BYTES * len(group):
                upcoming = pool.submit(process, following)  # processed while this group's models run
            stopped, done = _predict_group(runner, group, processed, uses, run, spec, samples, timings, report,
                                           templates, done)
            if stopped is not None:
                return stopped
            processed = []  # this group's features let go before the next group's are made
            if following is not None and upcoming is None:
                upcoming = pool.submit(process, following)
            group = following
        return None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def samples_per_call(runner: ModelRunner, prepared: PreparedInput, spec: JobSpec) -> int:
    """Samples of one model per network call for this job: the runner's choice at its length (each sample's
    features of one recycle on the device beside it), as many as keep a group's processed features within a third
    of the job memory, the seeds of an alignment spread evenly over their calls (one compilation for all)."""
    if runner.multimer:
        return 1
    length = prepared.msa.length
    crops = runner.msa_crops(prepared.alignment.depth, spec.max_msa)  # at most: AF-Cluster's alignments are parts
    per_seed = processed_bytes(configs.bucket_length(length), crops, spec.num_recycle, bool(prepared.matches))
    most = runner.samples_per_call(length, spec.models, per_seed // (spec.num_recycle + 1))
    most = max(1, min(most, job_memory_bytes() // 3 // per_seed, spec.num_seeds))
    calls = -(-spec.num_seeds // most)
    return -(-spec.num_seeds // calls)


def _nbytes(processed: list[dict[bool, FeatureDict]]) -> int:
    """The bytes of a group's processed features (each seed's, each network's)."""
    return sum(np.asarray(value).nbytes for seed in processed for features in seed.values()
               for value in features.values())


def _predict_group(runner: ModelRunner, group: list[_SeedWork], processed: list[dict[bool, FeatureDict]],
                   uses: dict[int, bool], run: range, spec: JobSpec, samples: SampleLog, timings: dict,
                   report: Callable[[str], None], templates: bool, done: int) -> tuple[str | None, int]:
    """The models of a group of seeds of one alignment (their samples in `run`; `done` samples before it), each
    model's samples of the group in one network call; each sample recorded once every sample numbered before it
    is. Returns why sampling stopped early, if it did, and the samples done."""
    def compiling(with_templates: bool) -> Callable[[int], None]:
        which = (" with templates" if with_templates else " without templates") if templates else ""
        return lambda length: report(f"compiling the network{which} for {length} residues (once per length "
                                     f"bucket; later jobs reuse it)")

    order = sorted(work.first + index for work in group for index in range(len(spec.models))
                   if work.first + index in run)
    finished: dict[int, ModelPrediction] = {}
    for index, number in enumerate(spec.models):
        members = [(work, features[uses[number]]) for work, features in zip(group, processed)
                   if work.first + index in run]
        if not members:
            continue
        name = configs.model_name(number, runner.preset)
        stage = time.perf_counter()
        outputs = runner.predict_batch([features for _, features in members], number, spec.num_recycle,
                                       [work.seed for work, _ in members], spec.recycle_early_stop_tolerance,
                                       on_compile=compiling(uses[number]), templates=uses[number],
                                       max_msa=spec.max_msa, dropout=spec.dropout)
        seconds = (time.perf_counter() - stage) / len(members)  # each sample's share of the call
        for (work, features), (result, recycles) in zip(members, outputs):
            finished[work.first + index] = to_prediction(name, work.seed, recycles, features, result, seconds,
                                                         work.msa_cluster)
        while order and order[0] in finished:
            number_done = order.pop(0)
            done += 1
            stopped = _record(finished.pop(number_done), number_done, done, run, spec, samples, timings, report)
            if stopped is not None:
                return stopped, done
    return None, done


def _record(prediction: ModelPrediction, number: int, done: int, run: range, spec: JobSpec, samples: SampleLog,
            timings: dict, report: Callable[[str], None]) -> str | None:
    """Hand sample `number`, the `done`-th (from 1) of `run`, to `samples` and say so; why sampling stops here,
    if it does."""
    of = "" if prediction.msa_cluster is None else f" of alignment {prediction.msa_cluster}"
    samples.add(prediction, number)
    timings["models"][prediction.key] = round(prediction.predict_seconds, 3)
    report(f"model {done}/{len(run)} done: {prediction.model_name} seed {prediction.seed}{of}, "
           f"mean pLDDT {prediction.mean_plddt:.2f}, {prediction.predict_seconds:.1f} s")
    score = confidence_score(prediction)
    if spec.stop_at_score is not None and score >= spec.stop_at_score:
        reason = (f"stopped after {done} of {len(run)} samples: {prediction.model_name} seed {prediction.seed}"
                  f"{of} reached ranking confidence {score:.2f} (stop_at_score {spec.stop_at_score:g})")
        report(reason)
        return reason
    return None


def _overlaps(run: range, first: int, count: int) -> bool:
    """Whether samples first..first+count-1 include any of `run`."""
    return first < run.stop and run.start < first + count


def _alignments(prepared: PreparedInput, seed: int) -> Iterator[tuple[str | None, Callable[[], FeatureDict]]]:
    """The alignments a prediction runs, each with what makes its raw features: the one given, or with AF-Cluster
    each cluster's and control's (query first, filtered as the whole one was; featurized when run, one at a
    time)."""
    if prepared.clustering is None:
        yield None, lambda: prepared.raw
        return
    msa = prepared.msa
    assert isinstance(msa, Msa), "AF-Cluster clusters a single chain's alignment"
    templates = monomer_templates(prepared.matches, msa.query_sequence) if prepared.matches else None
    for group in groups(prepared.clustering):
        yield group.name, functools.partial(_group_features, msa, group, prepared.max_msa_depth, seed, templates)


def _group_features(msa: Msa, group: Cluster | Control, max_msa_depth: int, seed: int,
                    templates: FeatureDict | None) -> FeatureDict:
    """The raw features of an AF-Cluster cluster's or control's alignment."""
    filtered, _ = filter_msa(cluster_alignment(msa, group), max_msa_depth, seed=seed)
    return build_features(filtered, templates)


def _report_templates(summary: dict, models: Sequence[int], preset: str, report: Callable[[str], None]) -> None:
    """Say which template chains cover which residues, and which models read them."""
    for entry in summary["templates"]:
        target = f"chain {entry['query_chain']} " if "query_chain" in entry else ""
        report(f"template {entry['file']} chain {entry['chain']}: {target}residues {entry['query_range'][0]}-"
               f"{entry['query_range'][1]}, {entry['aligned_residues']} aligned, "
               f"{100 * entry['identity']:.1f}% identical")
    for warning in summary["template_warnings"]:
        report(f"WARNING: {warning}")
    without = [n for n in models if n not in configs.template_models(preset)]
    used = ", ".join(summary["template_models"]) or "none of the models asked for"
    note = ""
    if without:
        others = f"model {without[0]} was" if len(without) == 1 else f"models {', '.join(map(str, without))} were"
        note = f"; {others} trained without templates and run without them"
    report(f"templates are used by {used}{note}")


@dataclasses.dataclass(frozen=True)
class PreparedInput:
    """A prediction's input made ready: the alignment (a complex with its pairing settled), its raw
    features, the preset that runs it, its summary, the filtered alignment as one Msa, the templates
    matched to it, the seconds this took, the filtered alignment or complex (what the network is
    given), the rows per chain featurized at most (max_msa_depth, lowered within the job memory) and, with
    msa_clusters, AF-Cluster's clustering."""

    msa: Msa | ComplexMsa
    raw: FeatureDict
    preset: str
    summary: dict
    alignment: Msa
    matches: list[TemplateMatch]
    build_seconds: float
    kept: Msa | ComplexMsa
    max_msa_depth: int
    clustering: MsaClustering | None = None  # AF-Cluster's clusters of the alignment (msa_clusters)

    @property
    def num_alignments(self) -> int:
        """How many alignments the prediction runs: one, or AF-Cluster's clusters and controls."""
        return 1 if self.clustering is None else len(groups(self.clustering))

    def kept_a3m(self) -> str:
        """The alignment the network is given as a3m: the filtered rows, or a complex's as ColabFold's
        complex a3m."""
        return self.kept.to_a3m() if isinstance(self.kept, Msa) else self.kept.to_colabfold_a3m()


def run_preset(msa: Msa | ComplexMsa, spec: JobSpec, preset: str) -> str:
    """The models a prediction runs: AlphaFold-Multimer (the spec's multimer_version) or the pTM models for a
    complex, `preset` for one chain."""
    if isinstance(msa, Msa):
        return preset
    return configs.MULTIMER_PRESETS[spec.multimer_version] if spec.complex_mode == "multimer" else "monomer_ptm"


def _feature_depth(msa: Msa | ComplexMsa, spec: JobSpec, preset: str, model_config: str | None,
                   report: Callable[[str], None]) -> tuple[int, str | None]:
    """(rows per chain to featurize, a note when that is fewer than max_msa_depth for the job memory); `preset`:
    the one that runs."""
    crops = configs.network_msa_crops(preset, configs.resolve_model_config(model_config))
    network_rows = sum(spec.max_msa or crops)
    max_msa_depth = spec.max_msa_depth
    depth = feature_depth(msa, spec.complex_mode, max_msa_depth, network_rows, job_memory_bytes() - held_bytes(msa))
    if depth >= max_msa_depth:
        return depth, None
    note = (f"max_msa_depth lowered from {max_msa_depth:,} to {depth:,} rows per chain: featurizing more would take "
            f"more than what is left of this job's memory ({settings.JOB_MEMORY_GB.name}) once the alignment is "
            f"read; the network reads at most {network_rows:,} rows")
    report(note)
    return depth, note


def check_max_msa(spec: JobSpec, preset: str, model_config: str | None) -> None:
    """Refuse MSA crops (the job's max_msa) beyond what the `preset` models read."""
    most = configs.network_msa_crops(preset, configs.resolve_model_config(model_config))
    if spec.max_msa is not None and (spec.max_msa[0] > most[0] or spec.max_msa[1] > most[1]):
        raise ConfigError(f"input.max_msa: {spec.max_msa[0]}:{spec.max_msa[1]} is more than the {most[0]}:{most[1]} "
                          f"MSA rows (clusters:extra) the {preset} models read")


# What one kept sample holds: its PAE (float32, length squared) and, per residue, its coordinates, masks, pLDDT
# and structure texts (an upper estimate).
KEPT_BYTES_PER_PAIR = 4
KEPT_BYTES_PER_RESIDUE = 2_000


def check_kept_memory(spec: JobSpec, length: int, alignments: int = 1) -> None:
    """Refuse, before any work, a job whose kept samples (keep_top of them) would not fit in the job memory."""
    per_sample = KEPT_BYTES_PER_PAIR * length ** 2 + KEPT_BYTES_PER_RESIDUE * length
    limit = job_memory_bytes()
    kept = spec.kept(alignments)
    if kept * per_sample > limit:
        raise ConfigError(f"input.keep_top: keeping {kept} samples of {length} residues would hold about "
                          f"{kept * per_sample / 1e9:.1f} GB, more than this job's {limit / 1e9:.1f} GB "
                          f"({settings.JOB_MEMORY_GB.name}): keep at most {max(1, limit // per_sample)}")


def prepare_input(msa: Msa | ComplexMsa, spec: JobSpec, preset: str, report: Callable[[str], None],
                  model_config: str | None = None) -> PreparedInput:
    """Pair (a complex), check the length, match the templates, filter (within the job memory) and featurize;
    report what was read."""
    preset = run_preset(msa, spec, preset)
    check_max_msa(spec, preset, model_config)
    if isinstance(msa, ComplexMsa):
        msa = settle_pairing(msa, spec.pairing)
    check_length(msa, settings.max_query_length())
    clustering = _cluster(msa, spec, report) if spec.msa_clusters else None
    alignments = 1 if clustering is None else len(groups(clustering))
    check_sample_slice(spec, alignments)
    check_kept_memory(spec, msa.length, alignments)
    stage = time.perf_counter()
    matches = match_query_templates(msa, spec.templates)
    depth, depth_note = _feature_depth(msa, spec, preset, model_config, report)
    raw, summary, alignment, kept = _prepare(msa, spec.complex_mode, depth, spec.random_seed, matches,
                                             featurize=clustering is None)
    if depth_note:
        summary["depth_note"] = depth_note
    if clustering is not None:
        summary["msa_clusters"] = clustering_summary(clustering)
    if matches:
        summary.update(template_summary(matches, spec.models, preset))
        _report_templates(summary, spec.models, preset, report)
    build_seconds = round(time.perf_counter() - stage, 3)
    report(f"parsed MSA: {summary['num_sequences']} sequences ({summary['num_sequences_filtered']} after "
           f"filtering), query {msa.query_name} with {msa.length} residues")
    return PreparedInput(msa, raw, preset, summary, alignment, matches, build_seconds, kept, depth, clustering)


def _cluster(msa: Msa | ComplexMsa, spec: JobSpec, report: Callable[[str], None]) -> MsaClustering:
    """AF-Cluster's clusters of the alignment, seeded by the job's random_seed; refused (naming msa_clusters) for a
    complex, an alignment too shallow or too large to cluster, or more samples than a job may run."""
    if not isinstance(msa, Msa):
        raise ConfigError(f"input.msa_clusters: AF-Cluster clusters a single chain's alignment; this input is a "
                          f"complex of {msa.num_chains} chains")
    spec.check_alignments(1, N_CONTROLS, at_least=True)
    report(f"clustering the alignment's {msa.depth - 1:,} rows as AF-Cluster does (DBSCAN)")
    try:
        clustering = cluster_msa(msa, seed=spec.random_seed)
    except MsaError as error:
        raise type(error)(f"input.msa_clusters: {error}") from None
    report(overview(clustering))
    spec.check_alignments(len(clustering.clusters), len(clustering.controls))
    return clustering


def check_sample_slice(spec: JobSpec, alignments: int) -> None:
    """Refuse a sample_slice past the job's samples (`alignments` x models x seeds)."""
    total = alignments * spec.predictions
    if spec.sample_slice is not None and spec.sample_slice[1] > total:
        raise ConfigError(f"input.sample_slice: [{spec.sample_slice[0]}, {spec.sample_slice[1]}] goes past the "
                          f"job's {total:,} samples (numbered from 0)")


def _runner_for(prepared: PreparedInput, runner: ModelRunner | None, runners: RunnerCache | None,
                param_dir: str | os.PathLike | None, model_config: str | None, kernels: str | None,
                models: Sequence[int]) -> ModelRunner:
    """The runner given (it must run the input's preset), else the cached or a new one; its weights,
    kernels (with the one-time self-check on a new GPU kind) and memory checked for this input."""
    if runner is None:
        runner = (runners or RunnerCache()).get(param_dir or default_param_dir(), model_config, prepared.preset,
                                                kernels)
    elif runner.preset != prepared.preset:
        raise ConfigError(f"this input needs the '{prepared.preset}' models, but the runner given runs "
                          f"'{runner.preset}'")
    runner.check_weights(models)
    # The kernels are chosen (with the one-time self-check on a new GPU kind) before the memory check.
    logger.debug("kernels: %s", runner.kernels)
    runner.check_memory(prepared.msa.length, models)
    return runner


def _relax_ranked(ranked: list, relax: str, timeout_s: float | None,
                  report: Callable[[str], None]) -> dict[int, RelaxOutcome]:
    """Amber relaxation of the ranks `relax` asks for (none, best, all), each within `timeout_s`."""
    relaxed = {}
    for index in configs.relaxed_ranks(relax, len(ranked)):
        report(f"relaxing rank {index} ({ranked[index].key}) with Amber")
        relaxed[index] = relax_structure(ranked[index].structure, timeout_s=timeout_s)
    return relaxed


def _write_timings(output_dir: Path, timings: dict, runner: ModelRunner, counters_before: dict) -> Path:
    """timings.json: the stages' seconds, the kernels chosen, and what this job compiled and loaded."""
    timings["kernel_selection"] = runner.kernel_record
    counters_after = runner.counter_snapshot()
    timings["counters"] = {"this_job": {k: v - counters_before.get(k, 0) for k, v in counters_after.items()},
                           "worker_process": counters_after}
    path = output_dir / "timings.json"
    write_atomic(path, json.dumps(timings, indent=2))
    return path


def _timed(timings: dict, key: str, step: Callable[[], T]) -> T:
    """`step()`, its seconds recorded as timings[key]."""
    stage = time.perf_counter()
    value = step()
    timings[key] = round(time.perf_counter() - stage, 3)
    return value


def run_prediction(
    msa: Msa | ComplexMsa | str | os.PathLike,
    output_dir: str | os.PathLike,
    param_dir: str | os.PathLike | None = None,
    spec: JobSpec | None = None,
    *,
    model_config: str | None = None,
    preset: str = "monomer_ptm",
    runner: ModelRunner | None = None,
    runners: RunnerCache | None = None,
    kernels: str | None = None,
    progress: Callable[[str], None] | None = None,
    demo_weights: bool = False,
    before_predicting: Callable[[PreparedInput], None] | None = None,
    **fields: Any,
) -> PredictionResult:
    """Predict structures for the query of `msa` (or the complex) as `spec` asks, and write them to `output_dir`.

    `spec` is a `JobSpec` (alphafold_msa.protocol.spec: the job's fields, checked against the job schema);
    instead, its fields may be given as keywords (`models=[1, 2]`, `num_recycle=1`, ...), checked the same
    way. `msa` is an `Msa`, a `ComplexMsa` or a path to an alignment file (format detected unless the spec's
    `format` is given; ColabFold's complex a3m is read as a complex). Duplicate rows are removed and at most
    `max_msa_depth` rows (query first) of each alignment are featurized. Complexes run AlphaFold-Multimer v3
    (`complex_mode="multimer"`) or the monomer pTM models with chain breaks (`"ptm"`); `preset` chooses the
    monomer models for single chains. A complex's rows are paired as `pairing` says (see
    `alphafold_msa.msa.pairing.pair_complex`) unless already paired.
    Writes ranked_{i}.pdb and/or .cif (pLDDT in B-factors), scores_rank_{i}.json, ranking.json, timings.json,
    plots (plddt.png, pae.png: every model; coverage.png) and summary.json / summary.txt; `relax` ('none',
    'best' as AlphaFold, or 'all'; default $ALPHAFOLD_MSA_RELAX, else 'best') adds Amber-relaxed
    relaxed_rank_{i}.pdb files (each relaxation bounded by $ALPHAFOLD_MSA_RELAX_TIMEOUT s). As ColabFold
    does, it also writes each model's files under ColabFold's names (rank_001_model_3_ptm_seed_000.pdb,
    relaxed_rank_001_..., scores_rank_001_...), config.json (the job's effective settings), log.txt (the
    progress messages with their UTC times, written as they come), msa.a3m (the alignment the network
    was given) and cite.bibtex. The result carries each model's scores and structure texts as written.
    The network runs in `runner`, else in the runner `runners` keeps for these settings (pass the same
    cache to later calls to reuse compiled functions and parameters), else in a new one;
    `kernels` ('auto', 'pallas', 'cuda_legacy', 'xla'; default $ALPHAFOLD_MSA_KERNELS, else 'auto')
    chooses the GPU kernels of a runner made here (a `runner` passed in keeps its own).
    `demo_weights` says the weights are random: every structure, score file, summary and plot says so.
    `before_predicting` sees the prepared input (its alignments counted, with AF-Cluster's clusters) before
    any weights are loaded; what it raises ends the job there.
    Templates (at most four structures) are aligned to the query (each complex chain) and read by
    the models that use templates: 1 and 2 of the monomer sets, all five of AlphaFold-Multimer.
    """
    started = time.perf_counter()
    if spec is None:
        spec = JobSpec.from_fields({key: _as_field(value) for key, value in fields.items()})
    elif fields:
        raise ConfigError(f"give the job's fields in `spec` or as keywords, not both ({', '.join(fields)})")
    relax = configs.resolve_relax(spec.relax)
    relax_timeout = settings.relax_timeout() if relax != "none" else None
    if not isinstance(msa, (Msa, ComplexMsa)):
        msa = read_input(msa, format=spec.format, query=spec.query)
    with JobLog(progress or (lambda message: logger.info("%s", message))) as report:
        prepared = prepare_input(msa, spec, preset, report, model_config)
        if before_predicting is not None:
            before_predicting(prepared)
        runner = _runner_for(prepared, runner, runners, param_dir, model_config, kernels, spec.models)
        folder = _start_folder(Path(output_dir), report, job_config(spec, prepared, runner, relax, demo_weights),
                               prepared.kept_a3m())
        return _predict_into(folder, prepared, runner, spec, (relax, relax_timeout), report, demo_weights, started)


def _start_folder(output_dir: Path, log: JobLog, config: dict[str, Any], alignment_a3m: str) -> Path:
    """The output folder, made, with log.txt started (the messages so far first), config.json and msa.a3m."""
    output_dir.mkdir(parents=True, exist_ok=True)
    log.write_to(output_dir / LOG_FILE)
    write_config(output_dir, config)
    write_alignment(output_dir, alignment_a3m)
    return output_dir


def _predict_into(output_dir: Path, prepared: PreparedInput, runner: ModelRunner, spec: JobSpec,
                  relax: tuple[str, float | None], report: Callable[[str], None], demo_weights: bool,
                  started: float) -> PredictionResult:
    """Run the models on the prepared input, rank, relax (`relax`: what, and each one's time limit), and
    write the structures, scores, plots, timings, summary and citations into `output_dir`."""
    counters_before = runner.counter_snapshot()
    timings: dict = {"process_features_s": 0.0, "features_wait_s": 0.0, "models": {},
                     "build_features_s": prepared.build_seconds, "kernels": runner.kernels,
                     "compile_mode": runner.compile_mode}
    msa = prepared.msa
    with PlotDrawer(output_dir, chain_boundaries(msa), demo_weights) as plots:
        plots.coverage(prepared.alignment, prepared.summary["num_sequences_filtered"],
                       prepared.summary.get("paired_rows", 0))
        samples = SampleLog(output_dir, recipe_of(spec.max_msa, spec.dropout, spec.msa_mask_fraction), spec.keep_top,
                            save=functools.partial(structure_texts, formats=spec.formats, demo_weights=demo_weights)
                            if spec.save_all else None, compare=compare_limit(msa.length))
        if prepared.clustering is not None:
            assert isinstance(msa, Msa), "AF-Cluster clusters a single chain's alignment"
            write_msa_clusters(output_dir, describe(prepared.clustering, msa),
                               ((group.name, cluster_alignment(msa, group).to_a3m())
                                for group in groups(prepared.clustering)))
        try:
            timings["samples_per_call"] = samples_per_call(runner, prepared, spec)
            stopped_early = _predict_all(runner, _alignments(prepared, spec.random_seed),
                                         spec.samples_run(prepared.num_alignments), spec, samples, timings, report,
                                         templates=bool(prepared.matches),
                                         samples_per_call=timings["samples_per_call"])
        except BaseException as error:  # the samples finished so far stay recorded
            samples.close(f"interrupted: {type(error).__name__}")
            raise
        samples.close(stopped_early)
        ranked = rank(samples.kept())
        covered = covered_ranges(prepared.matches, msa)
        plots.models(ranked, covered)
        states = None
        compared, passed_over = samples.ensemble()
        if spec.sample_slice is not None:  # a part of a fanned-out prediction: the merge compares all parts'
            write_part(output_dir, spec.sample_slice, ranked, samples.kept_numbers(), compared, passed_over,
                       chain_boundaries(msa), covered, spec.is_sampling)
        elif spec.is_sampling and len(compared) > 1:
            ensemble = _timed(timings, "ensemble_s", lambda: write_ensemble(
                compared, output_dir, confidence_label="ranking confidence (0-100)",
                caveat=DEMO_WEIGHTS_PLOT_NOTE if demo_weights else None, left_out=passed_over))
            states = ensemble.summary() + ensemble.unsaved_note({sample_name(p) for p in ranked}, spec.save_all)
            report(f"ensemble of {len(samples.rows)} samples: {states}")
        relaxed = _timed(timings, "relax_s", lambda: _relax_ranked(ranked, *relax, report))
        ranked_models, ranking, ranking_path = _timed(
            timings, "write_s", lambda: write_ranked(ranked, output_dir, spec.formats, relaxed, demo_weights))
        # Only the drawing that outlasts everything above is on the job's critical path.
        plot_paths = _timed(timings, "plots_wait_s", plots.result)
    write_citations(output_dir, configs.is_multimer(prepared.preset), any(o.pdb is not None for o in relaxed.values()),
                    prepared.clustering is not None)
    timings["total_s"] = round(time.perf_counter() - started, 3)
    timings_path = _write_timings(output_dir, timings, runner, counters_before)
    summary = report_summary(ranked_models, prepared.summary, timings, relaxed[0].info if 0 in relaxed else None,
                             demo_weights)
    if states is not None:
        summary["ensemble"] = states
    summary_path, _ = write_summary(output_dir, summary)
    if spec.report and spec.sample_slice is None:  # a fanned-out part's report is the merge's
        write_report(output_dir)
    return PredictionResult(output_dir=output_dir, models=ranked_models, msa_summary=prepared.summary,
                            timings=timings, ranking_path=ranking_path, timings_path=timings_path,
                            plots=plot_paths, summary_path=summary_path, summary=summary, ranking=ranking)


def job_config(spec: JobSpec, prepared: PreparedInput, runner: ModelRunner, relax: str,
               demo_weights: bool) -> dict[str, Any]:
    """config.json's content: every job field with the value the job runs with (a default resolved where the
    run settles it: the format read, the query, the pairing, the rows featurized, the network's MSA crops and
    early-stop tolerance, the relaxation), the templates without their structures, and what runs them: the
    preset, the models' names, model config, kernels, compile mode and the packages' versions."""
    msa = prepared.msa
    fields = {field.name: getattr(spec, field.name) for field in dataclasses.fields(spec)}
    fields.update(
        format=spec.format or (msa.format if isinstance(msa, Msa) else ",".join(dict.fromkeys(
            chain.format for chain in msa.chains))),
        query=msa.query_name,
        pairing=msa.pairing.method if isinstance(msa, ComplexMsa) and msa.pairing else spec.pairing,
        max_msa_depth=prepared.max_msa_depth,
        max_msa=(spec.max_msa or configs.network_msa_crops(runner.preset, runner.model_config)) if runner.multimer
        else spec.max_msa if prepared.clustering is not None  # None: fitted to each alignment's depth
        else runner.msa_crops(len(prepared.raw["msa"]), spec.max_msa),
        recycle_early_stop_tolerance=float(runner.network_config.model.recycle_early_stop_tolerance
                                           if spec.recycle_early_stop_tolerance is None
                                           else spec.recycle_early_stop_tolerance),
        relax=relax,
        templates=[{key: getattr(template, key) for key in ("name", "format", "chain", "query_chain")}
                   for template in spec.templates])
    return {**fields, "preset": prepared.preset, "model_names": runner.names(spec.models),
            "model_config": runner.model_config, "kernels": runner.kernels,
            "kernels_requested": runner.requested_kernels, "compile_mode": runner.compile_mode,
            "demo_weights": demo_weights, "versions": software_versions()}


def _as_field(value: Any) -> Any:
    """A keyword argument as a job field (sequences as lists, templates as job entries)."""
    if isinstance(value, (tuple, list)):
        return [item.to_field() if isinstance(item, TemplateSpec) else item for item in value]
    return value
