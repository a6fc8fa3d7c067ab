"""launch.py --screen: an interaction screen, one complex per job of a batch, ranked by interface scores.

    --screen pulldown --bait BAIT.sto --msa preys/     each prey with the bait
    --screen all-vs-all --msa proteins/                every unordered pair (homodimers with --include-homomers)
    --screen pairs --pairs FILE                        one complex per line: FILE[:COPIES],FILE[:COPIES],...

Each complex is read from its chains' alignments, paired as --complex pairs them (--pairing), and runs as one
job of a batch (launcher.batch: the manifest in --output-dir, resume, retries, concurrency; remote or --local),
its files in OUT/<name>/. screen.tsv and screen.json rank the complexes by --rank-by (default ipSAE), one line
each with its top model's scores, rewritten as complexes finish.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from alphafold_msa.errors import EXIT_CANCELLED, EXIT_OK, AlphafoldMsaError, UserError, printable
from alphafold_msa.files import write_atomic
from alphafold_msa.launcher.batch import (
    DONE,
    SCREEN_JSON,
    SCREEN_TSV,
    Entry,
    _alignment_stem,
    batch_settings,
    discover,
    finish_batch,
    folder_names,
    format_table,
    open_batch,
    result_numbers,
    run_batch,
    run_local_batch,
    tsv_text,
)
from alphafold_msa.launcher.options import LaunchOptions
from alphafold_msa.launcher.result_files import job_scores
from alphafold_msa.protocol.spec import JobSpec

SCREEN_COLUMNS = ("rank", "name", "chains", "ipsae", "iptm", "pdockq", "pdockq2", "mean_plddt", "length", "status")
# A pairs file: ample for --max-complexes' default of 10,000 lines of a few file names each.
MAX_PAIRS_FILE_BYTES = 10_000_000
_MEMBER = re.compile(r"(?P<path>[^:]+?)(?::(?P<copies>\d+))?")


@dataclasses.dataclass(frozen=True)
class Member:
    """One chain of a complex: its alignment file and how many copies."""

    path: Path
    copies: int = 1

    def text(self) -> str:
        return f"{self.path}" + (f":{self.copies}" if self.copies != 1 else "")


@dataclasses.dataclass(frozen=True)
class ScreenComplex:
    """One complex of a screen: its name (its folder) and its chains."""

    name: str
    members: tuple[Member, ...]

    @property
    def spec(self) -> str:
        """'A.sto:2,B.a3m': how the manifest records it (parse_members reads it back)."""
        return ",".join(member.text() for member in self.members)

    def entry(self) -> Entry:
        digest = hashlib.sha256()
        for member in self.members:
            digest.update(member.path.read_bytes() + f"\0{member.copies}\0".encode())
        return Entry(name=self.name, path=self.spec, sha256=digest.hexdigest())


def parse_members(text: str, base: Path, where: str) -> tuple[Member, ...]:
    """'A.sto:2,B.a3m' (relative to `base`) as members; UserError naming `where` (a file and line)."""
    members = []
    for part in (piece.strip() for piece in text.split(",")):
        match = _MEMBER.fullmatch(part)
        if not part or match is None:
            raise UserError(f"{where}: '{part}': expected FILE or FILE:COPIES, comma-separated (e.g. A.sto:2,B.a3m)")
        path = Path(match["path"])
        path = path if path.is_absolute() else base / path
        if not path.is_file():
            raise UserError(f"{where}: {match['path']}: no such file")
        copies = int(match["copies"] or 1)
        if copies < 1:
            raise UserError(f"{where}: '{part}': copies must be at least 1")
        members.append(Member(path, copies))
    return tuple(members)


def _named(members: tuple[Member, ...]) -> str:
    """'bait__prey', 'Ax2': the complex's stem, from its chains' alignment stems and copies."""
    return "__".join((_alignment_stem(m.path) or m.path.stem) + (f"x{m.copies}" if m.copies != 1 else "")
                     for m in members)


def plan(options: LaunchOptions) -> list[ScreenComplex]:
    """The screen's complexes, in order, named uniquely; UserError for a screen of none or more than
    --max-complexes, a bait missing, or a pairs file's bad line."""
    groups: list[tuple[Member, ...]]
    if options.screen == "pulldown":
        if not options.bait:
            raise UserError("--screen pulldown needs --bait BAIT: the alignment every prey is paired with")
        bait = Member(Path(options.bait))
        if not bait.path.is_file():
            raise UserError(f"--bait {options.bait}: no such file")
        groups = [(bait, Member(prey)) for prey in discover(options.msa) if prey.resolve() != bait.path.resolve()]
    elif options.screen == "all-vs-all":
        proteins = discover(options.msa)
        groups = [(Member(a), Member(b)) for i, a in enumerate(proteins) for b in proteins[i + 1:]]
        if options.include_homomers:
            groups += [(Member(p, 2),) for p in proteins]
    else:
        if not options.pairs:
            raise UserError("--screen pairs needs --pairs FILE: one complex per line, FILE[:COPIES],FILE[:COPIES]")
        groups = _read_pairs(Path(options.pairs), options.max_complexes)
    if not groups:
        raise UserError(f"--screen {options.screen}: no complexes to predict")
    if len(groups) > options.max_complexes:
        raise UserError(f"--screen {options.screen}: {len(groups):,} complexes, more than --max-complexes "
                        f"{options.max_complexes:,}")
    names = folder_names((_named(members) for members in groups), fallback="complex")
    return [ScreenComplex(name, tuple(members)) for name, members in zip(names, groups)]


