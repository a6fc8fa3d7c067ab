"""Device memory a prediction needs, and the check that refuses a job that cannot fit.

The estimate is read from a table of XLA's buffer assignment for the network at each padded
length (working memory of one recycle with the config's largest MSA crops, so it is an upper
bound for shallower alignments) plus the parameters of every model kept on the device.
`benchmarks/memory_model.py` measures the tables (one entry: `testing.memory_probe`): the CPU compiler's
below, and the GPU compiler's with the fused kernels in `gpu_memory.json` beside this module, which a
GPU worker (and `launch.py --check`, for an endpoint's GPUs) reads when it is there, with an AlphaFold-Multimer
table of its own.
Importing this module does not import jax, so the launcher can estimate without it.
"""

from __future__ import annotations

import bisect
import dataclasses
import json
import os
from pathlib import Path

from alphafold_msa import settings
from alphafold_msa.errors import ConfigError, ResourceError
from alphafold_msa.model.config import bucket_length

# Allowance for allocator fragmentation and buffers outside the compiled function.
HEADROOM = 1.10
GB = 1e9

# Padded length -> working bytes (benchmarks/memory_model.py, bfloat16 network), measured with XLA's CPU
# compiler. On an H100 the fused kernels' peak was below it (7.0 GB against 10.6 GB at 1,000 residues) and
# plain XLA's within its headroom (docs/benchmarks.md).
TABLE_SOURCE = "XLA's CPU compiler"
WORKING_BYTES: dict[str, tuple[tuple[int, int], ...]] = {
    "full": (
        (64, 785_685_370), (128, 1_221_559_738), (256, 2_158_415_234), (384, 3_159_936_770),
        (512, 4_243_419_266), (768, 6_586_907_522), (1024, 9_308_864_642), (1536, 15_872_028_226),
        (2048, 24_453_676_674), (2560, 37_418_501_762),
    ),
    "reduced": (
        (64, 61_491_578), (128, 189_918_138), (256, 454_275_834), (512, 1_413_140_858), (1024, 5_584_935_802),
        (2048, 22_263_983_994), (2560, 34_754_042_234),
    ),
}
PARAM_BYTES_PER_MODEL = {"full": 371_518_072, "reduced": 26_391_160}
# The GPU compiler's tables, as benchmarks/memory_model.py --table-out writes them.
GPU_TABLE_FILE = Path(__file__).with_name("gpu_memory.json")


@dataclasses.dataclass(frozen=True)
class MemoryTable:
    """Working bytes by model config (padded length -> bytes, ascending), parameter bytes of one model by model
    config, and where the figures come from."""

    working: dict[str, tuple[tuple[int, int], ...]]
    param_bytes: dict[str, int]
    source: str


CPU_TABLE = MemoryTable(WORKING_BYTES, PARAM_BYTES_PER_MODEL, TABLE_SOURCE)


def table_for(platform: str, model_config: str, kind: str = "monomer", kernels: str | None = None,
              gpu_file: Path = GPU_TABLE_FILE) -> MemoryTable:
    """The table to plan `model_config`'s `kind` of network ('monomer', 'multimer') with on `platform` ('cpu',
    'gpu') running kernel path `kernels` (None: whichever the GPU table was measured with): the GPU compiler's
    from `gpu_file` on a GPU when it holds them for that path, else the CPU compiler's. A GPU table that cannot be
    read is a ConfigError naming the file."""
    if platform != "gpu" or not gpu_file.is_file():
        return CPU_TABLE
    try:
        data = json.loads(gpu_file.read_text())
        if kernels is not None and data["kernels"] != kernels:
            return CPU_TABLE
        entries = data["working_bytes"].get(model_config, {}).get(kind)
        if not entries:
            return CPU_TABLE
        return MemoryTable({model_config: tuple((int(length), int(size)) for length, size in entries)},
                           {model_config: int(data["param_bytes_per_model"][model_config][kind])},
                           f"{data['source']} ({kind} network)")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise ConfigError(f"the GPU memory table {gpu_file} cannot be read ({type(error).__name__}: {error}); "
                          f"measure it again with benchmarks/memory_model.py --table-out") from None


