# syntax=docker/dockerfile:1
# kerasbench on an NVIDIA GPU: every contender with the CUDA build of its own backend.
#   docker build -t kerasbench .
#   docker run --rm --gpus all -v "$PWD":/work kerasbench          # runs `dvc repro`
# See docs/container.md. TensorFlow, JAX and PyTorch wheels each bring their own CUDA
# libraries (nvidia-* packages) that conflict when installed together, so each backend has
# its own virtual environment, installed from the project's locks.

# The smallest CUDA image: every backend's wheels bring their own CUDA and cuDNN libraries
# (nvidia-* packages), so the image adds none; a second cuDNN on the loader path would only
# add gigabytes and a chance of loading the wrong one. What it keeps is the NVIDIA container
# runtime's settings (NVIDIA_VISIBLE_DEVICES, NVIDIA_DRIVER_CAPABILITIES).
# Pinned by digest beside its tag: a re-pushed tag cannot change what is built. The digest is the
# one public projects pin for this tag; Docker Hub cannot be reached from the development machine,
# so check it before a release with `docker buildx imagetools inspect nvidia/cuda:12.9.1-base-ubuntu22.04`
# (docs/container.md), and update tag and digest together.
# BASE_IMAGE: a Debian 12 base builds the same image without a GPU runtime's settings, where the CUDA
# image cannot be pulled (scripts/image.sh makes one with debootstrap and builds with podman or docker).
ARG BASE_IMAGE=nvidia/cuda:12.9.1-base-ubuntu22.04@sha256:59436e8ac61921052d8f420be8b8cb8b117f1d7cc643397a289e37aaa0b83ea1
FROM ${BASE_IMAGE}

# The base image would refuse to start on a driver older than CUDA 12.9's (575). The wheels
# accept less: TensorFlow 2.21 and JAX 0.10.2 are CUDA 12 builds (driver >= 525.60.13 through
# CUDA's minor-version compatibility); torch 2.13.0 is a CUDA 13.0 build (driver >= 580.65.06).
# So the floor is the lowest of them; a contender whose build the driver cannot run fails its
# own stages with the reason (kerasbench/devices.py), never silently. docs/container.md.
ENV NVIDIA_REQUIRE_CUDA="cuda>=12.0"

SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ARG DEBIAN_FRONTEND=noninteractive
ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Python 3.11 (the lock's Python) and git for DVC: on Ubuntu 22.04 (the CUDA image) Python 3.11
# comes from the deadsnakes PPA, on Debian 12 from Debian itself; nothing else differs.
# OS packages follow the base image's release and its security fixes, so they are not
# version-pinned; every Python package is pinned by the lock files.
# hadolint ignore=DL3008
RUN . /etc/os-release \
    && apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates git \
    && if [ "${ID}" != debian ]; then \
        apt-get install -y --no-install-recommends gpg-agent software-properties-common \
        && add-apt-repository -y ppa:deadsnakes/ppa \
        && apt-get purge -y --auto-remove software-properties-common gpg-agent; \
    fi \
    && apt-get install -y --no-install-recommends python3.11 python3.11-venv \
    && rm -rf /var/lib/apt/lists/*

# A non-root user (match the host's with --build-arg USER_UID=$(id -u) or docker run --user).
# The mounted repository belongs to the host user: git (and DVC's libgit2) would refuse it
# as "dubious ownership", so /work is marked safe. A fallback identity lets `dvc exp run`
# commit experiments; a repository's or user's own git identity takes precedence.
# (USER_UID rather than UID, which shells set and treat as read-only.)
ARG USER_UID=1000
ARG USER_GID=1000
RUN groupadd --gid "${USER_GID}" bench \
    && useradd --uid "${USER_UID}" --gid "${USER_GID}" --create-home --shell /bin/bash bench \
    && git config --system --add safe.directory /work \
    && git config --system user.name "kerasbench container" \
    && git config --system user.email "kerasbench@localhost" \
    && install -d -o "${USER_UID}" -g "${USER_GID}" /work

# One venv per backend, each from its lock (kerasbench lock, uv pip compile), installed as `make setup-gpu`
# installs them on a host: pip and uv from requirements/pip.lock, then uv installs the backend's GPU lock.
# -c requirements.lock makes the build fail if a GPU lock disagrees with the project lock; --no-deps
# --require-hashes installs exactly the listed files, each checked against its hash. Locks first and
# code last, so a code change rebuilds nothing here. uv's cache is a cache mount, not a layer: the CUDA
# 12 wheels that the tensorflow and jax venvs share, and any unchanged wheel after a lock update, are
# downloaded once (uv: 75 s for `make setup-gpu` with an empty cache, where pip took 358 s).
# UV_CACHE_DIR may name another cache that the build mounts (scripts/image.sh's UV_CACHE, podman only).
# Behind a TLS-inspecting proxy, pip and uv must trust the proxy's CA: mount the host's bundle into the
# build and name it, e.g. `-v /etc/ssl/certs/ca-certificates.crt:/run/host-ca.crt:ro --build-arg
# PIP_CERT=/run/host-ca.crt` (podman; docs/container.md). Unset, both use the image's own bundle.
ARG PIP_CERT=
ARG UV_CACHE_DIR=/root/.cache/uv
ARG UV_LINK_MODE=copy
ARG UV_DEFAULT_INDEX=https://pypi.org/simple
ARG PIP_NO_CACHE_DIR=1
COPY requirements/pip.lock requirements.lock /opt/locks/
COPY requirements/gpu-tensorflow.lock /opt/locks/
RUN --mount=type=cache,target=/root/.cache/uv,sharing=locked \
    export SSL_CERT_FILE="${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}" \
    && python3.11 -m venv /opt/venvs/tensorflow \
    && /opt/venvs/tensorflow/bin/python -m pip install --no-deps --require-hashes ${PIP_CERT:+--cert "$PIP_CERT"} \
        -r /opt/locks/pip.lock \
    && /opt/venvs/tensorflow/bin/uv pip install --python /opt/venvs/tensorflow/bin/python --no-deps --require-hashes \
        --compile-bytecode -c /opt/locks/requirements.lock -r /opt/locks/gpu-tensorflow.lock \
    && /opt/venvs/tensorflow/bin/python -m pip check

COPY requirements/gpu-jax.lock /opt/locks/
RUN --mount=type=cache,target=/root/.cache/uv,sharing=locked \
    export SSL_CERT_FILE="${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}" \
    && python3.11 -m venv /opt/venvs/jax \
    && /opt/venvs/tensorflow/bin/uv pip install --python /opt/venvs/jax/bin/python --no-deps --require-hashes \
        --compile-bytecode -r /opt/locks/pip.lock \
    && /opt/venvs/tensorflow/bin/uv pip install --python /opt/venvs/jax/bin/python --no-deps --require-hashes \
        --compile-bytecode -c /opt/locks/requirements.lock -r /opt/locks/gpu-jax.lock \
    && /opt/venvs/jax/bin/python -m pip check

COPY requirements/gpu-torch.lock /opt/locks/
RUN --mount=type=cache,target=/root/.cache/uv,sharing=locked \
    export SSL_CERT_FILE="${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}" \
    && python3.11 -m venv /opt/venvs/torch \
    && /opt/venvs/tensorflow/bin/uv pip install --python /opt/venvs/torch/bin/python --no-deps --require-hashes \
        --compile-bytecode -r /opt/locks/pip.lock \
    && /opt/venvs/tensorflow/bin/uv pip install --python /opt/venvs/torch/bin/python --no-deps --require-hashes \
        --compile-bytecode -c /opt/locks/requirements.lock -r /opt/locks/gpu-torch.lock \
    && /opt/venvs/torch/bin/python -m pip check

# Each stage re-executes itself under its contender's interpreter (kerasbench/launch.py).
# The tensorflow venv also holds DVC and the test tools and comes first on PATH, so `python`
# and `dvc` there run the pipeline and the framework-free stages. TF and JAX would otherwise
# reserve most of the GPU's memory at start; kerasbench/launch.py sets the same two values.
ENV KERASBENCH_PYTHON_TENSORFLOW=/opt/venvs/tensorflow/bin/python \
    KERASBENCH_PYTHON_JAX=/opt/venvs/jax/bin/python \
    KERASBENCH_PYTHON_TORCH=/opt/venvs/torch/bin/python \
    PATH=/opt/venvs/tensorflow/bin:${PATH} \
    TF_FORCE_GPU_ALLOW_GROWTH=true \
    XLA_PYTHON_CLIENT_PREALLOCATE=false \
    TF_CPP_MIN_LOG_LEVEL=2 \
    DVC_NO_ANALYTICS=1 \
    MPLBACKEND=Agg

COPY --chmod=0755 docker/entrypoint.sh /usr/local/bin/kerasbench-entrypoint
USER ${USER_UID}:${USER_GID}
WORKDIR /work
# The code, for running without a mounted checkout; a mount at /work takes its place.
COPY --chown=${USER_UID}:${USER_GID} . /work
# Mount point for a DVC cache volume (-v kerasbench-cache:/work/.dvc/cache), owned by the user.
RUN mkdir -p /work/.dvc/cache
ENTRYPOINT ["/usr/local/bin/kerasbench-entrypoint"]
CMD ["dvc", "repro"]
