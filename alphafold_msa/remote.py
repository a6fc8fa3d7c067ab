"""launch.py's remote mode: check the alignment, submit it to a RunPod endpoint, wait, write the structure."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from alphafold_msa import cli
from alphafold_msa.client import TERMINAL_STATUSES, EndpointClient, backoff_delays
from alphafold_msa.errors import UserError
from alphafold_msa.jobs import COMPLEX_SCORES, decode_output, request_body, validate_input
from alphafold_msa.msa.read import decode_text


class StatusPrinter:
    """Status lines: rewritten in place on a terminal, one plain line per change otherwise."""

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.tty = stream.isatty()
        self.last = ""

    def show(self, text: str) -> None:
        if self.tty:
            self.stream.write("\r\033[K" + text)
            self.stream.flush()
        elif text != self.last:
            print(text, file=self.stream)
        self.last = text

    def done(self) -> None:
        if self.tty and self.last:
            self.stream.write("\n")


def _job_input(args: argparse.Namespace) -> dict:
    """Read and validate the alignment here (a bad file never costs GPU time); build the job input."""
    from alphafold_msa.msa import Msa

    msa = cli.read_checked(args)
    job_input = {"models": cli.parse_models(args.models), "num_recycle": args.num_recycle,
                 "random_seed": args.seed, "num_seeds": args.num_seeds}
    if args.relax:
        job_input["relax"] = args.relax
    if isinstance(msa, Msa):
        print(f"checked {args.msa[0]}: {msa.format}, {msa.depth} sequences, "
              f"query {msa.query_name} ({msa.length} residues)", file=sys.stderr)
        job_input["msa"] = "\n".join(decode_text(Path(args.msa[0]).read_bytes(), args.msa[0])) + "\n"
        if args.msa_format:
            job_input["format"] = args.msa_format
    else:
        chains = ", ".join(f"{c}: {n}" for c, n in zip(msa.chain_ids, msa.chain_lengths))
        paired = msa.paired[0].depth - 1 if msa.paired else 0
        print(f"checked complex of {msa.num_chains} chains ({chains} residues), {paired} paired rows",
              file=sys.stderr)
        job_input["msa"] = msa.to_colabfold_a3m()
        job_input["complex_mode"] = args.complex_mode
    if args.query:
        job_input["query"] = args.query
    if args.recycle_early_stop_tolerance is not None:
        job_input["recycle_early_stop_tolerance"] = args.recycle_early_stop_tolerance
    validate_input(job_input)
    return job_input


def _describe(status: dict, elapsed: float) -> str:
    state = status["status"]
    parts = [f"{state}", f"{elapsed:.0f} s"]
    if state == "IN_QUEUE" and status.get("delayTime"):
        parts.append(f"queued {status['delayTime'] / 1000:.0f} s")
    if state == "IN_PROGRESS" and isinstance(status.get("output"), str):
        parts.append(status["output"])
    return " | ".join(parts)


def wait_for(client: EndpointClient, job_id: str, timeout: float, poll_interval: float) -> dict:
    """Poll until the job reaches a terminal status or `timeout` seconds pass; Ctrl-C cancels the job."""
    printer = StatusPrinter()
    started = time.monotonic()
    delays = backoff_delays(min(1.0, poll_interval), poll_interval)
    try:
        while True:
            remaining = timeout - (time.monotonic() - started)
            if remaining <= 0:
                printer.done()
                raise TimeoutError
            status = client.status(job_id, timeout=max(60.0, remaining))
            printer.show(_describe(status, time.monotonic() - started))
            if status["status"] in TERMINAL_STATUSES:
                printer.done()
                return status
            time.sleep(min(next(delays), max(0.0, remaining)))
    except KeyboardInterrupt:
        printer.done()
        client.cancel(job_id)
        raise


def run_remote(args: argparse.Namespace) -> int:
    """Submit (or resume) a job on the endpoint and write its structure; returns the exit code."""
    if "{endpointId}" in args.api_url and not args.endpointId:
        raise UserError("give --endpointId ID (or --api-url for a local worker), or --local to predict here")
    if not args.api_key and args.api_url == cli.DEFAULT_API_URL:
        raise UserError("no RunPod API key: set RUNPOD_API_KEY or pass --api-key")
    client = EndpointClient(args.api_url.replace("{endpointId}", args.endpointId or ""), args.api_key)
    if args.resume:
        job_id = args.resume
    else:
        job_id = client.submit(request_body(_job_input(args), execution_timeout_s=args.timeout))
    print(f"job {job_id} submitted; resume with --resume {job_id}", file=sys.stderr)
    try:
        status = wait_for(client, job_id, args.timeout, args.poll_interval)
    except TimeoutError:
        print(f"error: job {job_id} is not finished after {args.timeout:.0f} s; it keeps running: "
              f"resume with --resume {job_id}", file=sys.stderr)
        return cli.EXIT_TIMEOUT
    except KeyboardInterrupt:
        print(f"interrupted: cancelled job {job_id}", file=sys.stderr)
        return cli.EXIT_CANCELLED
    state = status["status"]
    if state == "FAILED":
        print(f"error: job {job_id} failed: {status.get('error') or 'no error message'}", file=sys.stderr)
        return cli.EXIT_REMOTE_FAILED
    if state == "CANCELLED":
        print(f"job {job_id} was cancelled", file=sys.stderr)
        return cli.EXIT_CANCELLED
    if state == "TIMED_OUT":
        print(f"error: job {job_id} timed out on the endpoint (its execution timeout)", file=sys.stderr)
        return cli.EXIT_TIMEOUT
    output = decode_output(status.get("output"))
    scores = {k: output[k] for k in ("model", "mean_plddt", "ptm", "max_pae", "plddt", "ranking", "msa", "timings",
                                      "relax", *COMPLEX_SCORES) if k in output}
    scores["job_id"] = job_id
    cli.write_structure(Path(args.output), output["structure"], scores)
    print(f"wrote {args.output} ({output.get('model')}, mean pLDDT {output.get('mean_plddt')}"
          f"{cli.describe_relax(output.get('relax'))})", file=sys.stderr)
    return cli.EXIT_OK
