#!/usr/bin/env bash
# The worker image built and run on this machine, without Docker:
#
#     bash benchmarks/image_build.sh [--ca-bundle FILE] [--cuda cuda12|cuda13] [--storage-driver overlay|vfs]
#
# 1. The base: the Debian release that the Dockerfile's FROM names, made with debootstrap
#    --variant=minbase (cached), stored in buildah as that very image so that FROM resolves here
#    without a registry.
# 2. buildah builds the Dockerfile (chroot isolation, layers cached between runs).
# 3. In the image, on the CPU: start.sh provisions generated reduced-size weights from an HTTP server
#    on 127.0.0.1, `python handler.py` runs test_input.json, then `python handler.py --rp_serve_api`
#    serves the RunPod API on 127.0.0.1 while launch.py, from this checkout's .venv, predicts through it.
# 4. One JSON line on stdout: build time, image and layer sizes, the image's Python, provisioning
#    time, the handler's result and the round trip's. Progress goes to stderr.
#
# --ca-bundle FILE: the CA bundle pip needs to reach the package index (behind a TLS-intercepting
# proxy), handed to the build as a secret that no layer keeps; default: $PIP_CERT when set.
# --cuda: the Dockerfile's JAX_CUDA build argument (default cuda12).
# --storage-driver: buildah's storage. overlay (default) keeps each layer's changes only (6.4 GB
# after a run); vfs, for where the kernel's overlayfs cannot be mounted, copies the whole tree for
# every layer and every build step after the 6.4 GB dependency layer: about 40 GB at the peak.
#
# Not part of CI: about ten minutes on a first run. Needs root, buildah and debootstrap (apt-get
# install buildah debootstrap). The base and buildah's storage stay under
# ~/.cache/alphafold-msa/image-build; run this after any change to the Dockerfile,
# requirements/constraints.txt or start.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

ca_bundle="${PIP_CERT:-}"
cuda=cuda12
driver=overlay
while [[ $# -gt 0 ]]; do
    case "$1" in
        --ca-bundle) ca_bundle="$2"; shift 2 ;;
        --cuda) cuda="$2"; shift 2 ;;
        --storage-driver) driver="$2"; shift 2 ;;
        *) echo "usage: bash benchmarks/image_build.sh [--ca-bundle FILE] [--cuda cuda12|cuda13]" \
                "[--storage-driver overlay|vfs]" >&2; exit 2 ;;
    esac
done
[[ -z "$ca_bundle" || -s "$ca_bundle" ]] || { echo "image_build: no CA bundle at $ca_bundle" >&2; exit 2; }

base="$(sed -n 's/^FROM //p' Dockerfile)"                # debian:trixie-slim
release="${base#debian:}"
release="${release%-slim}"                                # trixie
cache="${XDG_CACHE_HOME:-$HOME/.cache}/alphafold-msa/image-build"
image="localhost/alphafold-msa:$cuda"
python="$PWD/.venv/bin/python"
work="$(mktemp -d /var/tmp/alphafold-msa-image.XXXXXX)"
container=""
pids=()  # the servers started below, each its own process group (job control), stopped on exit
set -m

