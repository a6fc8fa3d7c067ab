# GPU worker: CUDA-enabled jax plus this package's worker extra, at the versions in
# requirements/constraints.txt. The weights are NOT in the image: start.sh provisions them on the
# network volume ($PARAM_DIR, /runpod-volume on RunPod) on the first start.
#
# One CUDA stack: the CUDA libraries come as pip wheels (jax[cuda12] brings cuDNN, cuBLAS, cuFFT,
# cuSPARSE, NCCL, ptxas...; OpenMM's CUDA platform the runtime, NVRTC and cuFFT of the same
# release), so the base is plain Ubuntu rather than a CUDA image that would ship them twice. The
# host's NVIDIA container runtime mounts the driver (libcuda) as for any GPU container.
FROM ubuntu:24.04

SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# The worker is the only process on its GPU: let jax use 95% of the card (default 75%), and fail
# rather than fall back to the CPU when it cannot reach the GPU.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    JAX_PLATFORMS=cuda \
    XLA_PYTHON_CLIENT_MEM_FRACTION=0.95

# Ubuntu's python3 (3.12) is fixed by the base image tag; its point releases are security updates.
# ca-certificates: the RunPod SDK's aiohttp client verifies TLS against the system store.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/venv

WORKDIR /app
COPY pyproject.toml README.md ./
COPY requirements/constraints.txt requirements/constraints.txt
COPY alphafold_msa ./alphafold_msa
# Every version is pinned by the constraints file (the same one CI installs with, CUDA wheels
# included); jax's CUDA plugin is pinned to the tested jax release, and OpenMM's CUDA platform
# (Amber relaxation on the GPU) to the tested OpenMM. tests/test_dockerfile.py resolves this line
# for Python 3.12 on manylinux_2_39 (Ubuntu 24.04).
# hadolint ignore=DL3013
RUN pip install -c requirements/constraints.txt ".[worker]" "jax[cuda12]==0.10.2" "openmm[cuda12]==8.6.1"
COPY handler.py launch.py start.sh test_input.json ./

CMD ["/app/start.sh"]
