#!/usr/bin/env bash
# Build the image locally on a Debian 12 base and (with `run`) train the tiny pipeline inside it.
#
#   scripts/image.sh build        # the image, kerasbench:debian (make image)
#   scripts/image.sh run DIR [CMD]  # CMD (default: dvc repro) inside it, the checkout DIR at /work
#
# Where the published base (the pinned CUDA image) cannot be pulled, a Debian 12 base is made with
# debootstrap from Debian's mirror (about 30 s, 206 MB) and imported; the Dockerfile's BASE_IMAGE
# takes it. docker is used where its daemon answers, podman otherwise (podman 4.3 on Debian 12 needs
# runc and the cgroupfs manager on machines whose root lacks a systemd cgroup: ENGINE_OPTS).
# Behind a TLS-inspecting proxy the host's CA bundle (HOST_CA) is mounted into the build and named
# to pip (PIP_CERT); the proxy variables, when set, are passed on by the engine itself.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${IMAGE:-localhost/kerasbench:debian}
BASE=${BASE:-localhost/debian-base:bookworm}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
HOST_CA=${HOST_CA:-/etc/ssl/certs/ca-certificates.crt}

format=()
if docker info >/dev/null 2>&1; then
    engine=(docker)
elif command -v podman >/dev/null; then
    read -r -a opts <<< "${ENGINE_OPTS:---runtime runc --cgroup-manager=cgroupfs}"
    engine=(podman "${opts[@]}")
    format=(--format docker)   # podman's default OCI format drops the Dockerfile's SHELL (bash -o pipefail)
else
    echo "image.sh: neither a docker daemon nor podman (apt-get install podman runc debootstrap uidmap)" >&2
    exit 2
fi

base() {
    "${engine[@]}" image inspect "$BASE" >/dev/null 2>&1 && return
    command -v debootstrap >/dev/null || { echo "image.sh: $BASE is missing and debootstrap is not installed" >&2; exit 2; }
    root=$(mktemp -d)
    trap 'rm -rf "$root"' RETURN
    debootstrap --variant=minbase bookworm "$root" "$MIRROR" >/dev/null
    tar -C "$root" -c . | "${engine[@]}" import - "$BASE" >/dev/null
    echo "image.sh: made $BASE with debootstrap ($MIRROR)"
}

build() {
    base
    ca=()
    if [ -r "$HOST_CA" ]; then
        ca=(-v "$HOST_CA:/run/host-ca.crt:ro" --build-arg PIP_CERT=/run/host-ca.crt)
    fi
    started=$(date +%s)
    "${engine[@]}" build "${format[@]}" --network=host --build-arg BASE_IMAGE="$BASE" "${ca[@]}" -t "$IMAGE" .
    echo "image.sh: built $IMAGE in $(( $(date +%s) - started )) s"
}

# As the owner of the mounted checkout (never root: the image's user otherwise), without network.
run() {
    dir=$(cd "${1:?run needs the checkout to mount}" && pwd)
    shift
    owner=$(stat -c %u:%g "$dir")
    [ "${owner%%:*}" != 0 ] || owner=1000:1000
    "${engine[@]}" run --rm --network=none --user "$owner" -v "$dir":/work "$IMAGE" "$@"
}

case "${1:-}" in
    build) build ;;
    run) shift; run "$@" ;;
    *) echo "usage: scripts/image.sh build | run DIR [COMMAND ...]" >&2; exit 2 ;;
esac
