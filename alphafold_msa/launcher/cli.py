"""launch.py's command line: parse it into `LaunchOptions`, check them, and hand over to --check,
local (--local) or remote (--endpointId) prediction of one alignment, one complex, or a batch."""

from __future__ import annotations

import argparse
import dataclasses
import glob
import logging
import sys
import warnings
from pathlib import Path
from typing import Sequence

from alphafold_msa import settings
from alphafold_msa.errors import EXIT_BAD_INPUT, EXIT_CANCELLED, EXIT_OK, AlphafoldMsaError, UserError, printable
from alphafold_msa.launcher.client import DEFAULT_API_URL
from alphafold_msa.launcher.options import RANK_BY, SCREEN_MODES, LaunchOptions
from alphafold_msa.launcher.output_paths import check_output_paths
from alphafold_msa.protocol.schema import (
    COMPLEX_MODES,
    DEFAULT_MAX_MSA_DEPTH,
    DEFAULT_NUM_RECYCLE,
    PAIRING_METHODS,
    RELAX_MODES,
)

EXAMPLES = """examples:
  predict one alignment on your RunPod endpoint:
    python launch.py --msa family.sto --output model.pdb --endpointId ID
  a trial run on this machine with random demo weights (the pipeline runs; the structure is meaningless):
    python launch.py --local --demo-weights --msa family.a3m --output demo.pdb
  a heterodimer from one alignment per chain plus their paired alignments:
    python launch.py --complex --msa A.a3m B.a3m --paired A.paired.a3m B.paired.a3m --output AB.pdb --endpointId ID
  a batch: every alignment in a folder, each its own job (resumable):
    python launch.py --msa alignments/ --output-dir results/ --endpointId ID
  check alignments without predicting (one JSON line each):
    python launch.py --check --msa alignments/
  an interaction screen: the bait with each prey, ranked by ipSAE (screen.tsv):
    python launch.py --screen pulldown --bait BAIT.sto --msa preys/ --output-dir screen/ --endpointId ID
"""

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        allow_abbrev=False, epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="AlphaFold2 structure prediction from your own multiple sequence alignment.",
    )
    inputs = parser.add_argument_group("alignments")
    inputs.add_argument("--msa", nargs="+", action="extend",
                        help="alignment files: a3m, a2m, Stockholm, aligned FASTA or Clustal (a ColabFold complex "
                             "a3m is read as its complex); several files, folders or glob patterns without "
                             "--complex are a batch (needs --output-dir), one job each")
    inputs.add_argument("--format", type=parse_formats, default=(None, None),
                        help="structure formats to write, pdb and/or cif (e.g. pdb,cif; default pdb), and/or the "
                             "alignment format if detection should be overridden (a3m, a2m, fasta, stockholm, clustal)")
    inputs.add_argument("--query", help="name of the row to predict (default: the first row)")
    inputs.add_argument("--check", action="store_true",
                        help="only read and validate: one JSON line per alignment (one for a --complex); exit 0 "
                             "when all are good, else 2 after checking all")
    inputs.add_argument("--template", action="append", metavar="FILE[:CHAIN][@CHAIN]",
                        help="a structure (PDB or mmCIF) the models that use templates read (1 and 2; all five "
                             "for AlphaFold-Multimer): FILE uses its chain that best matches the query, FILE:B "
                             "its chain B; for a complex, FILE:B@A gives chain B to the complex's chain A. "
                             "Repeat for up to 4; a batch uses the same templates for every alignment")
    complexes = parser.add_argument_group("complexes")
    complexes.add_argument("--complex", action="store_true",
                           help="predict the --msa files as one complex, one file per distinct chain in chain order")
    complexes.add_argument("--paired", nargs="+", action="extend",
                           help="paired alignment of the complex: one file whose query is the chains' queries "
                                "concatenated, or one file per chain whose rows pair up by position "
                                "(--paired A.paired.a3m B.paired.a3m)")
    complexes.add_argument("--pairing", choices=PAIRING_METHODS,
                           help="how the chains' rows are paired: by species read from the row names and headers "
                                "(as AlphaFold-Multimer), none (block-diagonal) or file (--paired); default species "
                                "when at least two chains carry species keys, file with --paired, else none")
    complexes.add_argument("--pair-keys", metavar="FILE",
                           help="two-column file, row name then species key, for rows whose names carry none")
    complexes.add_argument("--copies", help="copies of each chain, e.g. 2,1 (default 1 each; --copies 2 with one "
                                            "--msa predicts a homodimer)")
    complexes.add_argument("--complex-mode", choices=COMPLEX_MODES, default="multimer",
                           help="AlphaFold-Multimer v3 (default) or the monomer pTM models with chain breaks (ptm)")
    complexes.add_argument("--multimer-version", type=int, metavar="{1,2,3}",
                           help="AlphaFold-Multimer's weights: 3 (default), 2 or 1 (AFsample: v1 responds most to "
                                "sampling); v1 and v2 are fetched when first asked for")
    prediction = parser.add_argument_group("prediction")
    prediction.add_argument("--models", default="1,2,3,4,5", help="comma-separated model numbers (default 1,2,3,4,5)")
    prediction.add_argument("--num-recycle", type=int, default=DEFAULT_NUM_RECYCLE,
                            help=f"recycling iterations per model (default {DEFAULT_NUM_RECYCLE})")
    prediction.add_argument("--recycle-early-stop-tolerance", type=float,
                            help="stop recycling once the structure moves less than this (default 0.0: never early)")
    prediction.add_argument("--random-seed", "--seed", dest="random_seed", type=int, default=0,
                            help="random seed (default 0)")
    prediction.add_argument("--num-seeds", type=int, default=1,
                            help="seeds per model, from --random-seed upwards (default 1, at most 1000)")
    prediction.add_argument("--max-msa-depth", type=int, default=DEFAULT_MAX_MSA_DEPTH,
                            help=f"most rows of each alignment featurized after duplicates are removed "
                                 f"(default {DEFAULT_MAX_MSA_DEPTH})")
    prediction.add_argument("--max-msa", metavar="CLUSTERS:EXTRA",
                            help="the network's MSA crops, ColabFold's --max-msa (e.g. 16:32 or 32:64 to sample "
                                 "alternative conformations; at most 512:5120, AlphaFold-Multimer 508:2048); "
                                 "default: the models' own, fitted to the alignment's depth")
    sampling = parser.add_argument_group("sampling (docs/sampling.md)")
    sampling.add_argument("--use-dropout", dest="dropout", action="store_true",
                          help="evaluation-time dropout, as ColabFold and AFsample: each seed samples the network")
    sampling.add_argument("--msa-mask-fraction", type=float, metavar="F",
                          help="AFsample2: for each sample, this fraction of the alignment's columns (0 <= F < 1) "
                               "set to X in every row but the query, drawn from the sample's seed")
    sampling.add_argument("--msa-clusters", action="store_true",
                          help="AF-Cluster: cluster the alignment's rows with DBSCAN as AF-Cluster does and predict "
                               "each cluster (query first) and its random controls as samples of their own; with "
                               "--check, print the clusters before any GPU time")
    sampling.add_argument("--keep-top", type=int, metavar="N",
                          help="the most confident samples kept as ranked structures (default 5); every sample's "
                               "scores go to samples.tsv")
    sampling.add_argument("--save-all", action="store_true",
                          help="also write every sample's structure (sample_<model>_seed_<seed>.pdb)")
    sampling.add_argument("--stop-at-score", type=float, metavar="S",
                          help="stop once a sample's ranking confidence reaches S (0-100: mean pLDDT, or 100 x "
                               "(0.8 ipTM + 0.2 pTM) for a complex), as ColabFold")
    prediction.add_argument("--relax", choices=RELAX_MODES,
                            help="Amber relaxation of the top model (best: the default, as AlphaFold), of all "
                                 "models, or none (default: $ALPHAFOLD_MSA_RELAX where the prediction runs, else "
                                 "best; none with --demo-weights)")
    outputs = parser.add_argument_group("output")
    outputs.add_argument("--output", help="where to write the top-ranked structure: model.pdb, or model.cif for "
                                          "mmCIF (with --format pdb,cif both, beside each other); scores go to "
                                          "<output>.scores.json, plots and summary beside it")
    outputs.add_argument("--no-report", action="store_true",
                         help="do not write report.html (one offline page: the models in 3D, PAE, pLDDT, scores)")
    outputs.add_argument("--output-dir",
                         help="folder for every file of the job (all ranked models, scores, ranking, plots, "
                              "summary; the top model also as <alignment>.pdb when --output is not given); "
                              "for several alignments, the batch's folder")
    fan_out = parser.add_argument_group("one prediction on many GPUs (remote, --output-dir)")
    fan_out.add_argument("--fan-out", metavar="N|auto",
                         help="split the prediction's samples (models x seeds x alignments) into up to N jobs the "
                              "endpoint runs at once (within --concurrency), and merge their results into the files "
                              "one job writes; auto: jobs of --samples-per-job samples")
    fan_out.add_argument("--samples-per-job", type=whole_number(1), metavar="K",
                         help="samples per job with --fan-out (default: enough to be worth a worker's start, from "
                              "the measured GPU speed at this length)")
    screen = parser.add_argument_group("interaction screens (--output-dir; remote or --local)")
    screen.add_argument("--screen", choices=SCREEN_MODES,
                        help="pulldown: each --msa alignment with --bait; all-vs-all: every pair of the --msa "
                             "alignments; pairs: the complexes of --pairs FILE. Each complex is paired by species "
                             "and runs as one job of a batch; screen.tsv ranks them")
    screen.add_argument("--bait", metavar="FILE", help="the bait's alignment (--screen pulldown)")
    screen.add_argument("--pairs", metavar="FILE",
                        help="one complex per line: alignment files, comma-separated, each optionally :COPIES "
                             "(e.g. A.sto:2,B.a3m), relative to the file's folder")
    screen.add_argument("--include-homomers", action="store_true", help="--screen all-vs-all: also each homodimer")
    screen.add_argument("--rank-by", choices=RANK_BY, default=RANK_BY[0],
                        help="the score screen.tsv ranks by (default ipsae: docs in the README)")
    screen.add_argument("--max-complexes", type=whole_number(1), default=10_000,
                        help="the most complexes a screen may hold (default 10000)")
    batch = parser.add_argument_group("batch (several alignments, --output-dir; remote or --local)")
    batch.add_argument("--concurrency", type=whole_number(1), default=4,
                       help="most jobs in flight at once on the endpoint (default 4; --local runs one at a time)")
    batch.add_argument("--max-retries", type=whole_number(0), default=2,
                       help="resubmissions of a failed job before giving up on it (default 2)")
    remote = parser.add_argument_group("remote prediction on a RunPod endpoint")
    remote.add_argument("--endpointId", help="RunPod serverless endpoint id")
    remote.add_argument("--api-key", default=settings.text(settings.RUNPOD_API_KEY),
                        help="RunPod API key (default: $RUNPOD_API_KEY)")
    remote.add_argument("--api-url", default=DEFAULT_API_URL,
                        help="endpoint URL; {endpointId} is replaced (default %(default)s)")
    remote.add_argument("--timeout", type=positive_seconds, default=3600,
                        help="seconds to wait for a job (default 3600)")
    remote.add_argument("--poll-interval", type=positive_seconds, default=10,
                        help="longest pause between status checks, in seconds (default 10)")
    remote.add_argument("--resume", metavar="JOB_ID", help="wait for an already submitted job instead of submitting")
    local = parser.add_argument_group("local prediction (needs the worker install: pip install '.[worker]')")
    local.add_argument("--local", action="store_true", help="predict on this machine instead of an endpoint")
    local.add_argument("--param-dir", help="folder holding params/params_model_*.npz (default $PARAM_DIR)")
    local.add_argument("--model-config", choices=("full", "reduced"),
                       help="network size: full AlphaFold2 (default) or reduced (tests only)")
    local.add_argument("--model-preset", choices=("monomer_ptm", "monomer"), default="monomer_ptm",
                       help="parameter set: monomer_ptm (default, gives pTM and PAE) or monomer")
    local.add_argument("--demo-weights", action="store_true",
                       help="use generated random weights instead of the official ones: the structure is meaningless")
    local.add_argument("--kernels", choices=settings.KERNELS.choices,
                       help="GPU kernels: auto (default, $ALPHAFOLD_MSA_KERNELS: the fused kernels once a self-check "
                            "approves them on this GPU; plain XLA on a CPU), pallas, cuda_legacy or xla")
    return parser


