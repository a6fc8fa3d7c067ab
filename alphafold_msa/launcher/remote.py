"""launch.py's remote mode: check the alignment, submit it to a RunPod endpoint, wait, write the structure."""

from __future__ import annotations

import argparse
import functools
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from alphafold_msa.errors import UserError, printable
from alphafold_msa.launcher import cli
from alphafold_msa.launcher.batch import result_numbers, run_batch
from alphafold_msa.launcher.client import TERMINAL_STATUSES, DeadlineExceeded, EndpointClient, backoff_delays
from alphafold_msa.launcher.result_files import job_scores, place_beside, receive_files
from alphafold_msa.launcher.templates import check_templates, fingerprints, job_templates, read_templates
from alphafold_msa.msa.read import decode_text
from alphafold_msa.protocol.output import OutputError, decode_output
from alphafold_msa.protocol.schema import COMPLEX_SCORES, request_body, validate_input
from alphafold_msa.results.structures import write_atomic


class StatusPrinter:
    """Status lines: rewritten in place on a terminal, one plain line per change otherwise."""

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.tty = stream.isatty()
        self.last = ""

    def show(self, text: str) -> None:
        text = printable(text)
        if self.tty:
            self.stream.write("\r\033[K" + text)
            self.stream.flush()
        elif text != self.last:
            print(text, file=self.stream)
        self.last = text

    def done(self) -> None:
        if self.tty and self.last:
            self.stream.write("\n")


def job_options(args: argparse.Namespace) -> dict:
    """The job fields every alignment of this command shares (models, recycles, seeds, formats...)."""
    options = {"models": cli.parse_models(args.models), "num_recycle": args.num_recycle,
               "random_seed": args.seed, "num_seeds": args.num_seeds, "files": True}
    if args.relax:
        options["relax"] = args.relax
    if args.structure_formats:
        options["formats"] = args.structure_formats
    if args.recycle_early_stop_tolerance is not None:
        options["recycle_early_stop_tolerance"] = args.recycle_early_stop_tolerance
    return options


def alignment_input(path: Path, msa, args: argparse.Namespace) -> dict:
    """The job's alignment fields: the file's text for one chain, ColabFold's complex a3m for a complex."""
    from alphafold_msa.msa import Msa

    if isinstance(msa, Msa):
        fields = {"msa": "\n".join(decode_text(path.read_bytes(), str(path))) + "\n"}
        if args.msa_format:
            fields["format"] = args.msa_format
        if args.query:
            fields["query"] = args.query
        return fields
    return {"msa": msa.to_colabfold_a3m(), "complex_mode": args.complex_mode}


def _job_input(args: argparse.Namespace) -> dict:
    """Read and validate the alignment here (a bad file never costs GPU time); build the job input."""
    from alphafold_msa.msa import Msa

    msa = cli.read_checked(args)
    templates = read_templates(args.template)
    if isinstance(msa, Msa):
        print(f"checked {args.msa[0]}: {msa.format}, {msa.depth} sequences, "
              f"query {msa.query_name} ({msa.length} residues)", file=sys.stderr)
    else:
        chains = ", ".join(f"{c}: {n}" for c, n in zip(msa.chain_ids, msa.chain_lengths))
        print(f"checked complex of {msa.num_chains} chains ({chains} residues), {msa.paired_rows} paired rows",
              file=sys.stderr)
    check_templates(templates, msa)
    job_input = {**job_options(args), **alignment_input(Path(args.msa[0]), msa, args)}
    if templates:
        job_input["templates"] = job_templates(templates)
    validate_input(job_input)
    return job_input


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


def receive(output: dict, destination: Path) -> list[Path]:
    """The job's files in `destination`: its results archive unpacked, or what the output itself
    carries when it has no archive."""
    if "files" not in output:
        return write_output_files(output, destination)
    return receive_files(output["files"], destination)


def collect_batch_entry(api_url: str, entry, status: dict, destination: Path) -> None:
    """Batch mode: a completed job's files into out/<name>/ and its numbers into the manifest entry."""
    output = decode_output(status.get("output"), api_url)
    receive(output, destination)
    entry.result = result_numbers(output, status)


def _describe(status: dict, elapsed: float) -> str:
    state = status["status"]
    parts = [f"{state}", f"{elapsed:.0f} s"]
    if state == "IN_QUEUE" and status.get("delayTime"):
        parts.append(f"queued {status['delayTime'] / 1000:.0f} s")
    if state == "IN_PROGRESS" and isinstance(status.get("output"), str):
        parts.append(status["output"])
    return " | ".join(parts)


def wait_for(client: EndpointClient, job_id: str, deadline: float, poll_interval: float) -> dict:
    """Poll until the job reaches a terminal status; TimeoutError at `deadline` (time.monotonic()),
    however the endpoint behaves. Ctrl-C cancels the job."""
    printer = StatusPrinter()
    started = time.monotonic()
    delays = backoff_delays(min(1.0, poll_interval), poll_interval)
    try:
        while True:
            try:
                status = client.status(job_id, deadline=deadline)
            except DeadlineExceeded:
                printer.done()
                raise TimeoutError from None
            printer.show(_describe(status, time.monotonic() - started))
            if status["status"] in TERMINAL_STATUSES:
                printer.done()
                return status
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                printer.done()
                raise TimeoutError
            time.sleep(min(next(delays), remaining))
    except KeyboardInterrupt:
        printer.done()
        client.cancel(job_id)
        raise