def gpu_table_document(model_config: str, device: str, kernels: str, working: dict[str, list[tuple[int, int]]],
                       param_bytes: dict[str, int], versions: dict[str, str], backend: str = "gpu") -> dict:
    """GPU_TABLE_FILE's content: for `model_config` and each kind of network, (padded length, working bytes) as
    measured by XLA's `backend` compiler on `device` with kernel path `kernels`, and one model's parameter bytes;
    `versions` of the packages measured."""
    return {"source": f"XLA's {backend.upper()} compiler on {device} ({kernels} kernels)", "kernels": kernels,
            "device": device, "versions": versions,
            "working_bytes": {model_config: {kind: [[int(length), int(size)] for length, size in sorted(rows)]
                                             for kind, rows in working.items()}},
            "param_bytes_per_model": {model_config: {kind: int(size) for kind, size in param_bytes.items()}}}


def working_bytes(padded_length: int, model_config: str, table: MemoryTable = CPU_TABLE) -> int:
    """Working memory of one recycle at `padded_length`: interpolated in the table, quadratic beyond it."""
    entries = table.working[model_config]
    lengths = [length for length, _ in entries]
    index = bisect.bisect_left(lengths, padded_length)
    if index < len(entries) and lengths[index] == padded_length:
        return entries[index][1]
    if index == 0:
        return entries[0][1]
    if index == len(entries):
        top_length, top_bytes = entries[-1]
        return int(top_bytes * (padded_length / top_length) ** 2)
    (low, low_bytes), (high, high_bytes) = entries[index - 1], entries[index]
    return int(low_bytes + (high_bytes - low_bytes) * (padded_length - low) / (high - low))


def estimate_peak_bytes(length: int, model_config: str = "full", num_models: int = 5,
                        table: MemoryTable = CPU_TABLE) -> int:
    """Peak device bytes to predict a `length`-residue query with `num_models` models kept loaded."""
    return int(HEADROOM * working_bytes(bucket_length(length), model_config, table)
               + num_models * table.param_bytes[model_config])


def longest_fitting_length(available_bytes: int, model_config: str = "full", num_models: int = 5,
                           table: MemoryTable = CPU_TABLE) -> int:
    """The longest query whose estimate fits in `available_bytes` (0 if none does)."""
    low, high = 0, 20_000
    while low < high:
        middle = (low + high + 1) // 2
        if estimate_peak_bytes(middle, model_config, num_models, table) <= available_bytes:
            low = middle
        else:
            high = middle - 1
    return low


def samples_fitting(length: int, model_config: str, num_models: int, available_bytes: int, most: int,
                    table: MemoryTable = CPU_TABLE, feature_bytes: int = 0) -> int:
    """How many samples (at most `most`, at least 1) of a `length`-residue query one network call can hold in
    `available_bytes` with `num_models` models loaded: each sample has its own working memory and its own
    `feature_bytes` on the device, the parameters are shared."""
    working = HEADROOM * working_bytes(bucket_length(length), model_config, table) + feature_bytes
    room = available_bytes - num_models * table.param_bytes[model_config]
    return max(1, min(most, int(room // working)))


def device_memory() -> tuple[int, str]:
    """(bytes the computation may use, what they belong to) on this process's first jax device.

    $ALPHAFOLD_MSA_DEVICE_MEMORY_GB overrides, up to what the device has (more is a ConfigError);
    otherwise the accelerator allocator's limit, or the machine's physical memory when running on CPU.
    """
    import jax

    device = jax.devices()[0]
    stats = device.memory_stats() or {}
    if "bytes_limit" in stats:
        available, where = int(stats["bytes_limit"]), f"this worker's {device.device_kind}"
    else:
        available, where = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), "this machine's memory (CPU)"
    override = settings.device_memory_gb()
    if override is None:
        return available, where
    if override * GB > available:
        raise ConfigError(f"{settings.DEVICE_MEMORY_GB.name} is {override:g} GB, more than the "
                          f"{available / GB:.2f} GB of {where}")
    return int(override * GB), f"{settings.DEVICE_MEMORY_GB.name}={settings.text(settings.DEVICE_MEMORY_GB)}"


def check_fits(length: int, model_config: str, num_models: int, available_bytes: int, where: str,
               table: MemoryTable = CPU_TABLE) -> None:
    """Raise ResourceError, naming the estimate and the longest query that fits, if a job cannot fit."""
    needed = estimate_peak_bytes(length, model_config, num_models, table)
    if needed <= available_bytes:
        return
    longest = longest_fitting_length(available_bytes, model_config, num_models, table)
    raise ResourceError(
        f"a {length}-residue query needs about {needed / GB:.2f} GB of device memory (estimated from "
        f"{table.source}'s buffer assignment) with {num_models} "
        f"model(s) loaded, more than the {available_bytes / GB:.2f} GB of {where}; the longest query that "
        f"fits is about {longest} residues (fewer models, or a card with more memory, raise it)")
