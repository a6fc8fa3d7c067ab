# GPU worker image: CUDA-enabled jax + this package's worker extra. Weights are NOT baked in:
# start.sh finds them on the network volume ($PARAM_DIR, /runpod-volume on RunPod).
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 VIRTUAL_ENV=/opt/venv
ENV PATH=/opt/venv/bin:$PATH

RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/venv

WORKDIR /app
COPY pyproject.toml README.md ./
COPY alphafold_msa ./alphafold_msa
RUN pip install ".[worker]" "jax[cuda12]==0.10.2"
COPY handler.py launch.py start.sh ./

CMD ["/app/start.sh"]
