"""Small job requests shaped to make a worker spend memory and CPU, replayed at growing sizes.

    python benchmarks/hostile_inputs.py [--shapes tiny_records,long_key,...] [--sizes 3] [--kill-gb 12]

Each case runs the real worker's handle_job in a fresh process (reduced network, generated weights,
a moto S3 server on 127.0.0.1 for the bucket shapes) until its first model starts or the job ends,
and reports: the request's bytes, the peak RSS above the process's RSS before the job (the network's
own memory is not reached: the job is stopped when its first model starts), the CPU seconds of the
job until then, and the outcome (refused with which limit, or started). The target: no request of
up to 10 MB takes more than 2 GB above that baseline or 30 s of CPU. A case whose process passes
--kill-gb is killed and reported as such. Prints one JSON object per case, then a summary.
"""

from __future__ import annotations

import argparse
import base64
import bz2
import gzip
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
TESTDATA = REPO.parent / "shared" / "testdata"
STRUCTURE = TESTDATA / "structures" / "1A7G.cif"
LETTERS = "ACDEFGHIKLMNPQRSTVWY"
BUCKET = "hostile"
STOP = ("compiling the network", "model 1/")


def _gz(text: str) -> str:
    return base64.b64encode(gzip.compress(text.encode(), 6)).decode("ascii")


def _query(length: int, seed: int = 0) -> str:
    import random

    rng = random.Random(seed)
    return "".join(rng.choice(LETTERS) for _ in range(length))


def _mutants(query: str, rows: int, seed: int = 1) -> list[str]:
    """Distinct rows: the query with a few random substitutions each (no duplicates to remove)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    codes = np.frombuffer(query.encode(), dtype=np.uint8)
    matrix = np.repeat(codes[None], rows, axis=0)
    letters = np.frombuffer(LETTERS.encode(), dtype=np.uint8)
    for _ in range(3):
        matrix[np.arange(rows), rng.integers(0, len(query), rows)] = rng.choice(letters, rows)
    return [row.tobytes().decode() for row in matrix]


def tiny_records(size: int) -> dict:
    """'>\\nM\\n' repeated: 4-byte records, the most rows per compressed byte."""
    return {"input": {"msa_gz_b64": _gz(">\nM\n" * size)}}


def long_rows(size: int) -> dict:
    """Identical 2,000-residue rows: compress to almost nothing, decompress to `size` rows."""
    query = _query(2000)
    return {"input": {"msa_gz_b64": _gz(f">q\n{query}\n" + f">h\n{query}\n" * size)}}


def wide_insertions(size: int) -> dict:
    """A 50-residue query whose rows insert `size` residues each (a3m lower case)."""
    query = _query(50)
    row = "a" * size + query
    return {"input": {"msa_gz_b64": _gz(f">q\n{query}\n" + f">h\n{row}\n" * 200)}}


def stockholm_pieces(size: int) -> dict:
    """Stockholm rows cut into 2-character pieces over `size` blocks."""
    blocks = "".join("q AC\nh AC\n\n" for _ in range(size))
    return {"input": {"msa_gz_b64": _gz(f"# STOCKHOLM 1.0\n{blocks}//\n")}}


def bucket_bz2(size: int) -> dict:
    """A tiny bzip2 object in the worker's bucket holding `size` aligned FASTA rows of 100 columns."""
    query = _query(100)
    text = f">q\n{query}\n" + f">h\n{query}\n" * size
    return {"input": {"msa_url": f"s3://{BUCKET}/alphafold-msa/inputs/bz2-{size}.fasta.bz2"},
            "objects": {f"alphafold-msa/inputs/bz2-{size}.fasta.bz2": bz2.compress(text.encode(), 9)}}


def _heterodimer(rows: int, header: Callable[[int, int], str]) -> dict:
    """A 60 + 70-residue complex a3m, `rows` distinct rows per chain, row n of chain c headed `header(c, n)`."""
    chains = [_query(60, 1), _query(70, 2)]
    lines = ["#60,70\t1,1", ">101\t102", "".join(chains)]
    for index, chain in enumerate(chains):
        before, after = "-" * (60 * index), "-" * (70 * (1 - index))
        lines += [f">10{index + 1}", before + chain + after]
        mutants = _mutants(chain, rows, index + 3)
        lines += [f">{header(index, n)}\n{before}{row}{after}" for n, row in enumerate(mutants)]
    return {"input": {"msa_gz_b64": _gz("\n".join(lines) + "\n"), "models": [1]}}


def long_key(size: int) -> dict:
    """A two-chain complex whose rows carry one species key of `size` characters."""
    return _heterodimer(200, lambda chain, n: f"row{chain}_{n} key={'K' * size if n == 0 else 'k' + str(n)}")


