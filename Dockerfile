# GPU worker: CUDA-enabled jax plus this package's worker extra, at the versions in
# requirements/constraints.txt. The weights are NOT in the image: start.sh provisions them on the
# network volume ($PARAM_DIR, /runpod-volume on RunPod) on the first start.
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# The worker is the only process on its GPU: let jax use 95% of the card (default 75%).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    XLA_PYTHON_CLIENT_MEM_FRACTION=0.95

# Ubuntu's python3 (3.12) is fixed by the base image tag; its point releases are security updates.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/venv

WORKDIR /app
COPY pyproject.toml README.md ./
COPY requirements/constraints.txt requirements/constraints.txt
COPY alphafold_msa ./alphafold_msa
# Every version is pinned by the constraints file (the same one CI installs with); jax's CUDA
# plugin is pinned to the tested jax release, and OpenMM's CUDA platform (Amber relaxation on the
# GPU) to the tested OpenMM.
# hadolint ignore=DL3013
RUN pip install -c requirements/constraints.txt ".[worker]" "jax[cuda12]==0.10.2" "openmm[cuda12]==8.6.1"
COPY handler.py launch.py start.sh test_input.json ./

CMD ["/app/start.sh"]
