"""The command's inputs read and checked on this machine (light install): one alignment or complex with
its templates and job fields, or each of a batch's alignments; and --check, which prints what a run
would use. --check and every run (local, remote, batch) decide through the same two functions,
`check_job` and `check_batch_file`, so they refuse exactly the same inputs."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from alphafold_msa import settings
from alphafold_msa.errors import AlphafoldMsaError, MsaError, UserError, printable
from alphafold_msa.launcher.options import LaunchOptions, flag_message
from alphafold_msa.launcher.templates import check_templates, read_templates
from alphafold_msa.protocol.schema import JobInputError
from alphafold_msa.protocol.spec import JobSpec, TemplateSpec
from alphafold_msa.structures.match import TemplateMatch


@dataclasses.dataclass(frozen=True)
class CheckedJob:
    """One job's input as read and checked here: the alignment (an `Msa`, or a `ComplexMsa`), the
    templates with what each matched, and the job's fields."""

    msa: Any
    templates: list[TemplateSpec]
    matches: list[TemplateMatch]
    spec: JobSpec


def check_job(options: LaunchOptions) -> CheckedJob:
    """The single job's alignment (or complex), templates and fields, read and checked as the prediction
    will use them: what --check reports and every run sends or predicts."""
    msa = read_checked(options)
    templates = read_templates(options.template)
    matches = check_templates(templates, msa)
    return CheckedJob(msa, templates, matches, options.job_spec(templates))


def check_batch_file(path: Path, options: LaunchOptions, templates: Sequence[TemplateSpec]):
    """One of a batch's alignments read and checked, with the batch's templates matched to it."""
    msa = check_one(path, options)
    check_templates(templates, msa)
    return msa


def check_one(path: Path, options: LaunchOptions):
    """One alignment file (or ColabFold complex a3m) read and checked with --format and --query,
    the length limit included: a single job's input, or each of a batch's."""
    from alphafold_msa.msa import Msa, read_input
    from alphafold_msa.msa.filter import check_length

    msa = read_input(path, format=options.msa_format, query=options.query)
    if not isinstance(msa, Msa):
        msa = paired_as_asked(msa, options)
    check_length(msa, settings.max_query_length())
    check_clusterable_input(msa, options)
    return msa


def check_clusterable_input(msa, options: LaunchOptions) -> None:
    """With --msa-clusters: refuse a complex, and an alignment too shallow or too large to cluster, before any
    upload or weights (the clustering itself runs where the prediction does)."""
    from alphafold_msa.msa import Msa
    from alphafold_msa.msa.clusters import check_clusterable

    if not options.msa_clusters:
        return
    from alphafold_msa.msa.clusters import N_CONTROLS

    check_alignments(options.job_spec(), 1, N_CONTROLS, at_least=True)
    if not isinstance(msa, Msa):
        raise UserError(f"--msa-clusters: AF-Cluster clusters a single chain's alignment; {msa.source} is a complex "
                        f"of {msa.num_chains} chains")
    try:
        check_clusterable(msa)
    except MsaError as error:
        raise type(error)(f"--msa-clusters: {error}") from None


def paired_as_asked(msa, options: LaunchOptions):
    """The complex paired as --pairing and --pair-keys ask (see alphafold_msa.msa.pairing)."""
    from alphafold_msa.msa.pairing import pair_complex
    from alphafold_msa.msa.species import read_pair_keys

    return pair_complex(msa, options.pairing, read_pair_keys(options.pair_keys) if options.pair_keys else None)


def read_complex(options: LaunchOptions):
    """The --msa files (in chain order) with --paired and --copies as one `ComplexMsa`, checked
    (a single chain without copies comes back as its `Msa`)."""
    from alphafold_msa.msa import assemble_complex, read_msa
    from alphafold_msa.msa.filter import check_length

    if options.query:
        raise UserError("--query picks the row of a single alignment; a complex uses each chain's first row")
    chains = [read_msa(path, format=options.msa_format) for path in options.msa]
    paired = [read_msa(path) for path in options.paired]
    assembled = assemble_complex(chains, options.copies, paired or None)
    msa = assembled.chains[0] if assembled.num_chains == 1 else paired_as_asked(assembled, options)
    check_length(msa, settings.max_query_length())
    check_clusterable_input(msa, options)
    return msa


def read_checked(options: LaunchOptions):
    """The single job's input: the one alignment (`Msa`, or `ComplexMsa` from a ColabFold complex
    a3m) or, for --complex, the complex."""
    if options.is_complex:
        return read_complex(options)
    return check_one(Path(options.msa[0]), options)