def parse_formats(text: str) -> tuple[str | None, list[str] | None]:
    """--format: (alignment format or None, structure formats or None) from e.g. 'pdb,cif' or 'sto'."""
    from alphafold_msa.msa.read import FORMATS

    aliases = {"sto": "stockholm", "stk": "stockholm", "mmcif": "cif", "afa": "fasta", "aln": "clustal"}
    items = [aliases.get(item.strip().lower(), item.strip().lower()) for item in text.split(",") if item.strip()]
    unknown = [item for item in items if item not in ("pdb", "cif") and item not in FORMATS]
    if unknown or not items:
        raise argparse.ArgumentTypeError(
            f"'{text}': expected structure formats pdb and/or cif, or one alignment format of {', '.join(FORMATS)}")
    alignment = [item for item in items if item in FORMATS]
    if len(alignment) > 1:
        raise argparse.ArgumentTypeError(f"'{text}': name at most one alignment format")
    structures = [item for item in items if item in ("pdb", "cif")]
    return (alignment[0] if alignment else None), (structures or None)


def whole_number(minimum: int):
    """An argparse type: a whole number of at least `minimum`."""
    def parse(text: str) -> int:
        if not text.isdigit() or int(text) < minimum:
            raise argparse.ArgumentTypeError(f"expected a whole number of at least {minimum}, got '{text}'")
        return int(text)

    return parse


