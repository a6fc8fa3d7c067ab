"""launch.py's remote mode: check the alignment, submit it to a RunPod endpoint, wait, write the structure."""

from __future__ import annotations

import functools
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

from alphafold_msa.errors import (
    EXIT_CANCELLED,
    EXIT_OK,
    AlphafoldMsaError,
    Cancelled,
    RemoteError,
    TimedOut,
    UserError,
    printable,
)
from alphafold_msa.files import write_atomic
from alphafold_msa.launcher.batch import batch_settings, result_numbers, run_batch
from alphafold_msa.launcher.client import (
    DEFAULT_API_URL,
    TERMINAL_STATUSES,
    DeadlineExceeded,
    EndpointClient,
    backoff_delays,
)
from alphafold_msa.launcher.console import ProgressLog, result_line
from alphafold_msa.launcher.inputs import check_batch_file, check_job
from alphafold_msa.launcher.options import LaunchOptions
from alphafold_msa.launcher.output_folder import adopt, arriving, install
from alphafold_msa.launcher.output_paths import output_files
from alphafold_msa.launcher.result_files import (
    ResultOrigin,
    job_scores,
    place_beside,
    receive_files,
    top_structures,
    write_structures,
)
from alphafold_msa.launcher.templates import describe_templates, read_templates
from alphafold_msa.msa.read import alignment_lines
from alphafold_msa.protocol.archive import REPORT_FILE
from alphafold_msa.protocol.output import decode_output, is_local_endpoint
from alphafold_msa.protocol.schema import COMPLEX_SCORES, request_body
from alphafold_msa.protocol.spec import JobSpec


def job_input(spec: JobSpec, path: Path, msa) -> dict:
    """The job's input: the spec's fields and the alignment, the file's text for one chain, ColabFold's complex
    a3m for a complex (whose format and query rows are fixed: the spec's alignment format and query are not
    sent)."""
    from alphafold_msa.msa import Msa

    fields = spec.to_fields()
    if isinstance(msa, Msa):
        return {**fields, "msa": "\n".join(alignment_lines(path.read_bytes(), str(path))) + "\n"}
    fields.pop("format", None)
    fields.pop("query", None)
    return {**fields, "msa": msa.to_colabfold_a3m()}


def describe_input(msa, path: str) -> str:
    """'checked family.sto: stockholm, 42 sequences, query Q (120 residues)', or the complex's chains."""
    from alphafold_msa.msa import Msa

    if isinstance(msa, Msa):
        return (f"checked {path}: {msa.format}, {msa.depth} sequences, "
                f"query {msa.query_name} ({msa.length} residues)")
    chains = ", ".join(f"{c}: {n}" for c, n in zip(msa.chain_ids, msa.chain_lengths))
    text = f"checked complex of {msa.num_chains} chains ({chains} residues), {msa.paired_rows} paired rows"
    return text if msa.pairing is None else f"{text}; pairing: {msa.pairing.note}"


def _job_input(options: LaunchOptions) -> dict:
    """Read and check the alignment and templates here (a bad file never costs GPU time); the job input."""
    job = check_job(options)
    print(describe_input(job.msa, options.msa[0]), file=sys.stderr)
    describe_templates(job.matches)
    return job_input(job.spec, Path(options.msa[0]), job.msa)


def write_output_files(output: dict, destination: Path) -> list[Path]:
    """For a job whose results archive did not come back: its top structure and the scores its
    output carries, written as the archive would hold them (ranked_0.*, scores_rank_0.json)."""
    destination.mkdir(parents=True, exist_ok=True)
    structure = destination / f"ranked_0.{output.get('structure_format', 'pdb')}"
    scores = destination / "scores_rank_0.json"
    write_atomic(structure, output["structure"])
    write_atomic(scores, json.dumps({k: output[k] for k in ("model", "mean_plddt", "ptm", "max_pae", "plddt",
                                                            "relax", *COMPLEX_SCORES) if k in output}))
    return [structure, scores]


def receive(output: dict, destination: Path, origin: ResultOrigin, shared_viewer: bool = False) -> list[Path]:
    """The job's files in `destination`: its results archive unpacked (report.html written here when the worker
    left it out, or with `shared_viewer` to load the batch folder's viewer), or what the output itself carries
    when it has no archive; never in place of a file the launcher did not write there (launcher.output_folder)."""
    with arriving(destination) as arrived:
        if "files" in output:
            receive_files(output["files"], arrived, origin)
            # Left out to keep the archive small, or to share the batch folder's viewer: written here.
            left_out = REPORT_FILE in output["files"].get("left_out", [])
            if left_out or (shared_viewer and (arrived / REPORT_FILE).is_file()):
                from alphafold_msa.results.html_report import write_report

                write_report(arrived, shared_viewer=shared_viewer)
        else:
            write_output_files(output, arrived)
        return install(arrived, destination)


