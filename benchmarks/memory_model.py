"""Device memory of one forward pass (one recycle) of the network, by padded sequence length.

    python benchmarks/memory_model.py [--config full|reduced] [--lengths 64,128,...] [--kinds monomer,multimer]
                                      [--kernels xla|fused] [--table-out alphafold_msa/model/gpu_memory.json]

For each length the network is lowered and compiled for abstract inputs (no weights, nothing is
run) and XLA's memory analysis is read; bytes other than the one model's parameters are the
job's working memory at that length with the config's largest MSA crops (AlphaFold-Multimer: a heterodimer
of two chains of half the length). `alphafold_msa/model/memory.py` holds the CPU compiler's table this prints on
a CPU; on a GPU it measures the GPU compiler's buffer assignment, with `--kernels fused` that of the fused
kernels the GPU runs, and `--table-out` writes the table a GPU worker plans with (memory.GPU_TABLE_FILE).
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Callable

DEFAULT_LENGTHS = "64,128,256,384,512,768,1024,1536,2048,2560"
PRESETS = {"monomer": "monomer_ptm", "multimer": "multimer"}


def measure(config: str, kinds: list[str], lengths: list[int], kernels: str,
            time_left: Callable[[], float] = lambda: float("inf"), expected_s: float = 0.0) -> dict:
    """Working bytes by kind and padded length for kernel path `kernels` ('xla', or 'fused': this GPU's), as
    memory_model's JSON; a length that would not finish in `time_left()` (`expected_s` each) is left out."""
    import jax

    from alphafold_msa.model import kernels as kernel_paths
    from alphafold_msa.model.config import network_config
    from alphafold_msa.testing.memory_probe import measure_working_bytes

    device = kernel_paths.current_device()
    path = (kernel_paths.fused_path_for(device) or "xla") if kernels == "fused" else "xla"
    report: dict = {"benchmark": "memory_model", "config": config, "device": device.name,
                    "backend": jax.default_backend(), "kernels": path,
                    "machine": platform.processor() or platform.machine(), "kinds": {}}
    for kind in kinds:
        cfg = network_config(PRESETS[kind], config)
        cfg.model.global_config.update(kernel_paths.global_config_settings(path, device))
        rows, param_bytes = [], 0
        for length in lengths:
            if time_left() < expected_s:
                rows.append([length, None, f"skipped: {time_left():.0f} s left"])
                continue
            start = time.perf_counter()
            working, param_bytes = measure_working_bytes(cfg, length)
            rows.append([length, working, round(time.perf_counter() - start, 1)])
        report["kinds"][kind] = {"param_bytes_per_model": param_bytes,
                                 "columns": ["padded_length", "working_bytes", "seconds"], "lengths": rows}
    return report


def table(report: dict, versions: dict[str, str]) -> dict:
    """memory.GPU_TABLE_FILE's content from a measure() report on a GPU."""
    from alphafold_msa.model.memory import gpu_table_document

    kinds = report["kinds"]
    return gpu_table_document(report["config"], report["device"], report["kernels"],
                              {kind: [(length, size) for length, size, _ in data["lengths"] if size]
                               for kind, data in kinds.items()},
                              {kind: data["param_bytes_per_model"] for kind, data in kinds.items()}, versions,
                              report["backend"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="full", choices=("full", "reduced"))
    parser.add_argument("--lengths", default=DEFAULT_LENGTHS)
    parser.add_argument("--kinds", default="monomer", help="monomer, multimer or both (comma-separated)")
    parser.add_argument("--kernels", default="xla", choices=("xla", "fused"))
    parser.add_argument("--table-out", type=Path, help="write the table a GPU worker reads (memory.GPU_TABLE_FILE)")
    args = parser.parse_args()
    if args.table_out:
        import jax

        if jax.default_backend() != "gpu":
            sys.exit("memory_model: --table-out writes the table a GPU worker plans with; measure it on a GPU")
    report = measure(args.config, args.kinds.split(","), [int(x) for x in args.lengths.split(",")], args.kernels)
    if args.table_out:
        from alphafold_msa.model.kernel_check import package_versions

        args.table_out.write_text(json.dumps(table(report, package_versions()), indent=1) + "\n")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