def _read_pairs(path: Path, most: int) -> list[tuple[Member, ...]]:
    """A pairs file's complexes ('#' comments and blank lines skipped), at most `most` + 1 read."""
    if not path.is_file():
        raise UserError(f"--pairs {path}: no such file")
    if path.stat().st_size > MAX_PAIRS_FILE_BYTES:
        raise UserError(f"--pairs {path}: {path.stat().st_size:,} bytes, more than the {MAX_PAIRS_FILE_BYTES:,} a "
                        f"pairs file may hold")
    groups = []
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            text = line.split("#", 1)[0].strip()
            if text:
                groups.append(parse_members(text, path.parent, f"{path} line {number}"))
            if len(groups) > most:
                break
    return groups


def read_complex(spec: str, options: LaunchOptions):
    """A screen complex's chains read and paired as --complex pairs them, its length checked."""
    from alphafold_msa import settings
    from alphafold_msa.launcher.inputs import paired_as_asked
    from alphafold_msa.msa import assemble_complex, read_msa
    from alphafold_msa.msa.filter import check_length

    members = parse_members(spec, Path.cwd(), "screen complex")
    chains = [read_msa(member.path, format=options.msa_format) for member in members]
    msa = paired_as_asked(assemble_complex(chains, [member.copies for member in members]), options)
    check_length(msa, settings.max_query_length())
    return msa


def ranked_rows(entries: Sequence[Entry], rank_by: str) -> list[dict[str, Any]]:
    """The screen's table: completed complexes by `rank_by` (best first), then the others."""
    def score(entry: Entry) -> float:
        value = entry.result.get(rank_by)
        return value if isinstance(value, (int, float)) else float("-inf")

    done = sorted((e for e in entries if e.status == "COMPLETED"), key=lambda e: -score(e))
    rest = [e for e in entries if e.status != "COMPLETED"]
    rows = []
    for rank, entry in enumerate([*done, *rest], start=1):
        rows.append({"rank": rank if entry.status == "COMPLETED" else None, "name": entry.name,
                     "chains": entry.path, **{k: entry.result.get(k) for k in SCREEN_COLUMNS[3:-1]},
                     "status": entry.status})
    return rows


def write_screen(directory: Path, entries: Sequence[Entry], rank_by: str) -> str:
    """screen.tsv, screen.json and report.html (the table sortable, each complex linking to its page) in the screen's
    folder; the table as text."""
    rows = ranked_rows(entries, rank_by)
    write_atomic(directory / SCREEN_JSON, json.dumps({"rank_by": rank_by, "complexes": rows}, indent=1))
    write_atomic(directory / SCREEN_TSV, tsv_text(rows, SCREEN_COLUMNS))
    from alphafold_msa.results.html_report import screen_report

    screen_report(directory, rows, SCREEN_COLUMNS, rank_by)
    return format_table(rows, SCREEN_COLUMNS)


def run_check(options: LaunchOptions) -> bool:
    """--check --screen: one JSON line per complex (its chains, residues, paired rows, samples and estimated GPU
    seconds, or why it cannot run); whether all can."""
    from alphafold_msa.launcher.inputs import device_memory, sampling_estimate

    spec = options.job_spec()
    good = True
    for complex_ in plan(options):
        line: dict[str, Any] = {"name": complex_.name, "chains": complex_.spec}
        try:
            msa = read_complex(complex_.spec, options)
            line.update(residues=msa.length, chain_lengths=msa.chain_lengths, paired_rows=msa.paired_rows,
                        **device_memory(msa.length), **sampling_estimate(msa.length, spec.predictions, spec))
        except AlphafoldMsaError as error:
            good = False
            line["error"] = printable(error)
        print(json.dumps(line), flush=True)
    return good