def positive_seconds(text: str) -> float:
    """An argparse type: a finite number of seconds above 0."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0, got '{text}'")
    return value


def is_batch(options: LaunchOptions) -> bool:
    """Several alignments (files, folders, globs) without --complex."""
    if options.is_complex or options.resume:
        return False
    return not (len(options.msa) == 1 and Path(options.msa[0]).is_file())


def check_combinations(options: LaunchOptions) -> None:
    """Flags that cannot go together, and --msa paths that name nothing, before anything is read."""
    if options.local and (options.endpoint_id or options.resume):
        flag = "--endpointId" if options.endpoint_id else "--resume"
        raise UserError(f"--local predicts on this machine; {flag} is for a job on an endpoint: give one of them")
    if options.local and options.fan_out is not None:
        raise UserError("--fan-out spreads a prediction over an endpoint's workers; --local predicts on this machine: "
                        "give one of them")
    if options.screen is not None and options.msa_clusters:
        raise UserError("--msa-clusters: AF-Cluster clusters a single chain's alignment; a screen's complexes have "
                        "several chains")
    if options.fan_out is not None and options.resume:
        raise UserError("--fan-out is resumed by running the same command again (its manifest is in --output-dir), "
                        "not with --resume")
    for pattern in options.msa:
        if not glob.has_magic(pattern) and not Path(pattern).exists():
            raise UserError(f"--msa {pattern}: no such file or folder")


def with_implied_output(options: LaunchOptions) -> LaunchOptions:
    """One job given --output-dir but no --output: its top model also goes into that folder, named after the
    alignment (out/PF00076.pdb beside ranked_0.pdb and the job's other files)."""
    if options.output or not options.output_dir or options.resume:
        return options
    from alphafold_msa.launcher.batch import job_names

    name = "_".join(job_names([Path(path) for path in options.msa]))
    formats = options.job_spec().formats
    return dataclasses.replace(options, output=str(Path(options.output_dir) / f"{name}.{formats[0]}"),
                               adopt_output=True)


def dispatch(options: LaunchOptions, runners=None) -> int:
    """Run what the options ask for; returns the exit code (errors of the package's tree propagate)."""
    if options.screen is not None:
        check_combinations(options)
        return _screen(options, runners)
    if not options.msa and not options.resume:
        raise UserError("--msa is required: the alignment file to predict from")
    check_combinations(options)
    if options.check:
        from alphafold_msa.launcher.inputs import run_check

        return EXIT_OK if run_check(options) else EXIT_BAD_INPUT
    if options.resume and not options.output:
        raise UserError("--resume JOB_ID waits for one job: give --output for its structure")
    if is_batch(options):
        if options.output or not options.output_dir:
            if len(options.msa) == 1:
                raise UserError(f"--msa {options.msa[0]} names a folder or pattern: a batch, one job per alignment, "
                                f"which needs --output-dir (not --output); name one file to predict it alone")
            raise UserError("several alignments: add --complex to predict them as one complex (chains in --msa "
                            "order), or give --output-dir (not --output) to predict each as its own job (a batch)")
        check_output_paths(None, options.output_dir, [], job_folder=False)
        if options.fan_out is not None:
            raise UserError("--fan-out spreads one prediction over many GPUs: give one alignment (or --complex)")
        if options.local:
            from alphafold_msa.launcher.local import run_local_batch

            return run_local_batch(options, runners)
        from alphafold_msa.launcher.remote import run_remote_batch

        return run_remote_batch(options)
    options = with_implied_output(options)
    if not options.output:
        raise UserError("--output is required: where to write the predicted structure "
                        "(or --output-dir: a folder for every file of the job)")
    check_output_paths(options.output, options.output_dir, options.job_spec().formats, options.inputs,
                       adopted=options.adopt_output)
    if options.local:
        from alphafold_msa.launcher.local import run_local

        return run_local(options, runners)
    if options.fan_out is not None:
        from alphafold_msa.launcher.fanout import run_fan_out

        return run_fan_out(options)
    from alphafold_msa.launcher.remote import run_remote

    return run_remote(options)


def _screen(options: LaunchOptions, runners) -> int:
    """--screen: check its plan, or run it (launcher/screen.py)."""
    from alphafold_msa.launcher import screen

    if options.check:
        return EXIT_OK if screen.run_check(options) else EXIT_BAD_INPUT
    if options.output or not options.output_dir or options.resume:
        raise UserError("--screen writes each complex's folder and screen.tsv into --output-dir: give it (and not "
                        "--output or --resume)")
    check_output_paths(None, options.output_dir, [], job_folder=False)
    return screen.run_screen(options, runners)


def quiet_known_warnings() -> None:
    """Dependencies' warnings that say nothing to a user (jax truncating int64 to int32 by design)."""
    warnings.filterwarnings("ignore", message=r"Explicitly requested dtype .*int64", category=UserWarning)


def main(argv: Sequence[str] | None = None, *, runners=None) -> int:
    """launch.py; `runners` (a RunnerCache) lets a caller that predicts several times in one process
    (--local) compile each network once."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("urllib3").setLevel(logging.ERROR)  # its "Retrying (...)" lines: the client says what failed
    quiet_known_warnings()
    try:
        options = LaunchOptions.from_namespace(args)
        options.job_spec()  # every option, with the job schema's rules, before anything is read or fetched
        return dispatch(options, runners)
    except AlphafoldMsaError as error:  # each branch of the tree has its exit code (alphafold_msa.errors)
        if not args.msa and not args.resume and not args.screen:
            print(parser.format_usage().rstrip() + "\n\n" + EXAMPLES.rstrip() + "\n\nall options: --help",
                  file=sys.stderr)
        print(f"error: {printable(error)}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_CANCELLED
