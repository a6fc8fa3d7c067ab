"""launch.py's command line: predict locally (--local) or through a RunPod endpoint (--endpointId)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Sequence

from alphafold_msa.errors import UserError, printable
from alphafold_msa.launcher.client import DEFAULT_API_URL, RemoteError
from alphafold_msa.model.config import (
    COMPLEX_MODES,
    DEFAULT_MAX_MSA_DEPTH,
    DEFAULT_NUM_RECYCLE,
    RELAX_MODES,
    model_name,
)
from alphafold_msa.model.kernels import KERNEL_CHOICES

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2
EXIT_REMOTE_FAILED = 3
EXIT_TIMEOUT = 4
EXIT_CANCELLED = 5


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="launch.py",
        description="AlphaFold2 structure prediction from your own multiple sequence alignment.",
    )
    parser.add_argument("--msa", nargs="+", action="extend",
                        help="alignment file: a3m, a2m, Stockholm, aligned FASTA or Clustal; for a complex, one "
                             "per distinct chain (repeat --msa) or one ColabFold complex a3m; for a batch (with "
                             "--output-dir and no --output), any number of files, folders and glob patterns")
    complexes = parser.add_argument_group("complexes")
    complexes.add_argument("--paired", action="append",
                           help="paired alignment of the complex: one file whose query is the chains' queries "
                                "concatenated, or one file per chain whose rows pair up by position")
    complexes.add_argument("--copies", help="copies of each chain, e.g. 2,1 (default 1 each; --copies 2 with one "
                                            "--msa predicts a homodimer)")
    complexes.add_argument("--complex-mode", choices=COMPLEX_MODES, default="multimer",
                           help="AlphaFold-Multimer v3 (default) or the monomer pTM models with chain breaks (ptm)")
    parser.add_argument("--template", action="append", metavar="FILE[:CHAIN][@CHAIN]",
                        help="a structure (PDB or mmCIF) the models that use templates read (1 and 2; all five "
                             "for AlphaFold-Multimer): FILE uses its chain that best matches the query, FILE:B "
                             "its chain B; for a complex, FILE:B@A gives chain B to the complex's chain A. "
                             "Repeat for up to 4; a batch uses the same templates for every alignment")
    parser.add_argument("--output", help="where to write the top-ranked structure (PDB); scores go to "
                                         "<output>.scores.json, plots and summary beside it")
    parser.add_argument("--output-dir",
                        help="folder for every output file (all ranked models, scores, ranking, plots, summary); "
                             "without --output, batch mode: one subfolder per alignment, a manifest to resume "
                             "from, and a summary table")
    parser.add_argument("--format", type=parse_formats, default=(None, None),
                        help="structure formats to write, pdb and/or cif (e.g. pdb,cif; default pdb), and/or the "
                             "alignment format if detection should be overridden (a3m, a2m, fasta, stockholm, clustal)")
    parser.add_argument("--query", help="name of the row to predict (default: the first row)")
    parser.add_argument("--models", default="1,2,3,4,5", help="comma-separated model numbers (default 1,2,3,4,5)")
    parser.add_argument("--num-recycle", type=int, default=DEFAULT_NUM_RECYCLE,
                        help=f"recycling iterations per model (default {DEFAULT_NUM_RECYCLE})")
    parser.add_argument("--recycle-early-stop-tolerance", type=float,
                        help="stop recycling once the structure moves less than this (default 0.0: never early)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--num-seeds", type=int, default=1, help="seeds per model, from --seed upwards (default 1)")
    parser.add_argument("--relax", choices=RELAX_MODES,
                        help="Amber relaxation of the top model (best: the default, as AlphaFold), of all models, "
                             "or none (default: $ALPHAFOLD_MSA_RELAX where the prediction runs, else best; "
                             "none with --demo-weights)")
    parser.add_argument("--check", action="store_true",
                        help="only read and validate the alignment; print a JSON summary (exit 0) or the error (exit 2)")
    remote = parser.add_argument_group("remote prediction on a RunPod endpoint")
    remote.add_argument("--endpointId", help="RunPod serverless endpoint id")
    remote.add_argument("--api-key", default=os.environ.get("RUNPOD_API_KEY"),
                        help="RunPod API key (default: $RUNPOD_API_KEY)")
    remote.add_argument("--api-url", default=DEFAULT_API_URL,
                        help="endpoint URL; {endpointId} is replaced (default %(default)s)")
    remote.add_argument("--timeout", type=float, default=3600, help="seconds to wait for the job (default 3600)")
    remote.add_argument("--poll-interval", type=float, default=10,
                        help="longest pause between status checks, in seconds (default 10)")
    remote.add_argument("--resume", metavar="JOB_ID", help="wait for an already submitted job instead of submitting")
    remote.add_argument("--concurrency", type=whole_number(1), default=4,
                        help="batch mode: most jobs in flight at once (default 4)")
    remote.add_argument("--max-retries", type=whole_number(0), default=2,
                        help="batch mode: resubmissions of a failed job before giving up on it (default 2)")
    local = parser.add_argument_group("local prediction (needs the worker install: pip install '.[worker]')")
    local.add_argument("--local", action="store_true", help="predict on this machine instead of an endpoint")
    local.add_argument("--param-dir", help="folder holding params/params_model_*.npz (default $PARAM_DIR)")
    local.add_argument("--model-config", choices=("full", "reduced"),
                       help="network size: full AlphaFold2 (default) or reduced (tests only)")
    local.add_argument("--model-preset", choices=("monomer_ptm", "monomer"), default="monomer_ptm",
                       help="parameter set: monomer_ptm (default, gives pTM and PAE) or monomer")
    local.add_argument("--demo-weights", action="store_true",
                       help="use generated random weights instead of the official ones: the structure is meaningless")
    local.add_argument("--kernels", choices=KERNEL_CHOICES,
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


def parse_models(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UserError(f"--models: expected comma-separated numbers from 1-5, got '{text}'") from None


def write_structure(output: Path, structure: str, scores: dict) -> None:
    """The structure at `output` and its scores at <output>.scores.json, each written atomically."""
    from alphafold_msa.results.structures import write_atomic

    output.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(output, structure)
    write_atomic(output.with_suffix(".scores.json"), json.dumps(scores))


def parse_copies(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise UserError(f"--copies: expected comma-separated copy numbers such as 2,1, got '{text}'") from None


def read_checked(args: argparse.Namespace):
    """The alignment (`Msa`) or complex (`ComplexMsa`), read and validated with the light install
    (the length limit included)."""
    from alphafold_msa.model.config import max_query_length
    from alphafold_msa.msa import assemble_complex, read_msa
    from alphafold_msa.msa.filter import check_length

    copies = parse_copies(args.copies)
    if len(args.msa) == 1 and not args.paired and copies is None:
        return check_one(Path(args.msa[0]), args)
    if args.query:
        raise UserError("--query picks the row of a single alignment; a complex uses each chain's first row")
    chains = [read_msa(path, format=args.msa_format) for path in args.msa]
    paired = [read_msa(path) for path in args.paired or []]
    msa = assemble_complex(chains, copies, paired or None)
    if msa.num_chains == 1:
        msa = msa.chains[0]
    check_length(msa, max_query_length())
    return msa


def check_alignment(args: argparse.Namespace) -> dict:
    """Summarise what a prediction would use: format, query, depth before and after filtering, and
    the device memory five full-size models need for it."""
    from alphafold_msa.model.memory import GB, estimate_peak_bytes
    from alphafold_msa.msa import Msa
    from alphafold_msa.msa.filter import filter_msa

    msa = read_checked(args)
    memory = {"estimated_device_memory_gb": round(estimate_peak_bytes(msa.length) / GB, 1)}
    if not isinstance(msa, Msa):
        return {"format": "complex", "query_name": msa.query_name, "query_length": msa.length,
                "num_sequences": msa.depth, "chain_ids": msa.chain_ids, "chain_lengths": msa.chain_lengths,
                "paired_rows": msa.paired_rows, **memory}
    filtered, _ = filter_msa(msa, DEFAULT_MAX_MSA_DEPTH, seed=args.seed)
    return {
        "format": msa.format, "query_name": msa.query_name, "query_length": msa.length,
        "num_sequences": msa.depth, "num_sequences_filtered": filtered.depth,
        "gap_fraction": round(msa.gap_fraction(), 4), **memory,
    }


def run_check(args: argparse.Namespace) -> int:
    """--check: print the alignment summary as one JSON object."""
    print(json.dumps(check_alignment(args)))
    return EXIT_OK


def describe_relax(info: dict | None) -> str:
    """', relaxed on CPU in 8.3 s', ', not relaxed (reason)' or '' when relaxation was not asked for."""
    if not info:
        return ""
    if "error" in info:
        return f", NOT relaxed: {info['error']} (the unrelaxed model was written)"
    return f", relaxed on {info['platform']} in {info['seconds']:.1f} s"


def fetch_missing_weights(param_dir: Path, names: list[str]) -> None:
    """Weights already in the folder are used as they are; missing ones are provisioned like start.sh does."""
    from alphafold_msa.model.provision import ensure_weights
    from alphafold_msa.model.weights import params_file

    if all(params_file(param_dir, name).is_file() for name in names):
        return
    print(f"AlphaFold weights missing in {param_dir / 'params'}; downloading them (about 5 GB, once)",
          file=sys.stderr)
    ensure_weights(param_dir, models=names)


def warn_demo_weights(args: argparse.Namespace) -> None:
    if args.demo_weights:
        print("WARNING: --demo-weights: predicting with RANDOM weights; the structure is MEANINGLESS "
              "and only shows that the pipeline runs.", file=sys.stderr)


def predict_here(args: argparse.Namespace, msa, work_dir: Path, runners=None, templates=()):
    """run_prediction on this machine with the command's options, the same code the worker runs;
    the weights are the official ones (fetched when missing) or, with --demo-weights, generated.
    `runners` (a RunnerCache) carries compiled networks from one alignment of a batch to the next."""
    from alphafold_msa.model.weights import default_param_dir
    from alphafold_msa.msa import Msa
    from alphafold_msa.predict import run_prediction

    param_dir = Path(args.param_dir) if args.param_dir else default_param_dir()
    models = parse_models(args.models)
    preset = args.model_preset
    if not isinstance(msa, Msa):
        preset = "multimer" if args.complex_mode == "multimer" else "monomer_ptm"
    if args.demo_weights:
        from alphafold_msa.testing.demo import demo_param_dir

        param_dir = demo_param_dir(args.model_config or "full", preset, models)
    else:
        fetch_missing_weights(param_dir, [model_name(n, preset) for n in models])
    return run_prediction(
        msa, work_dir, param_dir,
        model_config=args.model_config, preset=args.model_preset, complex_mode=args.complex_mode, models=models,
        num_recycle=args.num_recycle, recycle_early_stop_tolerance=args.recycle_early_stop_tolerance,
        random_seed=args.seed, num_seeds=args.num_seeds, formats=args.structure_formats or ("pdb",),
        relax=args.relax or ("none" if args.demo_weights else None),  # relaxing random weights' output is moot
        kernels=args.kernels, runners=runners, templates=templates,
        progress=lambda message: print(message, file=sys.stderr),
    )


def run_local(args: argparse.Namespace) -> int:
    """Predict one alignment or complex on this machine; write the top model, its scores and plots."""
    from alphafold_msa.launcher.result_files import job_scores, place_beside
    from alphafold_msa.launcher.templates import check_templates, read_templates

    msa = read_checked(args)  # bad input fails before any weights are fetched or models loaded
    templates = read_templates(args.template)
    check_templates(templates, msa, quiet=True)  # the prediction reports what each template covers
    warn_demo_weights(args)
    work_dir = Path(args.output_dir) if args.output_dir else Path(tempfile.mkdtemp(prefix="alphafold-msa-"))
    try:
        result = predict_here(args, msa, work_dir, templates=templates)
        scores = job_scores(work_dir)
        structure = result.best.relaxed_path or result.best.structure_path
        write_structure(Path(args.output), structure.read_text(), scores)
        place_beside(Path(args.output), work_dir)
    finally:
        if not args.output_dir:
            shutil.rmtree(work_dir, ignore_errors=True)
    best = result.best
    ptm = f", pTM {best.ptm:.3f}" if best.ptm is not None else ""
    iptm = f", ipTM {best.iptm:.3f}" if best.iptm is not None else ""
    print(f"wrote {args.output} ({best.model_name}, mean pLDDT {best.mean_plddt:.2f}{ptm}{iptm}"
          f"{describe_relax(scores.get('relax'))})", file=sys.stderr)
    return EXIT_OK


def check_one(path: Path, args: argparse.Namespace):
    """One alignment file (or ColabFold complex a3m) read and checked with --format and --query,
    the length limit included: a single job's input, or each of a batch's."""
    from alphafold_msa.model.config import max_query_length
    from alphafold_msa.msa import read_input
    from alphafold_msa.msa.filter import check_length

    msa = read_input(path, format=args.msa_format, query=args.query)
    check_length(msa, max_query_length())
    return msa


def run_local_batch(args: argparse.Namespace) -> int:
    """Batch mode on this machine (see alphafold_msa.launcher.batch); the same templates for every alignment."""
    from alphafold_msa.launcher.batch import run_local_batch as run
    from alphafold_msa.launcher.templates import check_templates, fingerprints, read_templates

    settings = {"models": parse_models(args.models), "num_recycle": args.num_recycle, "random_seed": args.seed,
                "num_seeds": args.num_seeds, "relax": args.relax, "formats": args.structure_formats,
                "complex_mode": args.complex_mode, "model_config": args.model_config,
                "model_preset": args.model_preset, "demo_weights": args.demo_weights}
    templates = read_templates(args.template)
    if templates:
        settings["templates"] = fingerprints(templates)
    warn_demo_weights(args)
    from alphafold_msa.model.runner import RunnerCache

    runners = RunnerCache()

    def predict(msa, folder: Path) -> dict:
        result = predict_here(args, msa, folder, runners, templates)
        best = result.best
        return {"length": result.msa_summary["query_length"], "depth": result.msa_summary["num_sequences"],
                "mean_plddt": best.mean_plddt, "ptm": best.ptm, "iptm": best.iptm,
                "worker_s": result.timings["total_s"]}

    def check(path: Path):
        msa = check_one(path, args)
        check_templates(templates, msa, quiet=True)
        return msa

    return run(args, settings, check, predict)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.msa_format, args.structure_formats = args.format
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        if not args.msa and not args.resume:
            raise UserError("--msa is required: the alignment file to predict from")
        if args.check:
            return run_check(args)
        if args.resume and not args.output:
            raise UserError("--resume JOB_ID waits for one job: give --output for its structure")
        if not args.output and not args.output_dir:
            raise UserError("--output is required: where to write the predicted structure "
                            "(or --output-dir without --output for a batch)")
        if args.local:
            return run_local(args) if args.output else run_local_batch(args)
        from alphafold_msa.launcher.remote import run_remote, run_remote_batch

        return run_remote(args) if args.output else run_remote_batch(args)
    except RemoteError as error:
        print(f"error: {printable(error)}", file=sys.stderr)
        return EXIT_REMOTE_FAILED
    except UserError as error:
        print(f"error: {printable(error)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_CANCELLED