def collect_batch_entry(api_url: str, entry, status: dict, destination: Path, shared_viewer: bool = True) -> None:
    """Batch mode: a completed job's files into out/<name>/ (with `shared_viewer`, its page loading the viewer from
    out/report-viewer.js) and its numbers into the manifest entry."""
    output = decode_output(status.get("output"), api_url)
    files = receive(output, destination, ResultOrigin(entry.job_id, api_url), shared_viewer=shared_viewer)
    if shared_viewer and any(path.name == REPORT_FILE for path in files):
        from alphafold_msa.results.html_report import write_shared_viewer

        write_shared_viewer(destination.parent)
    entry.result = result_numbers(output, status)


def describe_status(status: dict) -> str:
    """What the endpoint says of the job: its state, time queued so far, or the worker's latest
    progress message (compiling, model k/n done...)."""
    state, queued = status["status"], status.get("delayTime")
    if state == "IN_QUEUE" and isinstance(queued, (int, float)) and queued:
        return f"{state}: queued {queued / 1000:.0f} s"
    if state == "IN_PROGRESS" and isinstance(status.get("output"), str):
        return f"{state}: {status['output']}"
    return state


def wait_for(client: EndpointClient, job_id: str, deadline: float, poll_interval: float) -> dict:
    """Poll until the job reaches a terminal status, showing each new state or worker message as it
    arrives; TimeoutError at `deadline` (time.monotonic()), however the endpoint behaves. Ctrl-C
    cancels the job."""
    delays = backoff_delays(min(1.0, poll_interval), poll_interval)
    shown = ""
    with ProgressLog() as progress:
        try:
            while True:
                try:
                    status = client.status(job_id, deadline=deadline)
                except DeadlineExceeded:
                    raise TimeoutError from None
                if describe_status(status) != shown:
                    shown = describe_status(status)
                    progress(shown)
                if status["status"] in TERMINAL_STATUSES:
                    return status
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                time.sleep(min(next(delays), remaining))
        except KeyboardInterrupt:
            try:
                client.cancel(job_id)
            except AlphafoldMsaError as error:  # the SDK's local server has no /cancel
                raise Cancelled(f"interrupted; job {job_id} could not be cancelled ({printable(error)}): it may "
                                f"still run") from None
            raise


def endpoint_client(options: LaunchOptions) -> EndpointClient:
    """The endpoint named by --endpointId / --api-url, with the API key."""
    if "{endpointId}" in options.api_url and not options.endpoint_id:
        raise UserError("give --endpointId ID (or --api-url for a local worker), or --local to predict here")
    if not options.api_key and options.api_url == DEFAULT_API_URL:
        raise UserError("no RunPod API key: set RUNPOD_API_KEY or pass --api-key")
    url = options.api_url.replace("{endpointId}", options.endpoint_id or "")
    # A worker on this machine (the SDK's local server) answers a request only once the job it runs is done:
    # its answers are waited for up to the deadline, as a batch's submissions wait for a job in progress.
    return EndpointClient(url, options.api_key, read_until_deadline=is_local_endpoint(url),
                          on_local_server=lambda note: print(note, file=sys.stderr))


def run_remote(options: LaunchOptions) -> int:
    """Submit (or resume) a job on the endpoint and write its structure and plots; returns the exit code. A job
    that does not complete raises its error (Cancelled, TimedOut, RemoteError)."""
    client = endpoint_client(options)
    if options.resume:
        job_id = options.resume
    else:
        body = request_body(_job_input(options), execution_timeout_s=options.timeout)
        job_id = client.submit(body, deadline=time.monotonic() + options.timeout)
    print(f"waiting for job {job_id}" if options.resume else f"job {job_id} submitted; resume with --resume {job_id}",
          file=sys.stderr)
    try:
        status = wait_for(client, job_id, time.monotonic() + options.timeout, options.poll_interval)
    except TimeoutError:
        raise TimedOut(timed_out_message(job_id, options, client.local_server)) from None
    except KeyboardInterrupt:
        print(f"interrupted: cancelled job {job_id}", file=sys.stderr)
        return EXIT_CANCELLED
    if status["status"] != "COMPLETED":
        raise unfinished(job_id, status)
    return write_completed(options, job_id, decode_output(status.get("output"), options.api_url))


