#!/usr/bin/env bash
# GPU benchmarks on a machine with an NVIDIA GPU, from a fresh clone:
#
#     bash benchmarks/gpu_bench.sh [OUT_DIR]      (default: $OUT, else ./gpu-bench)
#
# Installs the worker with CUDA jax into .venv-gpu, then writes one JSON file per benchmark:
# model_speed (seconds per model at 100/300/500/1000 residues, full-size network, 3 recycles,
# next to the published A100/H100 figures), memory_model (the GPU compiler's buffer assignment,
# to compare with the CPU table in alphafold_msa/memory.py), worker_throughput (--full) and the
# ColabFold side-by-side (first job; needs ColabFold's own virtualenv, installed on first use).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-${OUT:-gpu-bench}}"
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$out/gpu.csv"

if [ ! -x .venv-gpu/bin/python ]; then
    python3 -m venv .venv-gpu
    .venv-gpu/bin/pip install -q -c requirements/constraints.txt -e '.[worker]' "jax[cuda12]==0.10.2"
fi
py=.venv-gpu/bin/python
"$py" -c "import jax; assert jax.devices()[0].platform == 'gpu', jax.devices()"

"$py" benchmarks/model_speed.py --lengths "${LENGTHS:-100,300,500,1000}" > "$out/model_speed.json"
"$py" benchmarks/memory_model.py --lengths 256,512,1024,2048 > "$out/memory_model.json"
"$py" benchmarks/worker_throughput.py --full > "$out/worker_throughput_full.json"
if [ ! -x .venv-colabfold/bin/colabfold_batch ]; then
    python3 -m venv .venv-colabfold
    .venv-colabfold/bin/pip install -q "colabfold[alphafold]" "jax[cuda12]==0.10.2"
fi
"$py" benchmarks/vs_colabfold.py --venv .venv-colabfold --first-only --num-recycle 3 > "$out/vs_colabfold.json"
cat "$out"/*.json
