# The two commands of the README:
#   make repro   set up .venv from the lock files and run the pipeline (dvc repro)
#   make test    set up .venv from the lock files and run the tests (the fast tier, about 10 minutes on 2 cores)
# and the slow tier: make test-e2e (end-to-end: a real cluster, pipelines, clean installs); make test-all: both.
# Supported: CPython 3.11 on Linux x86-64 (what the locks are resolved for). Windows and macOS
# are not; use the container (docs/container.md) or WSL2 there.
PYTHON      ?= python3
VENV        := .venv
BIN         := $(VENV)/bin
LOCK        := requirements.lock
PIP_LOCK    := requirements/pip.lock
TORCH_LOCK  := requirements/torch-cpu.lock
# Every lock (CPU and GPU) is resolved for one interpreter and platform: stop early with what to set.
CHECK_PYTHON = $(PYTHON) -c 'import platform, sys; ok = sys.version_info[:2] == (3, 11) and sys.platform == "linux" and platform.machine() == "x86_64"; ok or sys.exit(f"kerasbench: the locks are for CPython 3.11 on Linux x86-64; $(PYTHON) is {platform.python_implementation()} {platform.python_version()} on {sys.platform} {platform.machine()}. Set PYTHON=/path/to/python3.11, or use the container.")'
# torch's CPU build lives on PyTorch's own index; PyPI's Linux wheel is the CUDA build. Only
# torch is asked for there (an unreachable index costs pip retries per package).
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
# Stage commands in dvc.yaml call `python`: the project's.
export PATH := $(CURDIR)/$(BIN):$(PATH)
export DVC_NO_ANALYTICS := 1
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: setup setup-gpu repro test test-e2e test-image test-all lint bench lock gpu-lock image

# Re-installs only when a lock file changed since the last install.
# Every file is checked against its hash in the locks (--require-hashes): a tampered or substituted
# package stops the setup with the installer's message. pip installs pip and uv (requirements/pip.lock);
# uv installs requirements.lock from PYPI_INDEX (it reads no pip configuration; parallel downloads;
# --compile-bytecode as pip does, so no first import pays for compiling); pip installs torch's CPU
# build from TORCH_INDEX alone (a machine's pip configuration may point at a local copy). Then
# kerasbench itself, editable (--no-deps: its dependencies are the locks; setuptools from the lock
# builds it, no build isolation, so nothing unpinned is fetched). A clean setup: 106-125 s with pip
# alone, 59-62 s with uv (docs/environments.md).
PYPI_INDEX ?= https://pypi.org/simple
UV_INSTALL  = $(BIN)/uv pip install --quiet --no-deps --require-hashes --compile-bytecode --index-url $(PYPI_INDEX)
$(BIN)/.installed: $(LOCK) $(PIP_LOCK) $(TORCH_LOCK) pyproject.toml
	@$(CHECK_PYTHON)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --no-deps --require-hashes -r $(PIP_LOCK)
	$(UV_INSTALL) --python $(BIN)/python -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --require-hashes --index-url $(TORCH_INDEX) -r $(TORCH_LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation --editable .
	$(BIN)/python -m pip check
	touch $@

setup: $(BIN)/.installed

# A GPU host without Docker: one venv per backend from the container's GPU locks (hash-checked, pip
# check clean), beside .venv, which keeps DVC and runs the framework-free stage processes. Once they
# exist, `make repro` runs every contender's training under its backend's GPU venv (KERASBENCH_PYTHON_*).
# uv (from requirements/pip.lock, in .venv) installs them: the same --require-hashes check as pip:
# `make setup-gpu` took 75 s on the development machine with an empty cache, 358 s with pip.
GPU_VENVS   := .venvs
GPU_PYTHONS := $(foreach b,tensorflow jax torch,$(GPU_VENVS)/$(b)/bin/.installed)
setup-gpu: setup $(GPU_PYTHONS)

$(GPU_VENVS)/%/bin/.installed: requirements/gpu-%.lock $(PIP_LOCK)
	@$(CHECK_PYTHON)
	test -x $(GPU_VENVS)/$*/bin/python || $(PYTHON) -m venv $(GPU_VENVS)/$*
	$(UV_INSTALL) --python $(GPU_VENVS)/$*/bin/python -r $(PIP_LOCK)
	$(UV_INSTALL) --python $(GPU_VENVS)/$*/bin/python -r requirements/gpu-$*.lock
	$(GPU_VENVS)/$*/bin/python -m pip check
	touch $@

# Each contender's interpreter: its backend's GPU venv when `make setup-gpu` made one.
$(foreach b,tensorflow jax torch,$(if $(wildcard $(GPU_VENVS)/$(b)/bin/.installed),\
  $(eval repro: export KERASBENCH_PYTHON_$(shell echo $(b) | tr a-z A-Z) := $(CURDIR)/$(GPU_VENVS)/$(b)/bin/python)))

# params.yaml checked first (a bad file never reaches DVC's own reader), then the environment
# fingerprints (kerasbench/fingerprint.py): DVC retrains what a new package, GPU or driver affects,
# and nothing when nothing changed. kerasbench/cli/repro.py says which stage of how many is running.
repro: setup
	$(BIN)/python -m kerasbench.params params.yaml
	$(BIN)/python -m kerasbench.fingerprint
	$(BIN)/kerasbench repro $(ARGS)

# Each tier in two halves: the tests that time nothing run WORKERS at a time, a file to a worker
# (pytest-xdist; each file's module fixtures, the Slurm cluster among them, stay in one process);
# those marked `quiet` assert on what they measured of the machine (verdicts, interference), so they
# run after, alone. Both halves always run; either failing fails the target (a half that ARGS leaves
# empty, pytest's exit status 5, does not).
WORKERS ?= 2
HALF = $(BIN)/python -m pytest -m "$(1)" $(2) $(ARGS) || { s=$$?; [ $$s -eq 5 ] || rc=$$s; }
TWO_HALVES = rc=0; $(call HALF,$(1) and not quiet,-n $(WORKERS) --dist loadfile); $(call HALF,$(1) and quiet,); exit $$rc

test: setup
	$(call TWO_HALVES,not e2e)

test-e2e: setup
	$(call TWO_HALVES,e2e and not image)

# The image built on a local Debian 12 base and the tiny pipeline run in it (tests/test_image.py; podman or
# docker, scripts/image.sh): a first build is about 9 minutes and 19.5 GB (2026-12-04), later ones reuse its layers.
test-image: setup
	$(BIN)/python -m pytest -m image $(ARGS)

test-all: setup
	$(BIN)/python -m pytest $(ARGS)

# ruff's rules (pyproject.toml) and the one-way imports of kerasbench/ (tests/test_lint.py runs both).
lint: setup
	$(BIN)/ruff check .
	$(BIN)/kerasbench imports

# Harness overhead: the train stage's fit against a bare model.fit, fresh processes.
bench: setup
	$(BIN)/kerasbench benchmark $(ARGS)

# Regenerate every lock from requirements/*.in (kerasbench lock: uv pip compile --generate-hashes for
# CPython 3.11 on x86-64 Linux, PyPI alone, torch's CPU wheel from TORCH_INDEX's torch page); the
# versions they pin stay unless a .in file asks for another. `make gpu-lock`: the container's three alone.
lock: setup
	$(BIN)/kerasbench lock --torch-from $(TORCH_INDEX)/torch/

gpu-lock: setup
	$(BIN)/kerasbench lock gpu-tensorflow gpu-jax gpu-torch

# The image on a local Debian 12 base, with podman or docker (scripts/image.sh, docs/container.md).
image:
	scripts/image.sh build