def timed_out_message(job_id: str, options: LaunchOptions, local_server: bool = False) -> str:
    """What the launcher says when --timeout passes: the job was sent with that execution timeout, so the
    endpoint stops it once it has run that long; time it spent queued does not count, so it may still finish.
    The SDK's local server runs it to the end but keeps no result."""
    waited = f"job {job_id} did not finish within --timeout {options.timeout:g} s"
    if local_server:
        return (f"{waited}; the local worker goes on with it but keeps no result for the launcher: run it again "
                f"with a larger --timeout")
    if options.resume:
        return f"{waited}; --resume {job_id} waits for it again"
    return (f"{waited}. The endpoint stops it once it has run {options.timeout:g} s (the job's execution "
            f"timeout); if it was queued part of that time it may still complete: --resume {job_id} fetches it "
            f"then. For longer jobs, give a larger --timeout")


def unfinished(job_id: str, status: dict) -> AlphafoldMsaError:
    """The error saying how a job ended that did not complete (cancelled, timed out or failed)."""
    state = status["status"]
    if state == "CANCELLED":
        return Cancelled(f"job {job_id} was cancelled")
    if state == "TIMED_OUT":
        return TimedOut(f"job {job_id} timed out on the endpoint (its execution timeout)")
    return RemoteError(f"job {job_id} failed: {status.get('error') or 'no error message'}")


def write_completed(options: LaunchOptions, job_id: str, output: dict) -> int:
    """A completed job's structure, scores, plots and summary where the user asked; the final line
    sums up the job's output as local mode does its prediction."""
    assert options.output is not None, "one job needs --output (checked by cli.dispatch)"
    files_dir = Path(options.output_dir) if options.output_dir else Path(tempfile.mkdtemp(prefix="alphafold-msa-"))
    try:
        formats = options.job_spec().formats
        problem = write_results(output, files_dir, Path(options.output), formats, ResultOrigin(job_id, options.api_url))
        if options.adopt_output and problem is None:
            adopt(files_dir, output_files(Path(options.output), formats))
    finally:
        if not options.output_dir:
            shutil.rmtree(files_dir, ignore_errors=True)
    if problem is not None:
        print(f"error: wrote {options.output}, but the job's result files could not be received: "
              f"{printable(problem)}", file=sys.stderr)
        return problem.exit_code
    extras = ""
    if "files_error" in output:
        extras = f"; WARNING: the other files could not be returned: {printable(output['files_error'])}"
    elif "files" in output:
        extras = "; plots and summary beside it" + (f"; every file in {options.output_dir}"
                                                    if options.output_dir else "")
        if output["files"].get("left_out") and options.output_dir:
            extras += (f" but {len(output['files']['left_out'])} (the copies under ColabFold's names, msa.a3m) "
                       f"the worker left out of its archive to return it inline: give it a bucket (BUCKET_*) "
                       f"to have them")
    print(printable(result_line(options.output, output)) + extras, file=sys.stderr)
    return EXIT_OK


def write_results(output: dict, files_dir: Path, output_path: Path, formats: Sequence[str],
                  origin: ResultOrigin) -> AlphafoldMsaError | None:
    """The job's files into `files_dir`; the top structure at `output_path` (its other `formats` beside it)
    with its scores and plots, read from the files this job installed only (never a user's own file in
    `files_dir`).
    Files that cannot be received (a damaged archive, a refused or expired link, a file in the way)
    are returned as the error (its exit code says which), after the structure and the scores the output
    carries are written."""
    carried = {output.get("structure_format", "pdb"): output["structure"]}
    try:
        files = receive(output, files_dir, origin)
        scores = job_scores(files)
    except AlphafoldMsaError as error:
        with tempfile.TemporaryDirectory(prefix="alphafold-msa-") as fallback:
            write_structures(output_path, carried, job_scores(write_output_files(output, Path(fallback))))
        return error
    write_structures(output_path, top_structures(files, formats) or carried, scores)
    place_beside(output_path, files)
    return None


def run_remote_batch(options: LaunchOptions) -> int:
    """Batch mode against the endpoint (see alphafold_msa.launcher.batch); the same templates for every
    alignment (the manifest records their fingerprints, each job carries them)."""
    templates = read_templates(options.template)
    spec = options.job_spec(templates)
    endpoint_client(options)  # a missing endpoint id or API key fails before anything is read

    check = functools.partial(check_batch_file, options=options, templates=templates)
    return run_batch(options, lambda: endpoint_client(options), batch_settings(spec, options), check,
                     functools.partial(job_input, spec), functools.partial(collect_batch_entry, options.api_url))
