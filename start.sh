#!/usr/bin/env bash
# Container entry: check that the AlphaFold weights are on the volume, then start the worker.
# Arguments replace the final command: `start.sh true` only checks and exits.
set -euo pipefail

log() { printf '%s start.sh: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }

if [[ -z "${PARAM_DIR:-}" ]]; then
  if [[ -d /runpod-volume ]]; then PARAM_DIR=/runpod-volume; else PARAM_DIR=/data/; fi
fi
export PARAM_DIR
cd "$(dirname "$0")"

log "checking AlphaFold weights in ${PARAM_DIR%/}/params"
python -c 'import sys; from alphafold_msa.weights import check_present; from alphafold_msa.errors import UserError
try:
    check_present(sys.argv[1], [f"model_{n}_ptm" for n in range(1, 6)])
except UserError as error:
    sys.exit(f"start.sh: {error}")' "$PARAM_DIR"
log "weights present"

if [[ $# -gt 0 ]]; then exec "$@"; fi
exec python -u handler.py
