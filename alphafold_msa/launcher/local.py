"""launch.py --local: predict on this machine with the code the worker runs (needs the worker
install; the model and jax are imported inside the functions, so the light client never loads them)."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from alphafold_msa import settings
from alphafold_msa.errors import EXIT_OK, UserError, printable
from alphafold_msa.launcher.console import ProgressLog, result_line
from alphafold_msa.launcher.inputs import check_one, read_checked
from alphafold_msa.launcher.options import LaunchOptions
from alphafold_msa.launcher.output_folder import OutputConflict, arriving, install
from alphafold_msa.launcher.templates import check_templates, fingerprints, read_templates


def fetch_missing_weights(param_dir: Path, names: list[str]) -> None:
    """Weights already in the folder are used as they are; missing ones are provisioned like start.sh
    does. When that fails, the error says where weights were looked for, what was tried, and how to
    point elsewhere or make a trial run."""
    from alphafold_msa.model.provision import ensure_weights
    from alphafold_msa.model.weights import OFFICIAL_URL, params_file
    from alphafold_msa.transfer.https import redact_url

    if all(params_file(param_dir, name).is_file() for name in names):
        return
    print(f"AlphaFold weights missing in {param_dir / 'params'}; downloading them (about 5 GB, once)",
          file=sys.stderr)
    url = settings.params_url() or OFFICIAL_URL
    try:
        ensure_weights(param_dir, url, models=names)
    except UserError as error:
        raise UserError(f"{error}. Weights were looked for in {param_dir / 'params'} (--param-dir or $PARAM_DIR) "
                        f"and fetched from {redact_url(url)} (set PARAMS_URL for another source); for a trial "
                        f"run without them, add --demo-weights (random weights: not a structure prediction)") from None


def warn_demo_weights(options: LaunchOptions) -> None:
    if options.demo_weights:
        print("WARNING: --demo-weights: predicting with RANDOM weights; the structure is MEANINGLESS "
              "and only shows that the pipeline runs.", file=sys.stderr)


def param_dir_for(options: LaunchOptions, preset: str) -> Path:
    """The weights' folder: generated demo weights, or the official ones (fetched when missing)."""
    from alphafold_msa.model.config import model_name
    from alphafold_msa.model.weights import default_param_dir

    if options.demo_weights:
        from alphafold_msa.testing.demo import demo_param_dir

        return demo_param_dir(options.model_config or "full", preset, options.models)
    param_dir = Path(options.param_dir) if options.param_dir else default_param_dir()
    fetch_missing_weights(param_dir, [model_name(n, preset) for n in options.models])
    return param_dir


def predict_here(options: LaunchOptions, msa, work_dir: Path, runners=None, templates=()):
    """run_prediction on this machine with the command's options and `templates` (read with
    launcher.templates), the same code the worker runs. `runners` (a RunnerCache) carries compiled
    networks from one prediction to the next."""
    from alphafold_msa.msa import Msa
    from alphafold_msa.predict import run_prediction

    preset = options.model_preset
    if not isinstance(msa, Msa):
        preset = "multimer" if options.complex_mode == "multimer" else "monomer_ptm"
    param_dir = param_dir_for(options, preset)
    with ProgressLog() as progress:
        return run_prediction(
            msa, work_dir, param_dir,
            model_config=options.model_config, preset=options.model_preset, complex_mode=options.complex_mode,
            models=options.models, num_recycle=options.num_recycle,
            recycle_early_stop_tolerance=options.recycle_early_stop_tolerance, random_seed=options.random_seed,
            num_seeds=options.num_seeds, max_msa_depth=options.max_msa_depth,
            formats=options.structure_formats or ("pdb",),
            relax=options.relax or ("none" if options.demo_weights else None),  # relaxing random weights is moot
            kernels=options.kernels, runners=runners, templates=templates, demo_weights=options.demo_weights,
            progress=progress,
        )


def run_local(options: LaunchOptions, runners=None) -> int:
    """Predict one alignment or complex on this machine; write the top model, its scores and plots.
    The prediction's files go into --output-dir as a remote job's do (launcher.output_folder); one that
    would replace a file the launcher did not write there stops it, after the structure is written.
    Returns the exit code."""
    msa = read_checked(options)  # bad input fails before any weights are fetched or models loaded
    templates = read_templates(options.template)
    check_templates(templates, msa, quiet=True)  # the prediction reports what each template covers
    warn_demo_weights(options)
    files_dir = Path(options.output_dir) if options.output_dir else Path(tempfile.mkdtemp(prefix="alphafold-msa-"))
    try:
        with arriving(files_dir) as arrived:
            result = predict_here(options, msa, arrived, runners, templates)
            scores, conflict = write_local_results(result, arrived, files_dir, Path(options.output))
    finally:
        if not options.output_dir:
            shutil.rmtree(files_dir, ignore_errors=True)
    if conflict is not None:
        print(f"error: wrote {options.output}, but {printable(conflict)}", file=sys.stderr)
        return conflict.exit_code
    print(result_line(options.output, scores), file=sys.stderr)
    return EXIT_OK


def write_local_results(result, arrived: Path, files_dir: Path, output: Path) -> tuple[dict, OutputConflict | None]:
    """Move a prediction's files from `arrived` into `files_dir` (launcher.output_folder.install), then write
    the top structure at `output` with its scores and plots beside it, read from those files only. When one
    would replace a file the launcher did not write, nothing moves in and the structure comes from `arrived`;
    returns the scores and that conflict."""
    from alphafold_msa.launcher.result_files import job_scores, place_beside, write_structure

    structure = (result.best.relaxed_path or result.best.structure_path).read_text()
    try:
        files, conflict = install(arrived, files_dir), None
    except OutputConflict as error:
        files, conflict = sorted(arrived.iterdir()), error
    scores = job_scores(files)
    write_structure(output, structure, scores)
    place_beside(output, files)
    return scores, conflict


def run_local_batch(options: LaunchOptions, runners=None) -> int:
    """Batch mode on this machine (see alphafold_msa.launcher.batch), the same templates for every
    alignment; returns the exit code."""
    from alphafold_msa.launcher.batch import run_local_batch as run
    from alphafold_msa.model.runner import RunnerCache

    settings = {"models": options.models, "num_recycle": options.num_recycle, "random_seed": options.random_seed,
                "num_seeds": options.num_seeds, "max_msa_depth": options.max_msa_depth, "relax": options.relax,
                "formats": options.structure_formats, "complex_mode": options.complex_mode,
                "model_config": options.model_config, "model_preset": options.model_preset,
                "demo_weights": options.demo_weights}
    templates = read_templates(options.template)
    if templates:
        settings["templates"] = fingerprints(templates)
    warn_demo_weights(options)
    runners = runners if runners is not None else RunnerCache()

    def predict(msa, folder: Path) -> dict[str, Any]:
        with arriving(folder) as arrived:  # moved in as a remote job's files are
            result = predict_here(options, msa, arrived, runners, templates)
            install(arrived, folder)
        best = result.best
        return {"length": result.msa_summary["query_length"], "depth": result.msa_summary["num_sequences"],
                "mean_plddt": best.mean_plddt, "ptm": best.ptm, "iptm": best.iptm,
                "worker_s": result.timings["total_s"]}

    def check(path: Path):
        msa = check_one(path, options)
        check_templates(templates, msa, quiet=True)
        return msa

    return run(options, settings, check, predict)
