# GPU worker: CUDA-enabled jax plus this package's worker extra, at the versions in
# requirements/constraints.txt. The weights are NOT in the image: start.sh provisions them on the
# network volume ($PARAM_DIR, /runpod-volume on RunPod) on the first start.
#
# One CUDA stack: the CUDA libraries come as pip wheels (jax[cuda12] brings cuDNN, cuBLAS, cuFFT,
# cuSPARSE, NCCL, ptxas...; OpenMM's CUDA platform the runtime, NVRTC and cuFFT of the same
# release), so the base is plain Debian rather than a CUDA image that would ship them twice. The
# host's NVIDIA container runtime mounts the driver (libcuda) as for any GPU container.
#
# `bash benchmarks/image_build.sh` builds this file on a debootstrap-made base of the same Debian
# release and runs start.sh, handler.py and launch.py against the image (docs/benchmarks.md).
FROM debian:trixie-slim

SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# The CUDA wheels, both sets pinned in requirements/constraints.txt: cuda12 (CUDA 12.9, for drivers
# of CUDA 12.9 or newer: the widest choice of hosts) or cuda13 (CUDA 13.0, for drivers of CUDA 13.0
# or newer). `--build-arg JAX_CUDA=cuda13` selects the second.
ARG JAX_CUDA=cuda12
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

# Debian's python3 (3.13 in trixie) is fixed by the base image tag; its point releases are security
# updates. ca-certificates: the RunPod SDK's aiohttp client verifies TLS against the system store.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/venv

WORKDIR /app
# The dependencies first, from pyproject.toml and the constraints alone, so that a change to the code
# rebuilds only the small layers after this one. Every version is pinned by the constraints file (the
# same one CI installs with, CUDA wheels included); jax's CUDA plugin is pinned to the tested jax
# release, OpenMM's CUDA platform (Amber relaxation on the GPU) to the tested OpenMM, and setuptools
# builds the package below without the network. tests/test_dockerfile.py resolves this step for
# Python 3.13 on manylinux_2_41 (Debian trixie), for both values of JAX_CUDA.
# Behind a TLS-intercepting proxy, pass its CA bundle as a build secret (`--secret id=pip-ca,src=FILE`):
# pip trusts it during this step only, and no layer keeps it.
COPY pyproject.toml ./
COPY requirements/constraints.txt requirements/constraints.txt
# hadolint ignore=DL3013
RUN --mount=type=secret,id=pip-ca \
    if [ -s /run/secrets/pip-ca ]; then export PIP_CERT=/run/secrets/pip-ca; fi \
    && python -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; print(*p["dependencies"], *p["optional-dependencies"]["worker"], sep="\n")' > /tmp/worker-requirements.txt \
    && pip install -c requirements/constraints.txt -r /tmp/worker-requirements.txt "jax[${JAX_CUDA}]==0.10.2" "openmm[${JAX_CUDA}]==8.6.1" setuptools \
    && rm /tmp/worker-requirements.txt

COPY README.md handler.py launch.py start.sh test_input.json ./
COPY alphafold_msa ./alphafold_msa
RUN pip install --no-deps --no-build-isolation . && rm -rf build alphafold_msa.egg-info

CMD ["/app/start.sh"]
