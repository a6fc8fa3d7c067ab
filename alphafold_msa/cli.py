"""launch.py's command line: predict locally (--local) or through a RunPod endpoint (--endpointId)."""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Sequence

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
    parser.add_argument("--msa", required=True, help="alignment file: a3m, a2m, Stockholm, aligned FASTA or Clustal")
    parser.add_argument("--output", help="where to write the top-ranked structure (PDB); scores go to <output>.scores.json")
    parser.add_argument("--format", dest="msa_format", help="alignment format, if detection should be overridden")
    parser.add_argument("--query", help="name of the row to predict (default: the first row)")
    parser.add_argument("--models", default="1,2,3,4,5", help="comma-separated model numbers (default 1,2,3,4,5)")
    parser.add_argument("--num-recycle", type=int, default=3, help="recycling iterations per model (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--num-seeds", type=int, default=1, help="seeds per model, from --seed upwards (default 1)")
    remote = parser.add_argument_group("remote prediction on a RunPod endpoint")
    remote.add_argument("--endpointId", help="RunPod serverless endpoint id")
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


def _parse_models(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UserError(f"--models: expected comma-separated numbers from 1-5, got '{text}'") from None


def _write_outputs(result, output: Path) -> None:
    from alphafold_msa.outputs import write_atomic

    output.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(output, result.best.structure_path.read_text())
    scores = json.loads(result.best.scores_path.read_text())
    scores["msa"] = result.msa_summary
    scores["ranking"] = json.loads(result.ranking_path.read_text())
    write_atomic(output.with_suffix(".scores.json"), json.dumps(scores))


def run_local(args: argparse.Namespace) -> int:
    """Predict on this machine through run_prediction, the same code the worker runs."""
    from alphafold_msa.predict import run_prediction
    from alphafold_msa.weights import default_param_dir

    param_dir = Path(args.param_dir) if args.param_dir else default_param_dir()
    if args.demo_weights:
        from alphafold_msa.testing.demo import demo_param_dir

        print("WARNING: --demo-weights: predicting with RANDOM weights; the structure is MEANINGLESS "
              "and only shows that the pipeline runs.", file=sys.stderr)
        param_dir = demo_param_dir(args.model_config or "full", args.model_preset, _parse_models(args.models))
    work_dir = Path(args.output_dir) if args.output_dir else Path(tempfile.mkdtemp(prefix="alphafold-msa-"))
    try:
        result = run_prediction(
            args.msa, work_dir, param_dir,
            model_config=args.model_config, preset=args.model_preset, models=_parse_models(args.models),
            num_recycle=args.num_recycle, random_seed=args.seed, num_seeds=args.num_seeds,
            msa_format=args.msa_format, query=args.query, progress=lambda message: print(message, file=sys.stderr),
        )
        _write_outputs(result, Path(args.output))
    finally:
        if not args.output_dir:
            shutil.rmtree(work_dir, ignore_errors=True)
    best = result.best
    ptm = f", pTM {best.ptm:.3f}" if best.ptm is not None else ""
    print(f"wrote {args.output} ({best.model_name}, mean pLDDT {best.mean_plddt:.1f}{ptm})", file=sys.stderr)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        if not args.output:
            raise UserError("--output is required: where to write the predicted structure")
        if args.local:
            return run_local(args)
        if not args.endpointId:
            raise UserError("give --endpointId ID to predict on a RunPod endpoint, or --local to predict here")
        raise UserError("remote prediction through --endpointId is not available in this version yet; use --local")
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_CANCELLED