def deep_max_depth(size: int) -> dict:
    """`size` distinct rows of a 60-residue query, all asked to be featurized (max_msa_depth 1,000,000)."""
    query = _query(60)
    text = f">q\n{query}\n" + "".join(f">h{n}\n{row}\n" for n, row in enumerate(_mutants(query, size)))
    return {"input": {"msa_gz_b64": _gz(text), "max_msa_depth": 1_000_000, "models": [1]}}


def _copies(size: int, complex_mode: str) -> dict:
    """A 20-residue chain in 62 copies with `size` distinct rows, every row asked to be featurized."""
    query = _query(20)
    lines = ["#20\t62", ">101", query] + [f">h{n}\n{row}" for n, row in enumerate(_mutants(query, size))]
    return {"input": {"msa_gz_b64": _gz("\n".join(lines) + "\n"), "complex_mode": complex_mode, "models": [1],
                      "max_msa_depth": 1_000_000}}


def ptm_copies(size: int) -> dict:
    """62 copies as a pTM complex: the chains' rows are laid side by side, block-diagonally."""
    return _copies(size, "ptm")


def multimer_copies(size: int) -> dict:
    """62 copies for AlphaFold-Multimer: features per copy, and the chains side by side for the summary."""
    return _copies(size, "multimer")


def species_pairing(size: int) -> dict:
    """Two chains of `size` rows each, every row with a taxonomy id shared by both: pairing by species."""
    return _heterodimer(size, lambda chain, n: f"r{chain}_{n} OX={n % (size // 2 + 1)}")


def paired_block(size: int) -> dict:
    """A 50 + 50-residue pTM complex whose paired block repeats one row `size` times."""
    a, b = _query(50, 1), _query(50, 2)
    return {"input": {"msa_gz_b64": _gz(f"#50,50\t1,1\n>101\t102\n{a}{b}\n" + f">p\n{a}{b}\n" * size),
                      "models": [1], "complex_mode": "ptm"}}


def paired_block_copies(size: int) -> dict:
    """Two 20-residue chains in 31 copies each (AlphaFold-Multimer), a paired block of `size` rows."""
    a, b = _query(20, 1), _query(20, 2)
    return {"input": {"msa_gz_b64": _gz(f"#20,20\t31,31\n>101\t102\n{a}{b}\n" + f">\n{a}{b}\n" * size),
                      "models": [1]}}


def many_chains(size: int) -> dict:
    """62 distinct one-residue chains and `size` paired rows over all of them."""
    query = "".join(LETTERS[n % 20] for n in range(62))
    head = "#" + ",".join(["1"] * 62) + "\t" + ",".join(["1"] * 62)
    return {"input": {"msa_gz_b64": _gz(f"{head}\n>q\n{query}\n" + f">\n{query}\n" * size), "models": [1],
                      "complex_mode": "ptm"}}


def blank_lines(size: int) -> dict:
    """A two-row a3m followed by `size` blank lines."""
    query = _query(50)
    return {"input": {"msa_gz_b64": _gz(f">q\n{query}\n>h\n{query}\n" + "\n" * size), "models": [1]}}


def _pdb_chain() -> tuple[str, str]:
    """(2rbg.pdb's chain A as ATOM lines, its sequence)."""
    from alphafold_msa.structures.read import read_structure

    text = (TESTDATA / "structures" / "2rbg.pdb").read_text()
    atoms = "".join(line + "\n" for line in text.splitlines() if line.startswith("ATOM") and line[21] == "A")
    return atoms, read_structure(atoms, "chain.pdb").chains["A"].sequence


def _pdb_templates(pdb: str, sequence: str) -> dict:
    structure = {"encoding": "gzip+base64", "data": _gz(pdb)}
    return {"input": {"msa": f">q\n{sequence}\n", "models": [1],
                      "templates": [{"name": f"t{i}.pdb", "structure": structure} for i in range(4)]}}


def template_models(size: int) -> dict:
    """Four PDB templates: a real chain, then `size` bare MODEL lines."""
    atoms, sequence = _pdb_chain()
    return _pdb_templates(atoms + "MODEL \n" * size, sequence)


def template_header(size: int) -> dict:
    """Four PDB templates: `size` COMPND header lines (Biopython joins them in quadratic time), then a chain."""
    atoms, sequence = _pdb_chain()
    return _pdb_templates("COMPND\n" * size + atoms, sequence)


