#!/usr/bin/env bash
# Wheels the GPU benchmark machine lacks, for its Python 3.12 on x86-64 Linux, into .whl/ (git-ignored):
#
#     bash benchmarks/gpu_wheels.sh [DIR]        (default: .whl)
#
# That machine has no network; it already holds jax 0.11.2 with CUDA 13, numpy, scipy, pandas,
# chex, absl-py, tabulate, matplotlib and requests. This brings the network (alphafold-colabfold),
# its fused kernels (colabfold-kernels with its CUDA and legacy kernel packages), their pure
# dependencies, jsonschema for the job schema and OpenMM with its CUDA 13 platform for relaxation,
# ColabFold 1.6.3's own packages into DIR/peer (the side-by-side), then checks that the set stays under the
# 64 MiB that may travel with the working tree.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-.whl}"
limit_mib=56   # of the 64 MiB that travel; the rest is the working tree itself
mkdir -p "$dir"
platforms=()
for tag in manylinux_2_34_x86_64 manylinux_2_31_x86_64 manylinux_2_28_x86_64 manylinux_2_27_x86_64 \
           manylinux_2_24_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
    platforms+=(--platform "$tag")
done
pinned() { grep -i -E "^$1==" requirements/constraints.txt | head -1; }
packages=(alphafold-colabfold colabfold-kernels colabfold-cuda-kernels colabfold-legacy-kernels dm-haiku dm-tree
          ml_collections immutabledict jmp biopython jsonschema jsonschema-specifications referencing rpds-py
          OpenMM)
for name in "${packages[@]}"; do
    spec="$(pinned "$name")"
    [ -n "$spec" ] || { echo "gpu_wheels: $name is not pinned in requirements/constraints.txt" >&2; exit 2; }
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        "${platforms[@]}" -d "$dir" "$spec"
done
# pdbfixer is published as a source distribution only; its wheel is pure Python, so it is built here.
python3 -m pip wheel -q --no-deps -w "$dir" "$(pinned pdbfixer)"
openmm_version="$(pinned OpenMM | cut -d= -f3)"
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    "${platforms[@]}" -d "$dir" "openmm-cuda-13==$openmm_version"
# ColabFold 1.6.3 for the side-by-side (benchmarks/gpu_vs_colabfold.py), into DIR/peer: it pins its own network
# (alphafold-colabfold 2.3.20) and biopython, so they travel apart and go first on its PYTHONPATH only.
peer=(colabfold==1.6.3 alphafold-colabfold==2.3.20 biopython==1.85 appdirs==1.4.4 orjson==3.13.0 py3Dmol==2.5.5
      importlib-metadata==8.7.0)
for spec in "${peer[@]}"; do
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        "${platforms[@]}" -d "$dir/peer" "$spec"
done
total_kib=$(du -sk "$dir" | cut -f1)
echo "gpu_wheels: $(find "$dir" -name "*.whl" | wc -l) wheels, $((total_kib / 1024)) MiB in $dir"
if [ "$total_kib" -gt $((limit_mib * 1024)) ]; then
    echo "gpu_wheels: over the ${limit_mib} MiB allowed for wheels" >&2
    exit 1
fi