def run_screen(options: LaunchOptions, runners=None) -> int:
    """The screen on the endpoint or, with --local, here; the ranked table rewritten as complexes finish and
    printed at the end."""
    assert options.output_dir is not None, "checked by cli.dispatch"
    directory = Path(options.output_dir)
    entries = [complex_.entry() for complex_ in plan(options)]
    check = functools.partial(_check_entry, options=options)

    def finished(name: str, numbers: dict[str, Any]) -> None:
        """A complex just completed (before the manifest says so): the table with it."""
        saved = _saved_entries(directory)
        write_screen(directory, [dataclasses.replace(e, status="COMPLETED", result=numbers) if e.name == name else e
                                 for e in saved], options.rank_by)

    if options.local:
        from alphafold_msa.launcher.local import batch_predictor, local_spec

        spec = local_spec(options, options.job_spec())
        settings = batch_settings(spec, options, model_config=options.model_config, demo_weights=options.demo_weights,
                                  screen=options.screen)
        predictor = batch_predictor(options, spec, runners)

        def predict(msa, folder: Path) -> dict[str, Any]:
            numbers = predictor(msa, folder)
            finished(folder.name, numbers)
            return numbers

        code = run_local_batch(options, settings, check, predict, entries, what="complex")
    else:
        from alphafold_msa.launcher.remote import collect_batch_entry, endpoint_client, job_input

        spec = options.job_spec()
        endpoint_client(options)  # a missing endpoint id or API key fails before anything is read
        settings = batch_settings(spec, options, screen=options.screen)
        if options.fan_out is not None:
            settings.update(fan_out=options.fan_out, samples_per_job=options.samples_per_job)
            code = _run_fanned_out(options, settings, spec, check, entries, finished)
        else:
            def collect(entry: Entry, status: dict, folder: Path) -> None:
                collect_batch_entry(options.api_url, entry, status, folder)
                finished(entry.name, entry.result)

            code = run_batch(options, lambda: endpoint_client(options), settings, check,
                             lambda path, msa: job_input(spec, path, msa), collect, entries, what="complex")
    print(write_screen(directory, _saved_entries(directory), options.rank_by))
    print(f"ranked by {options.rank_by}: {directory / SCREEN_TSV}", file=sys.stderr)
    return code


def _run_fanned_out(options: LaunchOptions, settings: dict[str, Any], spec: JobSpec, check: Callable[[Path], Any],
                    entries: list[Entry], finished: Callable[[str, dict[str, Any]], None]) -> int:
    """--screen with --fan-out: one complex after another, each one's samples spread over up to --fan-out jobs run
    --concurrency at a time and merged into its folder (launcher.fanout; its parts in OUT/<name>/.fanout). A
    complex that fails (its jobs, its folder, its files) is marked FAILED and the rest run. Resumed by the same
    command: finished complexes are kept, the one in progress picks up its parts."""
    from alphafold_msa.launcher.fanout import fan_out

    manifest = open_batch(options, settings, check, entries)
    for entry in manifest.entries:
        if entry.status == "INVALID":
            print(f"{entry.name}: not submitted: {printable(entry.error or '')}", file=sys.stderr)
    to_run = [entry for entry in manifest.entries if entry.status not in DONE]
    invalid = sum(entry.status == "INVALID" for entry in manifest.entries)
    finished_before = sum(entry.status == "COMPLETED" for entry in manifest.entries)
    print(f"{len(manifest.entries)} complex(es), each fanned out over up to {options.fan_out} jobs, one after "
          f"another; {invalid} invalid, {finished_before} already finished; manifest {manifest.path}", file=sys.stderr)
    for number, entry in enumerate(to_run, start=1):
        folder = manifest.path.parent / entry.name
        try:
            msa = read_complex(entry.path, options)
        except AlphafoldMsaError as error:  # a chain's file changed or went away since the screen started
            entry.status, entry.error = "INVALID", str(error)
            manifest.save()
            continue
        entry.status = "RUNNING"
        manifest.save()
        print(f"complex {number} of {len(to_run)}: {entry.name}", file=sys.stderr)
        try:
            code = fan_out(options, msa, spec, entry.path, folder)
            if code == EXIT_OK:
                entry.status, entry.error, entry.result = "COMPLETED", None, _merged_numbers(folder)
                finished(entry.name, entry.result)
            elif code == EXIT_CANCELLED:
                manifest.save()
                return code
            else:
                entry.status = "FAILED"
                entry.error = f"some of its jobs did not complete (see {folder / '.fanout' / 'manifest.json'})"
        except AlphafoldMsaError as error:
            entry.status, entry.error = "FAILED", str(error)
            print(f"{entry.name}: failed: {printable(error)}", file=sys.stderr)
        manifest.save()
    return finish_batch(manifest)


def _merged_numbers(folder: Path) -> dict[str, Any]:
    """A fanned-out complex's numbers for the table, from its merged files; worker_s: its jobs' seconds."""
    scores = job_scores(sorted(path for path in folder.iterdir() if path.is_file()))
    fan_out = scores.get("timings", {}).get("fan_out", {})
    return {**result_numbers(scores, {}), "worker_s": fan_out.get("worker_s")}


def _check_entry(path: Path, options: LaunchOptions):
    """A batch entry's input: the screen complex its recorded spec names."""
    return read_complex(str(path), options)


def _saved_entries(directory: Path) -> list[Entry]:
    """The manifest's entries as last saved (none before it exists)."""
    try:
        return [Entry(**entry) for entry in json.loads((directory / "manifest.json").read_text())["entries"]]
    except (OSError, ValueError, KeyError, TypeError):
        return []
