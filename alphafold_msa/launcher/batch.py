"""launch.py's batch mode: one job per alignment, at most N in flight, resumable from a manifest.

`out/manifest.json` records every alignment (path, SHA-256) and, before anything is waited on, the
job id each submission got. Running the same command again resumes: completed alignments are
skipped, submitted ones are polled (not resubmitted), failed ones are retried while attempts remain.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import re
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from alphafold_msa.errors import EXIT_CANCELLED, EXIT_OK, EXIT_REMOTE_FAILED, AlphafoldMsaError, UserError, printable
from alphafold_msa.files import write_atomic
from alphafold_msa.launcher.client import (
    TERMINAL_STATUSES,
    DeadlineExceeded,
    EndpointClient,
    NotFound,
    RemoteError,
    SubmissionUncertain,
    backoff_delays,
)
from alphafold_msa.launcher.options import LaunchOptions
from alphafold_msa.launcher.templates import fingerprints
from alphafold_msa.protocol.archive import REPORT_FILE, VIEWER_FILE
from alphafold_msa.protocol.schema import request_body
from alphafold_msa.protocol.spec import JobSpec

ALIGNMENT_SUFFIXES = (".a3m", ".a2m", ".sto", ".sth", ".stk", ".stockholm", ".seed", ".fasta", ".fa", ".fas",
                      ".faa", ".afa", ".aln", ".clustal", ".msa")
COMPRESSION_SUFFIXES = (".gz", ".bz2", ".xz")
MANIFEST = "manifest.json"
LOCK = ".launcher.lock"
SCREEN_TSV, SCREEN_JSON = "screen.tsv", "screen.json"  # a screen's table (launcher/screen.py)
# The batch folder's own files (a screen's table and page, the viewer its entries' pages share): no entry's folder.
RESERVED_NAMES = {MANIFEST, "summary.tsv", "summary.json", LOCK, SCREEN_TSV, SCREEN_JSON, REPORT_FILE, VIEWER_FILE}
# Never run again (STOPPED: a fanned-out prediction's job not needed once one reached its stop_at_score); FAILED
# ones are retried on a rerun while attempts remain.
DONE = ("COMPLETED", "INVALID", "STOPPED")
TABLE_COLUMNS = ("name", "length", "depth", "mean_plddt", "ptm", "iptm", "worker_s", "status")


def _alignment_stem(path: Path) -> str | None:
    """'PF00076' for PF00076.sto or PF00076.a3m.gz; None when the name is not an alignment's."""
    name = path.name
    for suffix in COMPRESSION_SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    for suffix in ALIGNMENT_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return None


def discover(patterns: list[str]) -> list[Path]:
    """The alignment files named by files, directories (their alignment files) and glob patterns, in order.
    A folder's files whose names are not an alignment's are left out, and said so on stderr."""
    found: list[Path] = []
    for pattern in patterns:
        path = Path(pattern)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
            matches = [p for p in files if _alignment_stem(p)]
            expected = f"names ending in {', '.join(ALIGNMENT_SUFFIXES)}, optionally .gz/.bz2/.xz"
            if not matches:
                raise UserError(f"{pattern}: no alignment files in this folder (expected {expected})")
            skipped = [p.name for p in files if p not in matches]
            if skipped:
                shown = ", ".join(skipped[:5]) + (f" and {len(skipped) - 5} more" if len(skipped) > 5 else "")
                print(f"{pattern}: skipped {len(skipped)} file(s) not named as alignments ({expected}): "
                      f"{printable(shown)}; name a file in --msa to include it", file=sys.stderr)
        elif path.is_file():
            matches = [path]
        elif glob.has_magic(pattern):
            matches = sorted(Path(p) for p in glob.glob(pattern) if Path(p).is_file())
            if not matches:
                raise UserError(f"{pattern}: matches no files")
        else:
            raise UserError(f"{pattern}: no such file or folder")
        found += matches
    unique = {p.resolve(): p for p in found}
    return list(unique.values())


