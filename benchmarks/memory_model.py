"""Device memory of one forward pass (one recycle) of the network, by padded sequence length.

    python benchmarks/memory_model.py [--config full|reduced] [--lengths 64,128,...]

For each length the network is lowered and compiled for abstract inputs (no weights, nothing is
run) and XLA's memory analysis is read; bytes other than the one model's parameters are the
job's working memory at that length with the config's largest MSA crops.
`alphafold_msa/model/memory.py` holds the table this prints; on a GPU it measures the GPU compiler's
buffer assignment instead. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

DEFAULT_LENGTHS = "64,128,256,384,512,768,1024,1536,2048,2560"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="full", choices=("full", "reduced"))
    parser.add_argument("--lengths", default=DEFAULT_LENGTHS)
    args = parser.parse_args()

    import jax

    from alphafold_msa.model.config import network_config
    from alphafold_msa.testing.memory_probe import measure_working_bytes

    cfg = network_config("monomer_ptm", args.config)
    rows, param_bytes = [], 0
    for length in (int(x) for x in args.lengths.split(",")):
        start = time.perf_counter()
        working, param_bytes = measure_working_bytes(cfg, length)
        rows.append([length, working, round(time.perf_counter() - start, 1)])
    print(json.dumps({"benchmark": "memory_model", "config": args.config, "device": str(jax.devices()[0]),
                      "machine": platform.processor() or platform.machine(),
                      "crops": [cfg.data.eval.max_msa_clusters, cfg.data.common.max_extra_msa],
                      "param_bytes_per_model": param_bytes,
                      "columns": ["padded_length", "working_bytes", "seconds"], "lengths": rows}))


if __name__ == "__main__":
    main()
