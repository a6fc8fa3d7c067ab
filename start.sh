#!/usr/bin/env bash
# Container entry: make sure complete AlphaFold weights are on the volume, then start the worker.
# Arguments replace the final command: `start.sh true` provisions and exits.
set -euo pipefail

log() { printf '%s start.sh: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }

if [[ -z "${PARAM_DIR:-}" ]]; then
  if [[ -d /runpod-volume ]]; then PARAM_DIR=/runpod-volume; else PARAM_DIR=/data/; fi
fi
export PARAM_DIR
# Compiled XLA programs persist on the volume, so a cold worker reuses what an earlier one compiled.
export JAX_COMPILATION_CACHE_DIR="${JAX_COMPILATION_CACHE_DIR:-${PARAM_DIR%/}/jax-cache}"
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python}"

log "provisioning weights in ${PARAM_DIR%/}/params"
"$PYTHON" -m alphafold_msa.model.provision
log "weights ready; compilation cache in $JAX_COMPILATION_CACHE_DIR"

if [[ $# -gt 0 ]]; then
  log "running: $*"
  exec "$@"
fi
log "starting the worker"
exec "$PYTHON" -u handler.py
