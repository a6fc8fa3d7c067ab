"""Planning an interaction screen: `launch.py --check --screen all-vs-all` over N proteins (N(N-1)/2 complexes),
each a copy of a real Pfam alignment (RRM_1: 71 residues, 37 rows), read and paired as the screen will.

    python benchmarks/screen_plan.py [--proteins 45]

Prints one JSON object: complexes, seconds, peak RSS of the process (ru_maxrss) and above the start.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import resource
import shutil
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TESTDATA = REPO.parent / "shared" / "testdata"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--proteins", type=int, default=45)
    args = parser.parse_args()
    from alphafold_msa.launcher.cli import main as launch

    with tempfile.TemporaryDirectory() as folder:
        for index in range(args.proteins):
            shutil.copy(TESTDATA / "pfam" / "RRM_1.sto", Path(folder) / f"protein{index:03d}.sto")
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        plan = io.StringIO()
        start = time.perf_counter()
        with contextlib.redirect_stdout(plan):
            code = launch(["--check", "--screen", "all-vs-all", "--msa", folder, "--max-complexes", "100000"])
        seconds = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    lines = plan.getvalue().splitlines()
    print(json.dumps({"benchmark": "screen_plan", "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
                      "proteins": args.proteins, "complexes": len(lines), "exit_code": code,
                      "seconds": round(seconds, 2), "complexes_per_s": round(len(lines) / seconds),
                      "peak_rss_mb": round(peak / 1e6), "above_start_mb": round((peak - before) / 1e6)}))


if __name__ == "__main__":
    main()