def _folder_name(stem: str, fallback: str) -> str:
    """`stem` as a plain folder name inside --output-dir: letters, digits, '.', '_' and '-' only, not
    starting with a dot (so never '..'; `fallback` when nothing is left), and none of the batch's own files."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", stem).lstrip(".") or fallback
    return f"{name}_" if name in RESERVED_NAMES else name


def folder_names(stems: Iterable[str], fallback: str = "alignment") -> list[str]:
    """A folder name per stem: made safe (_folder_name), and unique (also where case does not count) with _2,
    _3... in order."""
    names: list[str] = []
    taken: set[str] = set()
    for stem in stems:
        safe = _folder_name(stem, fallback)
        name, number = safe, 2
        while name.lower() in taken:
            name, number = f"{safe}_{number}", number + 1
        names.append(name)
        taken.add(name.lower())
    return names


def job_names(paths: list[Path]) -> list[str]:
    """A folder name per alignment, from its stem (folder_names)."""
    return folder_names(_alignment_stem(path) or path.stem for path in paths)


def lock_folder(directory: Path):
    """An exclusive lock on the batch folder, held while the returned file stays open (the process
    lives); UserError when another launcher holds it."""
    handle = open(directory / LOCK, "a+b")
    try:
        if sys.platform == "win32":
            import msvcrt

            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise UserError(f"{directory} is in use by another launcher (it holds {directory / LOCK}); wait for "
                        f"it to finish, or use another --output-dir") from None
    return handle


def _well_typed(entry: Entry) -> bool:
    return (all(isinstance(v, str) for v in (entry.name, entry.path, entry.sha256, entry.status))
            and isinstance(entry.attempts, int) and isinstance(entry.job_id, (str, type(None)))
            and isinstance(entry.result, dict))


def _load_entries(path: Path, settings: dict[str, Any]) -> list[Entry]:
    """The entries of a saved manifest; UserError naming the file when it is damaged or belongs to
    a batch with other settings."""
    try:
        saved = json.loads(path.read_text())
        entries = [Entry(**entry) for entry in saved["entries"]]
        saved_settings = dict(saved["settings"])
        if not all(_well_typed(entry) for entry in entries):
            raise TypeError("an entry has a field of the wrong type")
    except (ValueError, UnicodeDecodeError, KeyError, TypeError) as error:
        raise UserError(f"{path} is damaged ({type(error).__name__}: {error}); move it away and run again to "
                        f"start this batch over (finished jobs are predicted again)") from None
    if saved_settings != settings:
        changed = sorted(k for k in {**settings, **saved_settings} if settings.get(k) != saved_settings.get(k))
        raise UserError(f"{path} belongs to a batch run with other settings ({', '.join(changed)}); rerun "
                        f"with the same options or use another --output-dir")
    return entries


@dataclasses.dataclass
class Entry:
    """One alignment of the batch and what has happened to it."""

    name: str
    path: str
    sha256: str
    # PENDING, SUBMITTING, SUBMITTED (RUNNING locally), COMPLETED, FAILED, INVALID, or MAYBE_SUBMITTED:
    # the submission failed after it may have reached the endpoint (resubmitted on a later run)
    status: str = "PENDING"
    job_id: str | None = None
    attempts: int = 0
    error: str | None = None
    result: dict[str, Any] = dataclasses.field(default_factory=dict)  # the table's numbers


class Manifest:
    """out/manifest.json: the batch's settings and entries, rewritten atomically on every change."""

    def __init__(self, directory: Path, settings: dict[str, Any], entries: list[Entry]):
        self.path = directory / MANIFEST
        self.settings = settings
        self.entries = entries
        self.lock = threading.Lock()
        self.folder_lock = None  # the open lock file of the folder (see lock_folder), kept while the batch runs

    @classmethod
    def open(cls, directory: Path, settings: dict[str, Any], paths: list[Path]) -> Manifest:
        """The manifest in `directory`, with entries for `paths` (known ones keep their state)."""
        entries = [Entry(name=name, path=str(path), sha256=hashlib.sha256(path.read_bytes()).hexdigest())
                   for path, name in zip(paths, job_names(paths))]
        return cls.open_entries(directory, settings, entries)

    @classmethod
    def open_entries(cls, directory: Path, settings: dict[str, Any], entries: list[Entry]) -> Manifest:
        """The manifest in `directory` with `entries`, each replaced by the saved one of its name and input
        (SHA-256) when the manifest knows it: that one keeps its state."""
        known: dict[str, Entry] = {}
        if (directory / MANIFEST).exists():
            known = {e.sha256 + e.name: e for e in _load_entries(directory / MANIFEST, settings)}
        manifest = cls(directory, settings, [known.get(entry.sha256 + entry.name) or entry for entry in entries])
        manifest.save()
        return manifest

    def save(self) -> None:
        with self.lock:
            data = {"settings": self.settings, "entries": [dataclasses.asdict(e) for e in self.entries]}
            write_atomic(self.path, json.dumps(data, indent=1))


