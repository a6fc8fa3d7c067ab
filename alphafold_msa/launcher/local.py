"""launch.py --local: predict on this machine with the code the worker runs (needs the worker
install; the model and jax are imported inside the functions, so the light client never loads them)."""

from __future__ import annotations

import functools
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence

from alphafold_msa.errors import EXIT_OK, WeightsError, printable
from alphafold_msa.launcher.console import ProgressLog, result_line
from alphafold_msa.launcher.inputs import check_batch_file, check_job
from alphafold_msa.launcher.options import LaunchOptions
from alphafold_msa.launcher.output_folder import OutputConflict, adopt, arriving, install
from alphafold_msa.launcher.output_paths import output_files
from alphafold_msa.launcher.templates import read_templates
from alphafold_msa.protocol.spec import JobSpec


def fetch_missing_weights(param_dir: Path, names: list[str]) -> None:
    """Weights already in the folder are used as they are; missing ones are provisioned like start.sh
    does. When that fails, the error says where weights were looked for, what was tried, and how to
    point elsewhere or make a trial run."""
    from alphafold_msa.model.provision import ensure_weights
    from alphafold_msa.model.weights import archive_of, params_file
    from alphafold_msa.transfer.https import redact_url

    missing = [name for name in names if not params_file(param_dir, name).is_file()]
    if not missing:
        return
    sources = list(dict.fromkeys(archive_of(name) for name in missing))
    print(f"AlphaFold weights missing in {param_dir / 'params'}; downloading {' and '.join(s.label for s in sources)} "
          f"(3.5-5 GB each, once)", file=sys.stderr)
    try:
        ensure_weights(param_dir, models=names)
    except OSError as error:  # the folder cannot be made or written: the weights cannot go there
        raise WeightsError(f"{param_dir}: cannot hold the weights ({error.strerror or error}); give a folder you "
                           f"can write in with --param-dir or $PARAM_DIR, or add --demo-weights for a trial run "
                           f"(random weights: not a structure prediction)") from None
    except WeightsError as error:
        raise WeightsError(f"{error}. Weights were looked for in {param_dir / 'params'} (--param-dir or "
                           f"$PARAM_DIR) and fetched from {' and '.join(redact_url(s.url()) for s in sources)} "
                           f"(set {' or '.join(s.url_setting.name for s in sources)} for another source); "
                           f"for a trial run without them, add --demo-weights (random weights: not a structure "
                           f"prediction)") from None


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


def local_spec(options: LaunchOptions, spec: JobSpec) -> JobSpec:
    """The command's job as this machine runs it: with --demo-weights and no --relax, nothing is relaxed
    (relaxing random weights is moot)."""
    return spec.replace(relax="none") if options.demo_weights and spec.relax is None else spec


def predict_here(options: LaunchOptions, spec: JobSpec, msa, work_dir: Path, runners=None):
    """run_prediction of `spec` on this machine, the same code the worker runs. `runners` (a RunnerCache)
    carries compiled networks from one prediction to the next."""
    from alphafold_msa.predict import run_prediction, run_preset

    param_dir = param_dir_for(options, run_preset(msa, spec, options.model_preset))
    with ProgressLog() as progress:
        return run_prediction(msa, work_dir, param_dir, spec, model_config=options.model_config,
                              preset=options.model_preset, kernels=options.kernels, runners=runners,
                              demo_weights=options.demo_weights, progress=progress)


