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

from alphafold_msa.client import DEFAULT_API_URL, RemoteError
from alphafold_msa.config import DEFAULT_MAX_MSA_DEPTH, DEFAULT_NUM_RECYCLE, model_name
from alphafold_msa.errors import UserError

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
    parser.add_argument("--msa", help="alignment file: a3m, a2m, Stockholm, aligned FASTA or Clustal")
    parser.add_argument("--output", help="where to write the top-ranked structure (PDB); scores go to <output>.scores.json")
    parser.add_argument("--format", dest="msa_format", help="alignment format, if detection should be overridden")
    parser.add_argument("--query", help="name of the row to predict (default: the first row)")
    parser.add_argument("--models", default="1,2,3,4,5", help="comma-separated model numbers (default 1,2,3,4,5)")
    parser.add_argument("--num-recycle", type=int, default=DEFAULT_NUM_RECYCLE,
                        help=f"recycling iterations per model (default {DEFAULT_NUM_RECYCLE})")
    parser.add_argument("--recycle-early-stop-tolerance", type=float,
                        help="stop recycling once the structure moves less than this (default 0.0: never early)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--num-seeds", type=int, default=1, help="seeds per model, from --seed upwards (default 1)")
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
    local = parser.add_argument_group("local prediction (needs the worker install: pip install '.[worker]')")
    local.add_argument("--local", action="store_true", help="predict on this machine instead of an endpoint")
    local.add_argument("--param-dir", help="folder holding params/params_model_*.npz (default $PARAM_DIR)")
    local.add_argument("--model-config", choices=("full", "reduced"),
                       help="network size: full AlphaFold2 (default) or reduced (tests only)")
    local.add_argument("--model-preset", choices=("monomer_ptm", "monomer"), default="monomer_ptm",
                       help="parameter set: monomer_ptm (default, gives pTM and PAE) or monomer")
    local.add_argument("--output-dir", help="keep every ranked model, score file and timing in this folder")
    local.add_argument("--demo-weights", action="store_true",
                       help="use generated random weights instead of the official ones: the structure is meaningless")
    return parser


def parse_models(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UserError(f"--models: expected comma-separated numbers from 1-5, got '{text}'") from None


def write_structure(output: Path, structure: str, scores: dict) -> None:
    """The structure at `output` and its scores at <output>.scores.json, each written atomically."""
    from alphafold_msa.outputs import write_atomic

    output.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(output, structure)
    write_atomic(output.with_suffix(".scores.json"), json.dumps(scores))


def read_checked(args: argparse.Namespace):
    """The alignment, read and validated with the light install (the query-length limit included)."""
    from alphafold_msa.config import max_query_length
    from alphafold_msa.msa import read_msa
    from alphafold_msa.msa.filter import check_length

    msa = read_msa(args.msa, format=args.msa_format, query=args.query)
    check_length(msa, max_query_length())
    return msa


def check_alignment(args: argparse.Namespace) -> dict:
    """Summarise what a prediction would use: format, query, depth before and after filtering, and
    the device memory five full-size models need for it."""
    from alphafold_msa.memory import GB, estimate_peak_bytes
    from alphafold_msa.msa.filter import filter_msa

    msa = read_checked(args)
    filtered, _ = filter_msa(msa, DEFAULT_MAX_MSA_DEPTH, seed=args.seed)
    return {
        "format": msa.format, "query_name": msa.query_name, "query_length": msa.length,
        "num_sequences": msa.depth, "num_sequences_filtered": filtered.depth,
        "gap_fraction": round(msa.gap_fraction(), 4),
        "estimated_device_memory_gb": round(estimate_peak_bytes(msa.length) / GB, 1),
    }


def run_check(args: argparse.Namespace) -> int:
    """--check: print the alignment summary as one JSON object."""
    print(json.dumps(check_alignment(args)))
    return EXIT_OK


def fetch_missing_weights(param_dir: Path, names: list[str]) -> None:
    """Weights already in the folder are used as they are; missing ones are provisioned like start.sh does."""
    from alphafold_msa.provision import ensure_weights
    from alphafold_msa.weights import params_file

    if all(params_file(param_dir, name).is_file() for name in names):
        return
    print(f"AlphaFold weights missing in {param_dir / 'params'}; downloading them (about 5 GB, once)",
          file=sys.stderr)
    ensure_weights(param_dir, models=names)


def run_local(args: argparse.Namespace) -> int:
    """Predict on this machine through run_prediction, the same code the worker runs."""
    from alphafold_msa.predict import run_prediction
    from alphafold_msa.weights import default_param_dir

    msa = read_checked(args)  # bad input fails before any weights are fetched or models loaded
    param_dir = Path(args.param_dir) if args.param_dir else default_param_dir()
    models = parse_models(args.models)
    if args.demo_weights:
        from alphafold_msa.testing.demo import demo_param_dir

        print("WARNING: --demo-weights: predicting with RANDOM weights; the structure is MEANINGLESS "
              "and only shows that the pipeline runs.", file=sys.stderr)
        param_dir = demo_param_dir(args.model_config or "full", args.model_preset, models)
    else:
        fetch_missing_weights(param_dir, [model_name(n, args.model_preset) for n in models])
    work_dir = Path(args.output_dir) if args.output_dir else Path(tempfile.mkdtemp(prefix="alphafold-msa-"))
    try:
        result = run_prediction(
            msa, work_dir, param_dir,
            model_config=args.model_config, preset=args.model_preset, models=models,
            num_recycle=args.num_recycle, recycle_early_stop_tolerance=args.recycle_early_stop_tolerance,
            random_seed=args.seed, num_seeds=args.num_seeds,
            progress=lambda message: print(message, file=sys.stderr),
        )
        scores = json.loads(result.best.scores_path.read_text())
        scores["msa"] = result.msa_summary
        scores["ranking"] = json.loads(result.ranking_path.read_text())
        write_structure(Path(args.output), result.best.structure_path.read_text(), scores)
    finally:
        if not args.output_dir:
            shutil.rmtree(work_dir, ignore_errors=True)
    best = result.best
    ptm = f", pTM {best.ptm:.3f}" if best.ptm is not None else ""
    print(f"wrote {args.output} ({best.model_name}, mean pLDDT {best.mean_plddt:.2f}{ptm})", file=sys.stderr)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        if not args.msa and not args.resume:
            raise UserError("--msa is required: the alignment file to predict from")
        if args.check:
            return run_check(args)
        if not args.output:
            raise UserError("--output is required: where to write the predicted structure")
        if args.local:
            return run_local(args)
        from alphafold_msa.remote import run_remote

        return run_remote(args)
    except RemoteError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_REMOTE_FAILED
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_CANCELLED