def summarise(msa, spec: JobSpec) -> dict[str, Any]:
    """What a prediction would use: format, query, depth before and after filtering, the device memory five
    full-size models need for it, with --msa-clusters AF-Cluster's clusters, and the samples the job runs with
    their estimated GPU time."""
    from alphafold_msa.msa import Msa
    from alphafold_msa.msa.filter import filter_msa

    memory = device_memory(msa.length)
    if not isinstance(msa, Msa):
        return {"format": "complex", "query_name": msa.query_name, "query_length": msa.length,
                "num_sequences": msa.depth, "chain_ids": msa.chain_ids, "chain_lengths": msa.chain_lengths,
                "paired_rows": msa.paired_rows, "pairing": msa.pairing.to_dict(), **memory,
                **sampling_estimate(msa.length, spec.predictions, spec)}
    filtered, _ = filter_msa(msa, spec.max_msa_depth, seed=spec.random_seed)
    line = {"format": msa.format, "query_name": msa.query_name, "query_length": msa.length,
            "num_sequences": msa.depth, "num_sequences_filtered": filtered.depth,
            "gap_fraction": round(msa.gap_fraction(), 4), **memory}
    samples = spec.predictions
    if spec.msa_clusters:
        line["msa_clusters"] = clusters = clusters_line(msa, spec)
        samples *= clusters["num_clusters"] + clusters["num_controls"]
    return {**line, **sampling_estimate(msa.length, samples, spec)}


def clusters_line(msa, spec: JobSpec) -> dict[str, Any]:
    """AF-Cluster's clusters of `msa` (seeded by the spec's random_seed) as --check prints them: count, sizes,
    identity to the query (each cluster's and their mean, weighted by size), eps, rows unclustered, controls;
    MsaError or UserError (--msa-clusters: ...) when the alignment cannot be clustered or its samples would be
    more than a job may run."""
    from alphafold_msa.msa.clusters import N_CONTROLS, cluster_msa, clustering_summary

    check_alignments(spec, 1, N_CONTROLS, at_least=True)
    try:
        clustering = cluster_msa(msa, seed=spec.random_seed)
    except MsaError as error:
        raise type(error)(f"--msa-clusters: {error}") from None
    check_alignments(spec, len(clustering.clusters), len(clustering.controls))
    mean = clustering.mean_query_identity
    return {**clustering_summary(clustering),
            "query_identity": [round(cluster.query_identity, 3) for cluster in clustering.clusters],
            "mean_query_identity": None if mean is None else round(mean, 3)}


def check_alignments(spec: JobSpec, clusters: int, controls: int, at_least: bool = False) -> None:
    """JobSpec.check_alignments, its refusal naming the flag (--msa-clusters)."""
    try:
        spec.check_alignments(clusters, controls, at_least)
    except JobInputError as error:
        raise UserError(flag_message(str(error))) from None


def device_memory(length: int) -> dict[str, float]:
    """The device memory five full-size models need for a query of `length` residues on an endpoint's GPU
    (model/memory.py)."""
    from alphafold_msa.model.memory import GB, estimate_peak_bytes, table_for

    return {"estimated_device_memory_gb": round(estimate_peak_bytes(length, table=table_for("gpu", "full")) / GB, 1)}


def sampling_estimate(length: int, samples: int, spec: JobSpec) -> dict[str, Any]:
    """The job's samples (models x seeds x alignments) and their GPU time on an H100/H200 (model/speed.py)."""
    from alphafold_msa.model.speed import estimate_seconds

    return {"samples": samples, "estimated_gpu_s": round(estimate_seconds(length, samples, spec.num_recycle))}


def run_check(options: LaunchOptions) -> bool:
    """--check: a complex as one JSON object on stdout; otherwise each alignment file (folders and
    globs expanded as for a batch) as one JSON object per line, its error on stderr too when stdout is
    not a terminal. Every file is checked, with the templates as a run would; returns whether all were
    good."""
    from alphafold_msa.launcher.batch import discover

    if options.is_complex:
        try:
            job = check_job(options)
            line = {"files": options.msa, **summarise(job.msa, job.spec)}
        except AlphafoldMsaError as error:
            print(json.dumps({"files": options.msa, "error": printable(error)}), flush=True)
            raise
        print(json.dumps(line))
        return True
    templates = read_templates(options.template)
    spec = options.job_spec(templates)
    good = True
    for path in discover(options.msa):
        try:
            line = {"file": str(path), **summarise(check_batch_file(path, options, templates), spec)}
        except AlphafoldMsaError as error:
            good = False
            line = {"file": str(path), "error": printable(error)}
            if not sys.stdout.isatty():  # on a terminal the JSON line already shows it
                print(f"error: {printable(error)}", file=sys.stderr)
        print(json.dumps(line), flush=True)
    return good
