#!/bin/sh
# kerasbench container entry point: prepare the environment, then run the command
# (by default `dvc repro`) in the repository at /work.
set -eu

# `docker run --user UID:GID` may give a user with no home: keras, DVC and matplotlib keep
# their settings and caches under $HOME, so give them a writable one.
if [ ! -w "${HOME:-/nonexistent}" ]; then
    HOME="/tmp/kerasbench-home-$(id -u)"
    export HOME
    mkdir -p "$HOME"
fi

if [ ! -f dvc.yaml ]; then
    echo "kerasbench: no dvc.yaml in $(pwd); mount the repository there (-v \"\$PWD\":/work)" >&2
elif [ ! -w . ]; then
    echo "kerasbench: $(pwd) is not writable by uid $(id -u); run with --user \"\$(id -u):\$(id -g)\"" >&2
elif [ -f kerasbench/fingerprint.py ]; then
    # This machine's GPUs, driver and per-backend venvs, where DVC sees them: the checkout moved
    # into the container retrains what the move affects, and nothing else.
    python -m kerasbench.fingerprint
fi

exec "$@"