def run_local(options: LaunchOptions, runners=None) -> int:
    """Predict one alignment or complex on this machine; write the top model (in each --format), its scores
    and plots at --output, and every file of the prediction into --output-dir as a remote job's are
    (launcher.output_folder); one that would replace a file the launcher did not write there stops it, after
    the structure is written. Returns the exit code."""
    assert options.output is not None, "one job needs --output (cli.dispatch sees to it)"
    job = check_job(options)  # bad input fails before any weights are fetched or models loaded
    spec = local_spec(options, job.spec)  # the prediction reports what each template covers
    warn_demo_weights(options)
    files_dir = Path(options.output_dir) if options.output_dir else Path(tempfile.mkdtemp(prefix="alphafold-msa-"))
    try:
        with arriving(files_dir) as arrived:
            result = predict_here(options, spec, job.msa, arrived, runners)
            scores, conflict = write_local_results(result, arrived, files_dir, Path(options.output), spec.formats)
        if options.adopt_output and conflict is None:
            adopt(files_dir, output_files(Path(options.output), spec.formats))
    finally:
        if not options.output_dir:
            shutil.rmtree(files_dir, ignore_errors=True)
    if conflict is not None:
        print(f"error: wrote {options.output}, but {printable(conflict)}", file=sys.stderr)
        return conflict.exit_code
    print(result_line(options.output, scores), file=sys.stderr)
    return EXIT_OK


def write_local_results(result, arrived: Path, files_dir: Path, output: Path,
                        formats: Sequence[str]) -> tuple[dict, OutputConflict | None]:
    """Move a prediction's files from `arrived` into `files_dir` (launcher.output_folder.install), then write
    the top structure at `output` (its other formats beside it) with its scores (from the prediction's values)
    and its plots. When one would replace a file the launcher did not write, nothing moves in and the plots
    come from `arrived`; returns the scores and that conflict."""
    from alphafold_msa.launcher.result_files import place_beside, scores_file, write_structures

    best = result.best
    try:
        files, conflict = install(arrived, files_dir), None
    except OutputConflict as error:
        files, conflict = sorted(arrived.iterdir()), error
    scores = scores_file(best.scores, result.ranking, result.summary, result.timings)
    structures = {fmt: best.final_structure(fmt) for fmt in formats}
    write_structures(output, structures, scores)
    place_beside(output, files)
    return scores, conflict


def run_local_batch(options: LaunchOptions, runners=None) -> int:
    """Batch mode on this machine (see alphafold_msa.launcher.batch), the same templates for every
    alignment; returns the exit code."""
    from alphafold_msa.launcher.batch import batch_settings
    from alphafold_msa.launcher.batch import run_local_batch as run

    templates = read_templates(options.template)
    spec = local_spec(options, options.job_spec(templates))
    settings = batch_settings(spec, options, model_config=options.model_config, model_preset=options.model_preset,
                              demo_weights=options.demo_weights)
    warn_demo_weights(options)
    predict = batch_predictor(options, spec, runners)
    return run(options, settings, functools.partial(check_batch_file, options=options, templates=templates), predict)


def batch_predictor(options: LaunchOptions, spec: JobSpec, runners=None) -> Callable[[Any, Path], dict[str, Any]]:
    """predict(msa, folder) for a local batch or screen: one prediction's files into `folder` (moved in as a
    remote job's are), the table's numbers returned (a complex's interface scores too); `runners` (a RunnerCache,
    else a new one) carries compiled networks from one prediction to the next."""
    from alphafold_msa.launcher.batch import interface_numbers
    from alphafold_msa.model.runner import RunnerCache
    from alphafold_msa.results.html_report import write_report, write_shared_viewer

    runners = runners if runners is not None else RunnerCache()

    def predict(msa, folder: Path) -> dict[str, Any]:
        with arriving(folder) as arrived:
            result = predict_here(options, spec, msa, arrived, runners)
            if spec.report:  # the batch's pages share one viewer, in the batch folder
                write_shared_viewer(folder.parent)
                write_report(arrived, shared_viewer=True)
            install(arrived, folder)
        best = result.best
        return {"length": result.msa_summary["query_length"], "depth": result.msa_summary["num_sequences"],
                "mean_plddt": best.mean_plddt, "ptm": best.ptm, "iptm": best.iptm,
                **interface_numbers(best.scores.get("interface")), "worker_s": result.timings["total_s"]}

    return predict
