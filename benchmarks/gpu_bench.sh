#!/usr/bin/env bash
# The GPU benchmark, one command on a GPU machine without network, writing JSON files into OUT:
#
#     bash benchmarks/gpu_wheels.sh                      # here, with network: the wheels that machine lacks
#     bash benchmarks/gpu_bench.sh [--budget-s 450] [--steps ...]   # there, with .whl/ carried beside the checkout
#     bash benchmarks/gpu_bench.sh --cpu                 # anywhere: the same steps, reduced network, small lengths
#
# Installs the carried wheels (if any) into a private folder, and ColabFold 1.6.3's (.whl/peer) into another,
# checks a GPU is visible, then runs benchmarks/gpu_suite.py: its steps in order of importance (the kernel
# self-check with the module-level cases, ColabFold beside us on the same card, batched samples, a warm job's
# overhead, the GPU memory table, seconds per model, multimer, cold start, relaxation), each skipped with the
# reason when the budget left would not finish it. Elsewhere PEER_PYTHON names an interpreter with ColabFold.
# Each file is written as soon as it exists, so a run cut short still returns what it measured. OUT defaults
# to $OUT, else ./gpu-bench.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-gpu-bench}"
python="${PYTHON:-python3}"
# The carried wheels are built for Python 3.12 (the GPU machine's); other interpreters use their own packages.
if ls .whl/*.whl >/dev/null 2>&1 && "$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))'; then
    site="${TMPDIR:-/tmp}/alphafold-msa-site"
    "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" .whl/*.whl
    export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
peer_args=()
if ls .whl/peer/*.whl >/dev/null 2>&1 && [[ " $* " != *" --cpu "* ]]; then
    peer_site="${TMPDIR:-/tmp}/colabfold-peer-site"
    "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$peer_site" \
        .whl/peer/*.whl
    peer_args=(--peer-python "$python" --peer-site "$peer_site")
elif [ -n "${PEER_PYTHON:-}" ]; then
    peer_args=(--peer-python "$PEER_PYTHON")
fi
if [[ " $* " != *" --cpu "* ]]; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
fi
exec "$python" benchmarks/gpu_suite.py --out "$out" ${peer_args[@]+"${peer_args[@]}"} "$@"
