"""How long a sample takes on the GPU, from measured numbers: what `launch.py --check` estimates before a job.

The table is benchmarks/gpu_suite.py's warm time per model on an H200 with the fused kernels (docs/benchmarks.md,
benchmarks/results/h200-2026-12-04/model_speed.json: the full network, 3 recycles, a 6,000-row alignment), the
H100's within 3%. Between the lengths measured the time is interpolated on a log-log scale and beyond them
extrapolated with the nearest segment's exponent; each recycle is one more pass of the network. Standard library
only: the light client imports it.
"""

from __future__ import annotations

import math

# (residues, seconds per model with 3 recycles), warm, fused kernels.
MEASURED = ((100, 0.36), (300, 1.2), (1000, 7.37))
MEASURED_RECYCLES = 3
# A new worker's start before its first sample: the container, the weights loaded, the network from the compilation
# cache (the H200's first job took 15.5 s with its compilation, docs/benchmarks.md; a cold container adds its own).
WORKER_START_S = 30.0
# A new length bucket's first model: compiling the network (measured 12.5-18.8 s on the H200; the persistent
# compilation cache makes it once per endpoint and bucket).
COMPILE_S = 20.0


def seconds_per_sample(length: int, num_recycle: int = MEASURED_RECYCLES) -> float:
    """A warm model's seconds for a query of `length` residues with `num_recycle` recycles."""
    points = [(math.log(n), math.log(s)) for n, s in MEASURED]
    x = math.log(max(length, 1))
    (x0, y0), (x1, y1) = next(((a, b) for a, b in zip(points, points[1:]) if x <= b[0]), (points[-2], points[-1]))
    seconds = math.exp(y0 + (y1 - y0) * (x - x0) / (x1 - x0))
    return seconds * (num_recycle + 1) / (MEASURED_RECYCLES + 1)


def estimate_seconds(length: int, samples: int, num_recycle: int = MEASURED_RECYCLES) -> float:
    """A job's GPU seconds: its samples at the warm speed, and one compilation."""
    return COMPILE_S + samples * seconds_per_sample(length, num_recycle)