def endpoint_client(args: argparse.Namespace) -> EndpointClient:
    """The endpoint named by --endpointId / --api-url, with the API key."""
    if "{endpointId}" in args.api_url and not args.endpointId:
        raise UserError("give --endpointId ID (or --api-url for a local worker), or --local to predict here")
    if not args.api_key and args.api_url == cli.DEFAULT_API_URL:
        raise UserError("no RunPod API key: set RUNPOD_API_KEY or pass --api-key")
    return EndpointClient(args.api_url.replace("{endpointId}", args.endpointId or ""), args.api_key)


def run_remote(args: argparse.Namespace) -> int:
    """Submit (or resume) a job on the endpoint and write its structure and plots; returns the exit code."""
    client = endpoint_client(args)
    if args.resume:
        job_id = args.resume
    else:
        body = request_body(_job_input(args), execution_timeout_s=args.timeout)
        job_id = client.submit(body, deadline=time.monotonic() + args.timeout)
    print(f"job {job_id} submitted; resume with --resume {job_id}", file=sys.stderr)
    try:
        status = wait_for(client, job_id, time.monotonic() + args.timeout, args.poll_interval)
    except TimeoutError:
        print(f"error: job {job_id} is not finished after {args.timeout:.0f} s; it keeps running: "
              f"resume with --resume {job_id}", file=sys.stderr)
        return cli.EXIT_TIMEOUT
    except KeyboardInterrupt:
        print(f"interrupted: cancelled job {job_id}", file=sys.stderr)
        return cli.EXIT_CANCELLED
    state = status["status"]
    if state == "FAILED":
        print(f"error: job {job_id} failed: {printable(status.get('error') or 'no error message')}", file=sys.stderr)
        return cli.EXIT_REMOTE_FAILED
    if state == "CANCELLED":
        print(f"job {job_id} was cancelled", file=sys.stderr)
        return cli.EXIT_CANCELLED
    if state == "TIMED_OUT":
        print(f"error: job {job_id} timed out on the endpoint (its execution timeout)", file=sys.stderr)
        return cli.EXIT_TIMEOUT
    output = decode_output(status.get("output"), args.api_url)
    files_dir = Path(args.output_dir) if args.output_dir else Path(tempfile.mkdtemp(prefix="alphafold-msa-"))
    try:
        problem = write_results(output, files_dir, Path(args.output))
    finally:
        if not args.output_dir:
            shutil.rmtree(files_dir, ignore_errors=True)
    if problem:
        print(f"error: wrote {args.output}, but {printable(problem)}", file=sys.stderr)
        return cli.EXIT_REMOTE_FAILED
    extras = ""
    if "files_error" in output:
        extras = f"; WARNING: the other files could not be returned: {printable(output['files_error'])}"
    elif "files" in output:
        extras = "; plots and summary beside it" + (f"; every file in {args.output_dir}" if args.output_dir else "")
    print(f"wrote {args.output} ({output.get('model')}, mean pLDDT {output.get('mean_plddt')}"
          f"{cli.describe_relax(output.get('relax'))}){extras}", file=sys.stderr)
    return cli.EXIT_OK


def write_results(output: dict, files_dir: Path, output_path: Path) -> OutputError | None:
    """The job's files into `files_dir`; the structure at `output_path` with its scores and plots
    beside it. A damaged results archive is returned as the error, after the structure and the
    scores the output carries are written."""
    try:
        receive(output, files_dir)
        scores = job_scores(files_dir)
    except UserError as error:
        with tempfile.TemporaryDirectory(prefix="alphafold-msa-") as fallback:
            cli.write_structure(output_path, output["structure"],
                                job_scores(write_output_files(output, Path(fallback))[0].parent))
        return OutputError(f"the job's result files could not be received: {error}")
    cli.write_structure(output_path, output["structure"], scores)
    place_beside(output_path, files_dir)
    return None


def run_remote_batch(args: argparse.Namespace) -> int:
    """Batch mode against the endpoint (see alphafold_msa.launcher.batch); the same templates for every
    alignment (the manifest records their fingerprints, each job carries them)."""
    options = job_options(args)
    templates = read_templates(args.template)
    validate_input({**options, "msa": ">q\nA\n", **({"templates": job_templates(templates)} if templates else {})})
    endpoint_client(args)  # a missing endpoint id or API key fails before anything is read
    if templates:
        options["templates"] = fingerprints(templates)  # replaced by the templates themselves in each job

    def check(path: Path):
        msa = cli.check_one(path, args)
        check_templates(templates, msa, quiet=True)
        return msa

    def job_fields(path: Path, msa) -> dict:
        fields = alignment_input(path, msa, args)
        return {**fields, "templates": job_templates(templates)} if templates else fields

    return run_batch(args, lambda: endpoint_client(args), options, check, job_fields,
                     functools.partial(collect_batch_entry, args.api_url))
