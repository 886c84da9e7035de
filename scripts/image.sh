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
# to pip and uv (PIP_CERT); the proxy variables, when set, are passed on by the engine itself.
# UV_CACHE=DIR (podman only: docker build mounts no volumes) lends the build a host's uv cache, so
# wheels that `make setup-gpu` already fetched are not fetched again (uv checks each one's hash).
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

# podman 4.3 raises the open-files and processes limits of every container; a root without
# CAP_SYS_RESOURCE (inside a container host, as on the development machine) may not, and runc refuses
# to start ("error setting rlimit"). Then podman keeps the host's limits (a containers.conf without
# default_ulimits), and says so. $1: an image to try.
limits() {
    [ "${engine[0]}" = podman ] && [ -z "${CONTAINERS_CONF:-}" ] || return 0
    tried=$("${engine[@]}" run --rm --network=none --entrypoint true "$1" 2>&1 || true)
    [[ $tried == *"setting rlimit"* ]] || return 0
    CONTAINERS_CONF=$(mktemp --suffix=.conf)
    trap 'rm -f "$CONTAINERS_CONF"' EXIT
    printf '[containers]\ndefault_ulimits = []\n' > "$CONTAINERS_CONF"
    export CONTAINERS_CONF
    echo "image.sh: this root may not raise its limits; podman keeps the host's (CONTAINERS_CONF=$CONTAINERS_CONF)" >&2
}

build() {
    base
    limits "$BASE"
    ca=()
    if [ -r "$HOST_CA" ]; then
        ca=(-v "$HOST_CA:/run/host-ca.crt:ro" --build-arg PIP_CERT=/run/host-ca.crt)
    fi
    cache=()
    if [ -n "${UV_CACHE:-}" ]; then
        [ "${engine[0]}" = podman ] || { echo "image.sh: UV_CACHE needs podman (docker build mounts no volumes)" >&2; exit 2; }
        mkdir -p "$UV_CACHE"
        cache=(-v "$(cd "$UV_CACHE" && pwd):/run/uv-cache" --build-arg UV_CACHE_DIR=/run/uv-cache)
    fi
    started=$(date +%s)
    "${engine[@]}" build "${format[@]}" --network=host --build-arg BASE_IMAGE="$BASE" "${ca[@]}" "${cache[@]}" \
        -t "$IMAGE" .
    echo "image.sh: built $IMAGE in $(( $(date +%s) - started )) s"
}

# As the owner of the mounted checkout (never root: the image's user otherwise), without network.
run() {
    dir=$(cd "${1:?run needs the checkout to mount}" && pwd)
    shift
    owner=$(stat -c %u:%g "$dir")
    [ "${owner%%:*}" != 0 ] || owner=1000:1000
    limits "$IMAGE"
    "${engine[@]}" run --rm --network=none --user "$owner" -v "$dir":/work "$IMAGE" "$@"
}

case "${1:-}" in
    build) build ;;
    run) shift; run "$@" ;;
    *) echo "usage: scripts/image.sh build | run DIR [COMMAND ...]" >&2; exit 2 ;;
esac
