"""Parse + filter + featurize a Pfam-scale alignment (300,000 sequences): ours vs the alphafold parsers.

    python benchmarks/msa_scale.py [--sequences 300000] [--seed-alignment Pkinase.sto] [--memory-cap-gb 16]

Generates a synthetic alignment from a real Pfam seed (mutations, gap runs, insertions), writes it
as Stockholm and a3m, then measures each reader in a fresh child process (wall time, peak RSS).
The alphafold baseline runs under an address-space cap and a time limit so the comparison finishes.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SEED = REPO.parent / "shared" / "testdata" / "pfam" / "Pkinase.sto"
AMINO = np.frombuffer(b"ACDEFGHIKLMNPQRSTVWY", dtype=np.uint8)


def read_seed(path: Path) -> tuple[list[str], np.ndarray]:
    """The seed's rows as an (n, width) byte matrix (Stockholm, one alignment)."""
    rows: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#") and line.strip() != "//":
            name, piece = line.split()
            rows.setdefault(name, []).append(piece)
    names = list(rows)
    matrix = np.array([np.frombuffer("".join(rows[n]).encode(), dtype=np.uint8) for n in names])
    return names, matrix


def synthesize(seed: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` rows derived from random seed rows: 15% substitutions, a gap run, inserted residues."""
    width = seed.shape[1]
    query_gap = (seed[0] == ord("-")) | (seed[0] == ord("."))
    rows = seed[rng.integers(0, len(seed), count)].copy()
    rows[0] = seed[0]
    letters = np.isin(rows | 0x20, AMINO | 0x20)
    mutate = letters & (rng.random(rows.shape) < 0.15)
    replacement = AMINO[rng.integers(0, 20, rows.shape)]
    replacement = np.where(query_gap, replacement | 0x20, replacement)
    rows[mutate] = replacement[mutate]
    columns = np.arange(width)
    start = rng.integers(0, width, count)[:, None]
    length = rng.integers(0, 25, count)[:, None]
    gap_run = (columns >= start) & (columns < start + length)
    gap_run[0] = False
    rows[gap_run] = np.where(query_gap, ord("."), ord("-"))[np.nonzero(gap_run)[1]]
    inserted = query_gap & (rows == ord(".")) & (rng.random(rows.shape) < 0.05)
    inserted[0] = False
    rows[inserted] = (AMINO[rng.integers(0, 20, rows.shape)] | 0x20)[inserted]
    return rows


def write_stockholm(path: Path, names: list[str], rows: np.ndarray) -> None:
    with open(path, "w") as handle:
        handle.write("# STOCKHOLM 1.0\n#=GF ID synthetic\n")
        for name, row in zip(names, rows):
            handle.write(f"{name} {row.tobytes().decode()}\n")
        handle.write("//\n")


def write_a3m(path: Path, names: list[str], rows: np.ndarray) -> None:
    """Query columns: upper-case residues and '-' gaps; query-gap columns: lower-case insertions only."""
    query_gap = (rows[0] == ord("-")) | (rows[0] == ord("."))
    is_gap = (rows == ord("-")) | (rows == ord("."))
    text = np.where(query_gap, rows | 0x20, np.where(is_gap, ord("-"), rows & 0xDF)).astype(np.uint8)
    keep = ~query_gap | ~is_gap
    with open(path, "w") as handle:
        for name, row, kept in zip(names, text, keep):
            handle.write(f">{name}\n{row[kept].tobytes().decode()}\n")


def write_stockholm_dashes(source: Path, target: Path) -> None:
    """The same Stockholm file with '.' gaps written as '-': the only gap alphafold's parser accepts."""
    target.write_bytes(source.read_bytes().replace(b".", b"-"))


MEASURE_OURS = """
from alphafold_msa.protocol.schema import DEFAULT_MAX_MSA_DEPTH
from alphafold_msa.model.features import build_features
from alphafold_msa.msa import read_msa
from alphafold_msa.msa.filter import filter_msa
msa = read_msa(PATH)
filtered, record = filter_msa(msa, DEFAULT_MAX_MSA_DEPTH)
features = build_features(filtered)
RESULT.update(depth=msa.depth, length=msa.length, filtered_depth=filtered.depth,
              feature_msa_shape=list(features["msa"].shape))
"""
MEASURE_ALPHAFOLD = """
from alphafold.data import parsers, pipeline
text = open(PATH).read()
msa = parsers.parse_a3m(text) if PATH.endswith(".a3m") else parsers.parse_stockholm(text)
features = pipeline.make_msa_features([msa])
RESULT.update(depth=len(msa.sequences), feature_msa_shape=list(features["msa"].shape))
"""


def measure(code: str, path: Path, memory_cap_gb: float | None, timeout_s: float) -> dict:
    """Run `code` in a fresh interpreter; wall time of the code and the child's peak RSS."""
    script = (f"import json, time\nPATH = {str(path)!r}\nRESULT = {{}}\nstart = time.perf_counter()\n{code}\n"
              f"RESULT['wall_s'] = round(time.perf_counter() - start, 2)\nprint(json.dumps(RESULT))\n")

    def cap() -> None:
        if memory_cap_gb:
            limit = int(memory_cap_gb * 2**30)
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    try:
        completed = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True,
                                   timeout=timeout_s, preexec_fn=cap)
    except subprocess.TimeoutExpired:
        return {"failed": f"did not finish within {timeout_s:.0f} s"}
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if completed.returncode != 0:
        last = (completed.stderr.strip().splitlines() or ["?"])[-1]
        return {"failed": last[:200], "peak_rss_mb_at_least": round(max(peak, before) / 1024)}
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    # ru_maxrss of RUSAGE_CHILDREN is the largest child so far; children run largest-last is not
    # guaranteed, so each measurement is also run in its own benchmark process by main().
    result["peak_rss_mb"] = round(peak / 1024)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sequences", type=int, default=300_000)
    parser.add_argument("--seed-alignment", type=Path, default=DEFAULT_SEED)
    parser.add_argument("--memory-cap-gb", type=float, default=16.0,
                        help="address-space cap for the alphafold baseline")
    parser.add_argument("--timeout", type=float, default=1200.0, help="time limit per measurement, seconds")
    parser.add_argument("--only", choices=("ours", "alphafold"), help=argparse.SUPPRESS)
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.only:  # one measurement in this process's only child, so its peak RSS is its own
        code = MEASURE_OURS if args.only == "ours" else MEASURE_ALPHAFOLD
        cap = args.memory_cap_gb if args.only == "alphafold" else None
        print(json.dumps(measure(code, args.input, cap, args.timeout)))
        return 0

    rng = np.random.default_rng(0)
    names, seed = read_seed(args.seed_alignment)
    started = time.perf_counter()
    rows = synthesize(seed, args.sequences, rng)
    all_names = [names[0]] + [f"SYN{i:06d}/1-{seed.shape[1]}" for i in range(1, args.sequences)]
    report: dict = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                   f"{platform.python_implementation()} {platform.python_version()}",
        "input": {"seed": args.seed_alignment.name, "sequences": args.sequences, "columns": int(seed.shape[1]),
                  "query_length": int(np.isin(seed[0] | 0x20, AMINO | 0x20).sum())},
        "targets": {"ours_wall_s_max": 20, "ours_peak_rss_mb_max": 3072, "speedup_min": 5},
    }
    with tempfile.TemporaryDirectory() as tmp:
        files = {"stockholm": Path(tmp) / "synthetic.sto", "a3m": Path(tmp) / "synthetic.a3m",
                 "stockholm_dashes": Path(tmp) / "synthetic_dashes.sto"}
        write_stockholm(files["stockholm"], all_names, rows)
        write_a3m(files["a3m"], all_names, rows)
        write_stockholm_dashes(files["stockholm"], files["stockholm_dashes"])
        del rows
        report["input"]["generate_s"] = round(time.perf_counter() - started, 1)
        report["input"]["file_mb"] = {k: round(p.stat().st_size / 1e6) for k, p in files.items()}
        for who in ("ours", "alphafold"):
            report[who] = {}
            for fmt, path in files.items():
                child = subprocess.run(
                    [sys.executable, __file__, "--only", who, "--input", str(path), "--memory-cap-gb",
                     str(args.memory_cap_gb), "--timeout", str(args.timeout)],
                    capture_output=True, text=True, check=True)
                report[who][fmt] = json.loads(child.stdout)
    # alphafold's Stockholm parser rejects Pfam's '.' gaps, so its Stockholm time is taken on the
    # dash-normalised copy and compared with ours on the original file.
    pairs = {"stockholm": ("stockholm", "stockholm_dashes"), "a3m": ("a3m", "a3m")}
    report["speedup"] = {
        fmt: round(report["alphafold"][theirs]["wall_s"] / report["ours"][ours]["wall_s"], 1)
        for fmt, (ours, theirs) in pairs.items()
        if "wall_s" in report["alphafold"][theirs] and "wall_s" in report["ours"][ours]
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