log() { printf '%s image_build: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
bh() { buildah --root "$cache/storage-$driver" --runroot "$cache/run-$driver" --storage-driver "$driver" "$@"; }
seconds_since() { "$python" -c "import sys, time; print(round(time.time() - float(sys.argv[1]), 1))" "$1"; }
free_port() { "$python" -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"; }
wait_for_port() {  # port, pid of the process that should open it, log to show if it dies first
    for _ in $(seq 600); do
        if "$python" -c "import socket, sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 1).close()" \
            "$1" 2>/dev/null; then return 0; fi
        kill -0 "$2" 2>/dev/null || { tail -n 40 "$3" >&2; return 1; }
        sleep 0.5
    done
    return 1
}
cleanup() {
    for pid in "${pids[@]}"; do kill -- "-$pid" 2>/dev/null || true; done
    if [[ -n "$container" ]]; then bh rm "$container" >/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# 1. The base image, from the release's packages alone.
if ! bh inspect --type image "docker.io/library/$base" >/dev/null 2>&1; then
    rootfs_tar="$cache/debian-$release-minbase.tar"
    if [[ ! -s "$rootfs_tar" ]]; then
        log "debootstrap --variant=minbase $release"
        mkdir -p "$cache"
        debootstrap --variant=minbase "$release" "$work/rootfs" http://deb.debian.org/debian >&2
        # The official image's sources: the release, its updates and its security updates.
        rm -f "$work/rootfs/etc/apt/sources.list"
        cat > "$work/rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: http://deb.debian.org/debian
Suites: $release $release-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: $release-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
        # Its updates too, as the official image has them; no lists, caches or this machine's names.
        chroot "$work/rootfs" bash -c "apt-get update && apt-get -y upgrade && apt-get clean" >&2
        rm -rf "$work/rootfs/var/lib/apt/lists/"* "$work/rootfs/etc/resolv.conf" "$work/rootfs/etc/hostname"
        tar -C "$work/rootfs" -cf "$rootfs_tar.partial" .
        mv "$rootfs_tar.partial" "$rootfs_tar"
        rm -rf "$work/rootfs"
    fi
    log "storing the base as docker.io/library/$base"
    scratch="$(bh from scratch)"
    bh add "$scratch" "$rootfs_tar" / >/dev/null
    bh config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd bash \
        --created-by "debootstrap --variant=minbase $release" "$scratch"
    bh commit --rm "$scratch" "docker.io/library/$base" >/dev/null
fi

# 2. The image.
# Docker's image format, as a registry build makes: the OCI format would ignore SHELL.
build=(--format docker --isolation chroot --network host --layers --pull=never
       --build-arg "JAX_CUDA=$cuda" -t "$image" -f Dockerfile)
if [[ -n "$ca_bundle" ]]; then build+=(--secret "id=pip-ca,src=$ca_bundle"); fi
log "building $image"
started="$(date +%s.%N)"
bh build "${build[@]}" . >&2
build_s="$(seconds_since "$started")"
bh rmi --prune >/dev/null  # the images an earlier build left untagged, several GB each
bh inspect --type image "$image" > "$work/image.json"

# 3. The image at work, on the CPU, with weights generated here and served from 127.0.0.1.
log "generating reduced-size weights (model_1_ptm)"
mkdir -p "$work/www" "$work/volume"
"$python" -m alphafold_msa.testing.make_weights --config reduced --preset monomer_ptm --models 1 \
    --tar "$work/www/params.tar" "$work/generated" >&2
weights_port="$(free_port)"
"$python" -m http.server --bind 127.0.0.1 --directory "$work/www" "$weights_port" \
    > "$work/weights_server.log" 2>&1 &
pids+=($!)
wait_for_port "$weights_port" "${pids[-1]}" "$work/weights_server.log"

container="$(bh from --pull=never "$image")"
in_image() {  # buildah run in the image with the worker's CPU settings and the volume mounted
    bh run --isolation chroot --network host -v "$work/volume:/runpod-volume" \
        -e PARAMS_URL="http://127.0.0.1:$weights_port/params.tar" \
        -e PARAMS_SHA256="$(sha256sum "$work/www/params.tar" | cut -d' ' -f1)" \
        -e ALPHAFOLD_MODELS=model_1_ptm -e JAX_PLATFORMS=cpu -e ALPHAFOLD_MSA_MODEL_CONFIG=reduced \
        "$container" -- "$@"
}
image_python="$(in_image python -c 'import platform; print(platform.python_version())')"
# What pip installed (not the package itself, nor the venv's own pip, which Debian's python3-venv brings).
in_image pip list --format=freeze --exclude alphafold-msa --exclude pip > "$work/installed.txt"

log "start.sh: provisioning from 127.0.0.1:$weights_port"
started="$(date +%s.%N)"
in_image /app/start.sh true 2> "$work/provision.log" || { cat "$work/provision.log" >&2; exit 1; }
provision_s="$(seconds_since "$started")"

log "handler.py on test_input.json"
started="$(date +%s.%N)"
in_image /app/start.sh python -u handler.py > "$work/handler.log" 2>&1 \
    || { tail -n 60 "$work/handler.log" >&2; exit 1; }
handler_s="$(seconds_since "$started")"

api_port="$(free_port)"
log "handler.py --rp_serve_api on 127.0.0.1:$api_port; launch.py predicts through it"
in_image /app/start.sh python -u handler.py --rp_serve_api --rp_api_host 127.0.0.1 --rp_api_port "$api_port" \
    > "$work/server.log" 2>&1 &
pids+=($!)
wait_for_port "$api_port" "${pids[-1]}" "$work/server.log"
started="$(date +%s.%N)"
"$python" launch.py --api-url "http://127.0.0.1:$api_port" --msa examples/globins4.sto \
    --output "$work/globins4.pdb" --models 1 --num-recycle 1 --poll-interval 0.5 > "$work/launch.log" 2>&1 \
    || { tail -n 40 "$work/launch.log" "$work/server.log" >&2; exit 1; }
round_trip_s="$(seconds_since "$started")"

# 4. The JSON line.
"$python" - "$work" "$cuda" "$driver" "$base" "$image_python" \
    "$build_s" "$provision_s" "$handler_s" "$round_trip_s" <<'EOF'
import json, os, re, sys
from pathlib import Path

work, cuda, driver, base, image_python, build_s, provision_s, handler_s, round_trip_s = sys.argv[1:]
work = Path(work)
image = json.loads((work / "image.json").read_text())
manifest = json.loads(image["Manifest"])
steps = [h.get("created_by", "") for h in image["History"] if not h.get("empty_layer")]
# The instruction that made each layer, without the shell and build-argument prefixes buildah records.
layers = [{"step": re.sub(r"^(\|\d+ \S+ )?(/bin/sh -c )?(#\(nop\) )?", "", re.sub(r"\s+", " ", step))[:100],
           "bytes": layer["size"]} for step, layer in zip(steps, manifest["layers"])]
size = sum(layer["bytes"] for layer in layers)
handler_log = (work / "handler.log").read_text()
plddt = re.findall(r"'mean_plddt': ([0-9.]+)", handler_log)
scores = json.loads((work / "globins4.scores.json").read_text())
# Every package in the image at the version requirements/constraints.txt pins.
def pins(text):  # {normalised name: version} of the name==version lines
    lines = (line.split("==") for line in text.splitlines() if "==" in line)
    return {re.sub(r"[-_.]+", "-", name).lower(): version for name, version in lines}
pinned = pins(Path("requirements/constraints.txt").read_text())
installed = pins((work / "installed.txt").read_text())
unpinned = sorted(f"{n}=={v}" for n, v in installed.items() if pinned.get(n) != v)
print(json.dumps({
    "machine": f"{os.cpu_count()}-core CPU", "jax_platforms": "cpu",
    "image": {"cuda": cuda, "base": f"{base} (debootstrap --variant=minbase)", "python": image_python,
              "bytes": size, "gb": round(size / 1e9, 2), "layers": layers,
              "packages": len(installed), "unpinned": unpinned},
    "build_s": float(build_s), "storage_driver": driver,
    "provision_s": float(provision_s),
    "handler": {"ok": "completed successfully" in handler_log and bool(plddt), "seconds": float(handler_s),
                "mean_plddt": float(plddt[0]) if plddt else None},
    "round_trip": {"ok": scores.get("mean_plddt") is not None, "seconds": float(round_trip_s),
                   "mean_plddt": scores.get("mean_plddt"), "query_length": scores.get("msa", {}).get("query_length")},
}))
sys.exit(1 if unpinned else 0)
EOF
