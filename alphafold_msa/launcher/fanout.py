"""launch.py --fan-out: one prediction's samples split into jobs the endpoint runs at once, merged into the files
one job writes.

The samples (each alignment x seed x model, numbered as one job runs them: the job field sample_slice) are split
into consecutive slices: --samples-per-job each (default: enough to be worth a worker's start at this length,
model/speed.py), at most --fan-out N jobs. Each slice is a job of the same fields. OUT/.fanout/manifest.json
records them as a batch's manifest records its alignments (launcher.batch): each submission's attempt is counted
before it is sent, a job that may have reached the endpoint is never resubmitted blindly, failed ones are retried
within --max-retries, and the same command again collects what finished and polls what still runs. Each job's
files stay in OUT/.fanout/part-NNN/. Once every slice has completed, results.merge writes the files one job would
have written into --output-dir, and the top structure at --output.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import time
from pathlib import Path
from typing import Callable

from alphafold_msa.errors import (
    EXIT_OK,
    EXIT_REMOTE_FAILED,
    AlphafoldMsaError,
    RemoteError,
    UserError,
    printable,
)
from alphafold_msa.files import write_atomic
from alphafold_msa.launcher.batch import (
    DONE,
    BatchRun,
    Entry,
    Manifest,
    batch_settings,
    interrupted,
    lock_folder,
    progress_bar,
    settings_of,
)
from alphafold_msa.launcher.console import result_line
from alphafold_msa.launcher.inputs import check_job, clusters_line
from alphafold_msa.launcher.options import LaunchOptions
from alphafold_msa.launcher.output_folder import adopt, arriving, install
from alphafold_msa.launcher.output_paths import output_files
from alphafold_msa.launcher.remote import collect_batch_entry, describe_input, endpoint_client, job_input
from alphafold_msa.launcher.result_files import job_scores, place_beside, top_structures, write_structures
from alphafold_msa.msa import ComplexMsa, Msa
from alphafold_msa.protocol.schema import request_body
from alphafold_msa.protocol.spec import JobSpec

FAN_OUT_DIR = ".fanout"


def sample_count(msa: Msa | ComplexMsa, spec: JobSpec) -> int:
    """The prediction's samples: models x seeds for each alignment it runs (AF-Cluster's clusters and controls,
    clustered here as the worker will)."""
    if not spec.msa_clusters:
        return spec.predictions
    clusters = clusters_line(msa, spec)
    return (clusters["num_clusters"] + clusters["num_controls"]) * spec.predictions


def worth_a_worker(length: int, num_recycle: int) -> int:
    """The fewest samples for which a job's compute is at least a new worker's start (model/speed.py)."""
    from alphafold_msa.model.speed import WORKER_START_S, seconds_per_sample

    return max(1, math.ceil(WORKER_START_S / seconds_per_sample(length, num_recycle)))


def plan(total: int, fan_out: int | str, samples_per_job: int | None, length: int,
         num_recycle: int) -> list[tuple[int, int]]:
    """The slices [first, stop) of `total` samples: jobs of `samples_per_job` (default worth_a_worker), at most
    --fan-out N of them, the samples spread evenly over the jobs."""
    jobs = math.ceil(total / (samples_per_job or worth_a_worker(length, num_recycle)))
    if isinstance(fan_out, int):
        jobs = min(jobs, fan_out)
    bounds = [round(index * total / jobs) for index in range(jobs + 1)]
    return list(zip(bounds, bounds[1:]))


def run_fan_out(options: LaunchOptions) -> int:
    """Split, submit, collect and merge (see the module's docstring); returns the exit code."""
    if not options.output_dir:
        raise UserError("--fan-out keeps each job's files and their manifest in --output-dir: give one")
    assert options.output is not None and options.fan_out is not None, "checked by cli.dispatch"
    endpoint_client(options)  # a missing endpoint id or API key fails before anything is read
    job = check_job(options)
    print(describe_input(job.msa, options.msa[0]), file=sys.stderr)
    return fan_out(options, job.msa, job.spec, options.msa[0], Path(options.output_dir))


def fan_out(options: LaunchOptions, msa: Msa | ComplexMsa, spec: JobSpec, source: str, destination: Path) -> int:
    """One prediction (`msa`, read from `source`: a file, or a screen's complex) fanned out, its parts and their
    manifest in destination/.fanout, merged into `destination` (and the top structure at --output when given);
    the exit code."""
    assert options.fan_out is not None, "checked by the caller"
    total = sample_count(msa, spec)
    slices = plan(total, options.fan_out, options.samples_per_job, msa.length, spec.num_recycle)
    if len(slices) == 1 and options.samples_per_job is None:
        print(f"note: {total} samples run as one job: at {msa.length} residues a job needs "
              f"{worth_a_worker(msa.length, spec.num_recycle)} samples to be worth a worker's start; "
              f"--samples-per-job K splits them anyway", file=sys.stderr)
    base = job_input(spec, Path(source), msa)
    directory = destination / FAN_OUT_DIR
    directory.mkdir(parents=True, exist_ok=True)
    with lock_folder(directory):
        return _fan_out(options, directory, base, slices, total, spec, source)


def _fan_out(options: LaunchOptions, directory: Path, base: dict, slices: list[tuple[int, int]], total: int,
             spec: JobSpec, source: str) -> int:
    """Run the slices' jobs (resuming the manifest in `directory`, whose lock the caller holds), then merge."""
    digest = hashlib.sha256(json.dumps(base, sort_keys=True).encode()).hexdigest()
    entries = [Entry(name=f"part-{index:03d}", path=source, sha256=digest) for index in range(len(slices))]
    manifest = Manifest.open_entries(directory, settings_of({**batch_settings(spec, options), "slices": slices}),
                                     entries)

    def request(entry: Entry) -> dict:
        first, stop = slices[int(entry.name.removeprefix("part-"))]
        return request_body({**base, "sample_slice": [first, stop]}, execution_timeout_s=options.timeout)

    _run_again_if_damaged(manifest)
    done = sum(entry.status in DONE for entry in manifest.entries)
    advance, write, close = progress_bar(len(entries), done)
    largest = max(stop - first for first, stop in slices)
    write(f"{total} samples in {_jobs(len(slices))} of up to {largest}, up to {options.concurrency} at a time"
          f"{f'; {done} already finished' if done else ''}; manifest {manifest.path}")
    clock = _Clock(directory / WALL_FILE)
    try:
        stopped = _run_until_done(options, manifest, request, slices, advance, write, clock)
    except KeyboardInterrupt:
        close()
        return interrupted(manifest, "collect them and merge")
    close()
    failed = [entry for entry in manifest.entries if entry.status not in ("COMPLETED", "STOPPED")]
    if failed:
        for entry in failed:
            print(f"{entry.name}: {entry.status.lower()}: {printable(entry.error or '')}", file=sys.stderr)
        print(f"{len(failed)} of {len(entries)} jobs did not complete; run the same command again to retry them "
              f"(within --max-retries) and merge", file=sys.stderr)
        return EXIT_REMOTE_FAILED
    return _merge(options, manifest, total, clock.total(), stopped, directory.parent)


def _jobs(count: int) -> str:
    """'1 job', '3 jobs'."""
    return f"{count} job" + ("s" if count != 1 else "")


WALL_FILE = "wall.json"


class _Clock:
    """The seconds the launcher has spent running a fan-out's jobs, over every run of the same command (kept in
    `path`), so a rerun that only merges reports the whole fan-out's time, not its own."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.before = float(json.loads(path.read_text())["wall_s"])
        except (OSError, ValueError, KeyError, TypeError):
            self.before = 0.0
        self.started = time.monotonic()

    def save(self) -> None:
        write_atomic(self.path, json.dumps({"wall_s": round(self.total(), 3)}))

    def total(self) -> float:
        return self.before + time.monotonic() - self.started


def _run_again_if_damaged(manifest: Manifest) -> None:
    """A completed job whose files are not all in its folder (they did not all come back, or were removed since)
    is run again."""
    from alphafold_msa.results.merge import part_complete

    for entry in manifest.entries:
        if entry.status == "COMPLETED" and not part_complete(manifest.path.parent / entry.name):
            entry.status, entry.job_id, entry.error = "PENDING", None, "its files were incomplete: run again"
    manifest.save()


def _run_until_done(options: LaunchOptions, manifest: Manifest, request: Callable[[Entry], dict],
                    slices: list[tuple[int, int]], advance: Callable[[], None], log: Callable[[str], None],
                    clock: _Clock) -> int:
    """Run the jobs not done. Once one stops at its stop_at_score (sample s), the jobs of later samples are
    cancelled and never sent (STOPPED), and those of earlier samples run on: one of them may stop earlier, as
    one job would have. Returns how many jobs were stopped."""
    from alphafold_msa.results.merge import part_complete, stopped_at

    def collect(entry: Entry, status: dict, folder: Path) -> None:
        collect_batch_entry(options.api_url, entry, status, folder, shared_viewer=False)  # a part: no page
        if not part_complete(folder):
            raise RemoteError(f"job {entry.job_id} completed without all its files ("
                              f"{printable(status.get('output', {}).get('files_error', 'files left out'))})")
        if stopped_at(folder) is not None:  # stop_at_score reached: the jobs of later samples are not needed
            run.stop.set()

    def cancel(job_id: str) -> None:
        endpoint_client(options).cancel(job_id)

    stopped = 0
    try:
        for _ in range(len(manifest.entries) + 1):
            last = _stop_number(manifest)
            if last is not None:
                stopped += _stop_later(manifest, cancel, slices, last, log)
            if all(entry.status in DONE for entry in manifest.entries):
                break
            run = BatchRun(manifest, lambda: endpoint_client(options), request, collect,
                           max_retries=options.max_retries, timeout=options.timeout,
                           poll_interval=options.poll_interval, log=log)
            run.run(options.concurrency, advance)
            if not run.stop.is_set():  # everything that could run has: no job stopped it
                break
        return stopped
    finally:
        clock.save()


def _stop_number(manifest: Manifest) -> int | None:
    """The first sample at which a completed job stopped at its stop_at_score, else None."""
    from alphafold_msa.results.merge import stopped_at

    stops = [stopped_at(manifest.path.parent / e.name) for e in manifest.entries if e.status == "COMPLETED"]
    return min((number for number in stops if number is not None), default=None)


def _stop_later(manifest: Manifest, cancel: Callable[[str], None], slices: list[tuple[int, int]], last: int,
                log: Callable[[str], None]) -> int:
    """The jobs of samples after `last` not completed: cancelled (POST /cancel, best effort) and marked STOPPED,
    never run again; how many."""
    later = [e for e in manifest.entries if e.status not in ("COMPLETED", "STOPPED")
             and slices[int(e.name.removeprefix("part-"))][0] > last]
    for entry in later:
        if entry.job_id is not None and entry.status in ("SUBMITTED", "SUBMITTING", "MAYBE_SUBMITTED"):
            try:
                cancel(entry.job_id)
            except AlphafoldMsaError as error:  # the SDK's local server has no /cancel
                log(f"{entry.name}: job {entry.job_id} could not be cancelled ({printable(error)})")
        entry.status = "STOPPED"
    manifest.save()
    if later:
        log(f"sample {last} reached --stop-at-score: {len(later)} job(s) of later samples stopped")
    return len(later)


def _merge(options: LaunchOptions, manifest: Manifest, total: int, wall_s: float, stopped: int,
           destination: Path) -> int:
    """Every slice completed (or stopped once one reached stop_at_score): the merged files into `destination`, the
    top structure at --output when given, one line."""
    from alphafold_msa.results.merge import merge_parts

    completed = [entry for entry in manifest.entries if entry.status == "COMPLETED"]
    worker_s = round(sum(entry.result.get("worker_s") or 0.0 for entry in completed), 1)
    fan_out = {"samples": total, "sub_jobs": len(manifest.entries), "stopped_sub_jobs": stopped,
               "wall_s": round(wall_s, 1), "worker_s": worker_s,
               "speed_up": round(worker_s / wall_s, 1) if wall_s > 0 else None}
    with arriving(destination) as arrived:
        arrived.mkdir()
        merge_parts([manifest.path.parent / entry.name for entry in completed], arrived, fan_out)
        files = install(arrived, destination)
    formats = options.job_spec().formats
    scores = job_scores(files)
    top = destination / f"ranked_0.{formats[0]}"
    if options.output:
        top = Path(options.output)
        write_structures(top, top_structures(files, formats), scores)
        place_beside(top, files)
        if options.adopt_output:
            adopt(destination, output_files(top, formats))
    stop = f" ({stopped} stopped once a sample reached --stop-at-score)" if stopped else ""
    print(printable(result_line(str(top), scores)) + f"; {total} samples in {_jobs(len(manifest.entries))}{stop}: "
          f"{wall_s:.0f} s here, {worker_s:.0f} s of workers (x{fan_out['speed_up']}); every file in {destination}",
          file=sys.stderr)
    return EXIT_OK