def template_chains(size: int) -> dict:
    """Four mmCIF templates of `size` one-residue chains each, for a 62-copy complex."""
    fields = ("group_PDB", "id", "type_symbol", "label_atom_id", "label_alt_id", "label_comp_id", "label_asym_id",
              "label_entity_id", "label_seq_id", "pdbx_PDB_ins_code", "Cartn_x", "Cartn_y", "Cartn_z", "occupancy",
              "B_iso_or_equiv", "pdbx_formal_charge", "auth_seq_id", "auth_comp_id", "auth_asym_id", "auth_atom_id",
              "pdbx_PDB_model_num")
    rows = [f"ATOM {n + 1} C CA . ALA C{n} 1 1 ? {n % 97:.3f} 0.000 0.000 1.00 0.00 ? 1 ALA C{n} CA 1"
            for n in range(size)]
    cif = "\n".join(["data_chains", "loop_", *(f"_atom_site.{field}" for field in fields), *rows, "#"]) + "\n"
    structure = {"encoding": "gzip+base64", "data": _gz(cif)}
    return {"input": {"msa": f"#40\t62\n>101\n{_query(40)}\n", "models": [1],
                      "templates": [{"name": f"t{i}.cif", "structure": structure} for i in range(4)]}}


def template_atoms(size: int) -> dict:
    """An mmCIF template of `size` atoms whose rows start with a space (not counted by line prefix)."""
    from alphafold_msa.structures.read import read_structure

    text = STRUCTURE.read_text()
    lines = text.splitlines()
    atoms = [line for line in lines if line.startswith("ATOM")]
    rows = []
    for n in range(size):
        fields = atoms[n % len(atoms)].split()
        shift = 1000 * (n // len(atoms))  # each copy of the entry's atoms gets residue numbers of its own
        fields[1], fields[8], fields[16] = str(n + 1), str(int(fields[8]) + shift), str(int(fields[16]) + shift)
        rows.append(" " + " ".join(fields))
    cif = "\n".join(lines[:lines.index(atoms[0])] + rows + ["#"]) + "\n"
    sequence = next(iter(read_structure(text, STRUCTURE.name).chains.values())).sequence
    return {"input": {"msa": f">q\n{sequence}\n", "models": [1],
                      "templates": [{"name": "big.cif", "structure": {"encoding": "gzip+base64", "data": _gz(cif)}}]}}


SHAPES: dict[str, tuple[Callable[[int], dict], tuple[int, ...]]] = {
    "tiny_records": (tiny_records, (100_000, 1_000_000, 10_000_000, 70_000_000)),
    "long_rows": (long_rows, (1_000, 10_000, 100_000, 1_000_000)),
    "wide_insertions": (wide_insertions, (10_000, 100_000, 1_000_000, 10_000_000)),
    "stockholm_pieces": (stockholm_pieces, (10_000, 100_000, 1_000_000, 10_000_000)),
    "bucket_bz2": (bucket_bz2, (10_000, 100_000, 1_000_000, 10_000_000)),
    "long_key": (long_key, (1_000, 100_000, 1_000_000)),
    "deep_max_depth": (deep_max_depth, (10_000, 100_000, 300_000)),
    "ptm_copies": (ptm_copies, (1_000, 10_000, 100_000)),
    "multimer_copies": (multimer_copies, (1_000, 10_000, 100_000)),
    "species_pairing": (species_pairing, (10_000, 100_000, 300_000)),
    "paired_block": (paired_block, (50_000, 200_000, 900_000)),
    "paired_block_copies": (paired_block_copies, (50_000, 200_000, 900_000)),
    "many_chains": (many_chains, (10_000, 100_000, 300_000)),
    "blank_lines": (blank_lines, (1_000_000, 20_000_000, 187_000_000)),
    "template_chains": (template_chains, (60, 1_000, 49_960)),
    "template_atoms": (template_atoms, (40_000, 100_000, 365_850)),
    "template_models": (template_models, (10_000, 200_000, 1_400_000)),
    "template_header": (template_header, (10_000, 200_000, 1_400_000)),
}


def _rss(field: str) -> int:
    """VmRSS or VmHWM (the peak since the last reset) of this process, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def child(shape: str, size: int) -> None:
    """Build one case and run it (in this fresh process) until its first model starts or the job ends; print
    the measurement. The peak is measured from after the case is built and the worker's modules loaded."""
    import gc
    import logging

    import jax  # noqa: F401  (what every worker has loaded before its first job)
    from alphafold.model import model  # noqa: F401

    from alphafold_msa import predict  # noqa: F401
    from alphafold_msa.transfer.bucket import Bucket
    from alphafold_msa.worker import handler

    case = SHAPES[shape][0](size)
    bucket = Bucket.from_env()
    for key, data in case.pop("objects", {}).items():
        bucket.client().put_object(Bucket=bucket.name, Key=key, Body=data)
    request_bytes = len(json.dumps({"input": case["input"]}))
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    baseline, cpu = _rss("VmRSS"), time.process_time()

    def measure(outcome: str) -> None:
        print(json.dumps({"request_bytes": request_bytes,
                          "peak_rss_above_baseline_gb": round(max(0, _rss("VmHWM") - baseline) / 1e9, 3),
                          "cpu_s": round(time.process_time() - cpu, 2), "outcome": outcome}), flush=True)
        os._exit(0)

    class FirstModel(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if any(stop in record.getMessage() for stop in STOP):
                measure("started: its first model")

    logging.getLogger("alphafold_msa").addHandler(FirstModel())
    logging.getLogger("alphafold_msa").setLevel(logging.INFO)
    result = handler.handle_job({"id": "hostile", "input": case["input"]})
    measure(f"refused: {result['error'][:300]}" if "error" in result else "completed")


def _watch(process: subprocess.Popen, kill_bytes: int, timeout_s: float) -> str | None:
    """Wait for `process`; kill it past `kill_bytes` of RSS or `timeout_s`; the reason when killed."""
    status = Path(f"/proc/{process.pid}/statm")
    started = time.monotonic()
    while process.poll() is None:
        try:
            held = int(status.read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError):
            held = 0
        if held > kill_bytes:
            process.kill()
            return f"killed: more than {kill_bytes / 1e9:.0f} GB of RSS"
        if time.monotonic() - started > timeout_s:
            process.kill()
            return f"killed: still running after {timeout_s:.0f} s"
        time.sleep(0.05)
    return None


def _s3_server() -> tuple[Any, dict[str, str]]:
    from moto.server import ThreadedMotoServer

    from alphafold_msa.transfer.bucket import Bucket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {"BUCKET_ENDPOINT_URL": f"http://127.0.0.1:{port}", "BUCKET_ACCESS_KEY_ID": "k",
           "BUCKET_SECRET_ACCESS_KEY": "s", "BUCKET_NAME": BUCKET}
    Bucket(env["BUCKET_ENDPOINT_URL"], "k", "s", BUCKET).client().create_bucket(Bucket=BUCKET)
    return server, env


def run_case(shape: str, size: int, env: dict[str, str], kill_gb: float, timeout_s: float) -> dict:
    """One shape at one size in a fresh process; its measurement."""
    process = subprocess.Popen([sys.executable, __file__, "--child", shape, str(size)], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, env={**os.environ, **env}, text=True)
    killed = _watch(process, int(kill_gb * 1e9), timeout_s)
    output = process.stdout.read().strip().splitlines()
    measured = json.loads(output[-1]) if output and not killed else {"outcome": killed or "crashed"}
    return {"shape": shape, "size": size, **measured}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shapes", default=",".join(SHAPES))
    parser.add_argument("--sizes", type=int, default=4, help="how many of each shape's growing sizes to run")
    parser.add_argument("--kill-gb", type=float, default=12.0)
    parser.add_argument("--timeout-s", type=float, default=600.0)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return
    from alphafold_msa.testing.make_weights import make_weights

    server, env = _s3_server()
    results = []
    with tempfile.TemporaryDirectory(prefix="hostile-") as folder:
        weights = Path(folder) / "weights"
        for preset in ("monomer_ptm", "multimer"):
            make_weights(weights, "reduced", seed=0, presets=[preset], numbers=[1, 2, 3, 4, 5])
        env.update({"PARAM_DIR": str(weights), "ALPHAFOLD_MSA_MODEL_CONFIG": "reduced",
                    "WORKDIR": str(Path(folder) / "work"), "ALPHAFOLD_MSA_RELAX": "none"})
        for shape in args.shapes.split(","):
            for size in SHAPES[shape][1][:args.sizes]:
                results.append(run_case(shape, size, env, args.kill_gb, args.timeout_s))
                print(json.dumps(results[-1]), flush=True)
    server.stop()
    small = [r for r in results if r.get("request_bytes", 0) <= 10_000_000]
    worst_rss = max((r.get("peak_rss_above_baseline_gb", float("inf")) for r in small), default=0)
    worst_cpu = max((r.get("cpu_s", float("inf")) for r in small), default=0)
    print(json.dumps({"summary": {"cases": len(results), "worst_peak_rss_above_baseline_gb": worst_rss,
                                  "worst_cpu_s": worst_cpu, "target": {"rss_gb": 2.0, "cpu_s": 30.0},
                                  "meets_target": worst_rss <= 2.0 and worst_cpu <= 30.0,
                                  "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}}}))


if __name__ == "__main__":
    main()
