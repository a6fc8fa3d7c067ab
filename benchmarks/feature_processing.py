"""One seed's feature processing (the fork's input pipeline, ModelRunner.process): its seconds, the share spent
stacking one copy per recycle (cProfile: numpy's stack, called by the fork's map_fn), and
features.processed_bytes' estimate against the bytes it gives.

    python benchmarks/feature_processing.py [--length 100] [--depth 2000] [--num-recycle 3] [--repeats 3]

The full network's crops (fitted to the generated alignment's depth, model_speed.generated_msa); no weights are
needed. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import platform
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from model_speed import generated_msa  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=100)
    parser.add_argument("--depth", type=int, default=2000)
    parser.add_argument("--num-recycle", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from alphafold_msa.model.features import build_features, processed_bytes
    from alphafold_msa.model.runner import ModelRunner

    runner = ModelRunner(tempfile.gettempdir(), "full")
    raw = build_features(generated_msa(args.length, args.depth, seed=1))
    seconds = []
    for seed in range(args.repeats):
        start = time.perf_counter()
        processed = runner.process(raw, args.num_recycle, seed)
        seconds.append(round(time.perf_counter() - start, 3))
    profile = cProfile.Profile()
    profile.runcall(runner.process, raw, args.num_recycle, args.repeats)
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in stats.values())  # own time of every function
    stacking = sum(entry[2] for (file, _, name), entry in stats.items() if name == "stack" and "numpy" in file)
    crops = runner.msa_crops(len(raw["msa"]))
    actual = sum(value.nbytes for value in processed.values())
    print(json.dumps({
        "benchmark": "feature_processing", "machine": platform.processor() or platform.machine(),
        "length": args.length, "depth": args.depth, "num_recycle": args.num_recycle, "crops": crops,
        "seconds": seconds, "profiled_s": round(total, 3), "stacking_s": round(stacking, 3),
        "bytes": actual, "estimated_bytes": processed_bytes(args.length, crops, args.num_recycle),
    }, indent=1))


if __name__ == "__main__":
    main()