def table_row(entry: Entry) -> dict[str, Any]:
    return {"name": entry.name, **{k: entry.result.get(k) for k in TABLE_COLUMNS[1:-1]}, "status": entry.status}


def table_text(value: Any) -> str:
    """A table cell as one harmless piece of text: control characters (tabs, newlines, terminal
    escapes) written as escapes, so no value can break a row of summary.tsv or the printed table."""
    return printable("" if value is None else value)


def format_table(rows: list[dict[str, Any]], columns: Sequence[str] = TABLE_COLUMNS) -> str:
    """The final table, aligned in columns; '-' where a value does not apply."""
    def cell(value: Any) -> str:
        if value is None:
            return "-"
        return f"{value:.2f}" if isinstance(value, float) else table_text(value)

    cells = [list(columns)] + [[cell(row[c]) for c in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    return "\n".join("  ".join(text.ljust(width) for text, width in zip(line, widths)).rstrip() for line in cells)


def _number(value: Any) -> int | float | None:
    """`value` when it is a number (not a bool), else None: the table's numbers never carry text."""
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def result_numbers(output: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    """length, depth, mean pLDDT, pTM, ipTM and worker seconds of a completed job: numbers only,
    whatever else the endpoint put in those fields."""
    msa, timings = output.get("msa", {}), output.get("timings", {})
    seconds = _number(status.get("executionTime"))
    return {"length": _number(msa.get("query_length")), "depth": _number(msa.get("num_sequences")),
            "mean_plddt": _number(output.get("mean_plddt")), "ptm": _number(output.get("ptm")),
            "iptm": _number(output.get("iptm")),
            **interface_numbers(output.get("interface")),
            "worker_s": round(seconds / 1000, 1) if seconds is not None else _number(timings.get("total_s"))}


def interface_numbers(interface: Any) -> dict[str, Any]:
    """A complex's interface scores (ipSAE, pDockQ, pDockQ2), numbers only; none for one chain."""
    if not isinstance(interface, dict):
        return {}
    return {key: _number(interface.get(key)) for key in ("ipsae", "pdockq", "pdockq2")}


class BatchRun:
    """Submits, polls and collects the entries of a manifest against one endpoint."""

    def __init__(self, manifest: Manifest, make_client: Callable[[], EndpointClient],
                 build_input: Callable[[Entry], dict],
                 collect: Callable[[Entry, dict, Path], None], *, max_retries: int, timeout: float,
                 poll_interval: float, log: Callable[[str], None]):
        self.manifest, self.make_client, self.build_input, self.collect = manifest, make_client, build_input, collect
        self.clients = threading.local()
        self.max_retries, self.timeout, self.poll_interval, self.log = max_retries, timeout, poll_interval, log
        self.stop = threading.Event()

    @property
    def client(self) -> EndpointClient:
        """This thread's client (an HTTP session is not shared between threads)."""
        if not hasattr(self.clients, "client"):
            self.clients.client = self.make_client()
        return self.clients.client

    def run_entry(self, entry: Entry) -> Entry:
        """Drive one entry to COMPLETED or FAILED (or until the run is stopped)."""
        while not self.stop.is_set():
            job_id = entry.job_id
            if job_id is None:
                if entry.attempts > self.max_retries:
                    return self._finish(entry, "FAILED")
                try:
                    body = self.build_input(entry)
                except AlphafoldMsaError as error:  # the file changed or went away since the batch started
                    entry.error = str(error)
                    return self._finish(entry, "INVALID")
                job_id = self._submit(entry, body)
                if job_id is None:
                    return self._finish(entry, "MAYBE_SUBMITTED")
                entry.status = "SUBMITTED"
                self.manifest.save()
                self.log(f"{entry.name}: submitted as job {entry.job_id} (attempt {entry.attempts})")
            status = self._wait(job_id)
            if status is None:
                return entry
            if status["status"] == "COMPLETED":
                try:
                    self.collect(entry, status, self.manifest.path.parent / entry.name)
                except AlphafoldMsaError as error:
                    entry.error = str(error)
                    return self._finish(entry, "FAILED")
                entry.error = None
                return self._finish(entry, "COMPLETED")
            entry.error = f"{status['status']}: {status.get('error') or 'no error message'}"
            self.log(f"{entry.name}: job {entry.job_id} {entry.error}")
            entry.job_id = None
            self.manifest.save()
        return entry

    def _submit(self, entry: Entry, body: dict) -> str | None:
        """POST the job; its id. The attempt is counted (and saved) before it is sent, so a launcher killed
        meanwhile has used it too. None when the endpoint may have accepted it without an answer
        within --timeout; an endpoint that surely did not take it stops the batch with the attempt given back."""
        entry.status, entry.attempts = "SUBMITTING", entry.attempts + 1
        self.manifest.save()
        try:
            entry.job_id = job_id = self.client.submit(body, deadline=time.monotonic() + self.timeout)
        except SubmissionUncertain as error:
            entry.error = str(error)
            return None
        except (RemoteError, DeadlineExceeded):
            entry.status, entry.attempts = "PENDING", entry.attempts - 1
            self.manifest.save()
            raise
        return job_id

    def _wait(self, job_id: str) -> dict | None:
        """The job's terminal status; None when the run is stopped first. A job the endpoint no
        longer knows (its result expired) or one past --timeout counts as a failed attempt."""
        deadline = time.monotonic() + self.timeout
        delays = backoff_delays(min(1.0, self.poll_interval), self.poll_interval)
        while not self.stop.is_set():
            try:
                status = self.client.status(job_id, deadline=deadline)
            except DeadlineExceeded:
                return self._cancel_late(job_id)
            except NotFound:
                return {"status": "LOST", "error": "the endpoint no longer knows this job"}
            if status["status"] in TERMINAL_STATUSES:
                return status
            if time.monotonic() >= deadline:
                return self._cancel_late(job_id)
            self.stop.wait(min(next(delays), max(0.0, deadline - time.monotonic())))
        return None

    def _cancel_late(self, job_id: str) -> dict:
        """Cancel a job past --timeout; its status as a failed attempt."""
        try:
            self.client.cancel(job_id)
            outcome = "cancelled"
        except AlphafoldMsaError as error:  # the SDK's local server has no /cancel
            outcome = f"could not be cancelled ({printable(error)})"
        return {"status": "TIMED_OUT", "error": f"not finished after {self.timeout:.0f} s; {outcome}"}

    def _finish(self, entry: Entry, status: str) -> Entry:
        entry.status = status
        self.manifest.save()
        self.log(f"{entry.name}: {status.lower()}" + (f" ({entry.error})" if status != "COMPLETED" else ""))
        return entry

    def run(self, concurrency: int, progress: Callable[[], None]) -> None:
        """Run every entry not done, at most `concurrency` at a time. On Ctrl-C or an endpoint that
        cannot be reached, stop waiting and re-raise: submitted jobs keep running and stay in the manifest."""
        pool = ThreadPoolExecutor(max_workers=concurrency)
        pending = {pool.submit(self.run_entry, e) for e in self.manifest.entries if e.status not in DONE}
        try:
            while pending:
                finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                for future in finished:
                    future.result()
                    progress()
        except BaseException:
            self.stop.set()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def batch_settings(spec: JobSpec, options: LaunchOptions, **others: Any) -> dict[str, Any]:
    """What must not change between a batch and its resumption: the job's fields (templates by fingerprint),
    the pairing keys file's SHA-256, and `others` (what a local batch runs with)."""
    fields = spec.to_fields()
    if spec.templates:
        fields["templates"] = fingerprints(spec.templates)
    if options.pair_keys:
        digest = hashlib.sha256(Path(options.pair_keys).read_bytes()).hexdigest()
        fields["pair_keys"] = {"file": Path(options.pair_keys).name, "sha256": digest}
    return {**fields, **others}


def settings_of(settings: dict[str, Any]) -> dict[str, Any]:
    """Batch settings as JSON stores them (what a resumed batch compares with its manifest)."""
    return json.loads(json.dumps(settings))


def tsv_text(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """`rows` as a TSV file's text: a header of `columns`, then one line per row (cells as table_text)."""
    lines = ["\t".join(columns)] + ["\t".join(table_text(row[c]) for c in columns) for row in rows]
    return "\n".join(lines) + "\n"


def write_tables(directory: Path, entries: list[Entry]) -> str:
    """summary.tsv and summary.json in the batch folder; returns the table as text."""
    rows = [table_row(e) for e in entries]
    write_atomic(directory / "summary.json", json.dumps(rows, indent=1))
    write_atomic(directory / "summary.tsv", tsv_text(rows, TABLE_COLUMNS))
    return format_table(rows)


def progress_bar(total: int, done: int):
    """A tqdm bar on a terminal (none in logs); returns (advance, write, close)."""
    from tqdm import tqdm

    bar = tqdm(total=total, initial=done, unit="job", file=sys.stderr, disable=None, dynamic_ncols=True)
    return (lambda: bar.update(1)), (lambda text: bar.write(printable(text), file=sys.stderr)), bar.close


def open_batch(options: LaunchOptions, settings: dict[str, Any], check: Callable[[Path], Any],
               entries: list[Entry] | None = None) -> Manifest:
    """Discover the alignments (or take the `entries` given: an interaction screen's complexes), open (or resume)
    the manifest and check every new entry locally: a bad one is marked INVALID and never run. (Alignments are
    read again when their job starts, so a batch of hundreds never holds them all in memory.)"""
    assert options.output_dir is not None, "a batch needs --output-dir (checked by cli.dispatch)"
    directory = Path(options.output_dir)
    directory.mkdir(parents=True, exist_ok=True)
    lock = lock_folder(directory)
    if entries is None:
        manifest = Manifest.open(directory, settings_of(settings), discover(options.msa))
    else:
        manifest = Manifest.open_entries(directory, settings_of(settings), entries)
    manifest.folder_lock = lock
    for entry in manifest.entries:
        if entry.status == "PENDING":
            try:
                check(Path(entry.path))
            except AlphafoldMsaError as error:
                entry.status, entry.error = "INVALID", str(error)
    manifest.save()
    return manifest


def start_line(entries: list[Entry], where: str, what: str = "alignment") -> str:
    """'3 alignments, each its own job; 1 invalid, not submitted; 1 already finished; <where>'."""
    invalid = sum(e.status == "INVALID" for e in entries)
    finished = sum(e.status == "COMPLETED" for e in entries)
    plural = what + ("es" if what.endswith("x") else "s")
    parts = [f"{len(entries)} {plural}, each its own job" if len(entries) != 1 else f"1 {what}, one job"]
    if invalid:
        parts.append(f"{invalid} invalid, not submitted")
    if finished:
        parts.append(f"{finished} already finished")
    return "; ".join([*parts, where])


def _start_progress(manifest: Manifest, where: str, what: str = "alignment"):
    advance, write, close = progress_bar(len(manifest.entries), sum(e.status in DONE for e in manifest.entries))
    for entry in manifest.entries:
        if entry.status == "INVALID":
            write(f"{entry.name}: not submitted: {entry.error}")
    write(f"{start_line(manifest.entries, where, what)}; manifest {manifest.path}")
    return advance, write, close


def finish_batch(manifest: Manifest) -> int:
    """Print the table (also summary.tsv / summary.json); EXIT_OK when every alignment completed, else
    EXIT_REMOTE_FAILED."""
    directory = manifest.path.parent
    print(write_tables(directory, manifest.entries))
    failed = [e for e in manifest.entries if e.status != "COMPLETED"]
    if failed:
        print(f"{len(failed)} of {len(manifest.entries)} alignments did not complete; see {directory / 'summary.tsv'}",
              file=sys.stderr)
        return EXIT_REMOTE_FAILED
    return EXIT_OK


def run_batch(options: LaunchOptions, make_client: Callable[[], EndpointClient], settings: dict[str, Any],
              check: Callable[[Path], Any], job_input: Callable[[Path, Any], dict],
              collect: Callable[[Entry, dict, Path], None], entries: list[Entry] | None = None,
              what: str = "alignment") -> int:
    """Batch mode on an endpoint (`make_client` gives each worker thread its client), resumable while
    `settings` stay the same: `check` reads and validates one alignment, `job_input` turns it into its
    job's input, `collect` writes a completed job's files. `entries` (each a `what`: an interaction screen's
    complexes) instead of the --msa alignments. Returns the exit code: EXIT_OK when every alignment
    completed, EXIT_REMOTE_FAILED when any failed or was invalid, EXIT_CANCELLED when interrupted."""
    manifest = open_batch(options, settings, check, entries)
    advance, write, close = _start_progress(manifest, f"up to {options.concurrency} jobs at a time", what)

    def request(entry: Entry) -> dict:
        return request_body(job_input(Path(entry.path), check(Path(entry.path))), execution_timeout_s=options.timeout)

    batch = BatchRun(manifest, make_client, request, collect, max_retries=options.max_retries,
                     timeout=options.timeout, poll_interval=options.poll_interval, log=write)
    try:
        batch.run(options.concurrency, advance)
    except KeyboardInterrupt:
        close()
        return interrupted(manifest, "collect them")
    close()
    return finish_batch(manifest)


def interrupted(manifest: Manifest, then: str) -> int:
    """Ctrl-C while jobs run on the endpoint: say they keep running and what the same command does next
    (`then`); EXIT_CANCELLED."""
    running = sum(e.status == "SUBMITTED" for e in manifest.entries)
    print(f"interrupted: {running} job(s) keep running on the endpoint; run the same command again to {then} "
          f"(nothing is resubmitted)", file=sys.stderr)
    return EXIT_CANCELLED


def run_local_batch(options: LaunchOptions, settings: dict[str, Any], check: Callable[[Path], Any],
                    predict: Callable[[Any, Path], dict[str, Any]], entries: list[Entry] | None = None,
                    what: str = "alignment") -> int:
    """Batch mode on this machine, one alignment (or entry) after another: `predict(msa, folder)` writes one
    prediction's files and returns the table's numbers. Resumable the same way."""
    manifest = open_batch(options, settings, check, entries)
    advance, write, close = _start_progress(manifest, "predicting here, one at a time", what)
    try:
        for entry in manifest.entries:
            if entry.status in DONE or entry.attempts > options.max_retries:
                continue
            entry.status, entry.attempts = "RUNNING", entry.attempts + 1
            manifest.save()
            try:
                msa = check(Path(entry.path))
                entry.result = predict(msa, manifest.path.parent / entry.name)
                entry.status, entry.error = "COMPLETED", None
            except AlphafoldMsaError as error:
                entry.status, entry.error = "FAILED", str(error)
            manifest.save()
            write(f"{entry.name}: {entry.status.lower()}" + (f" ({entry.error})" if entry.error else ""))
            advance()
    except KeyboardInterrupt:
        close()
        print("interrupted: run the same command again to continue", file=sys.stderr)
        return EXIT_CANCELLED
    close()
    return finish_batch(manifest)
