"""The container's package set, proven on this CPU machine: `make setup-gpu` installs the three GPU locks into one
venv per backend (hash-checked, pip check clean), and the real pipeline trains and evaluates every default
contender at a tiny size under them (their CUDA wheels import and fall back to the CPU here). This is the
closest to building the image that a machine without Docker allows: a lock that does not install, a missing
package or a conflict between a backend's venv and the stage code fails here.

Slow (about 12 GB of wheels): `make test-e2e`. KERASBENCH_GPU_VENVS names a folder of venvs made before,
to reuse them; without it the venvs are made in a temporary folder and deleted afterwards (18 GB that CI's
disk needs for the image tier after this one: tests/test_image.py).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from kerasbench import host
from tests.helpers import BIN, ROOT, assert_trained_under, sh, tiny_checkout, tool_env

pytestmark = pytest.mark.e2e
BACKENDS = ("tensorflow", "jax", "torch")


@pytest.fixture(scope="module")
def gpu_venvs(tmp_path_factory):
    given = os.environ.get("KERASBENCH_GPU_VENVS")
    folder = Path(given or tmp_path_factory.mktemp("gpu") / "venvs")
    started = time.perf_counter()
    done = subprocess.run(["make", "-C", str(ROOT), "setup-gpu", f"GPU_VENVS={folder}"], capture_output=True,
                          text=True, timeout=3600, env={k: v for k, v in os.environ.items() if k != "MAKEFLAGS"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    print(f"make setup-gpu: {time.perf_counter() - started:.0f} s")
    for backend in BACKENDS:
        assert (folder / backend / "bin" / ".installed").exists()
    yield folder
    if not given:
        shutil.rmtree(folder)


def test_every_default_contender_runs_the_pipeline_under_the_gpu_venvs(gpu_venvs, tmp_path):
    frameworks = yaml.safe_load((ROOT / "params.yaml").read_text())["frameworks"]
    pythons = {b: str(gpu_venvs / b / "bin" / "python") for b in BACKENDS}
    env = tool_env(**{f"KERASBENCH_PYTHON_{b.upper()}": python for b, python in pythons.items()})
    repo = tiny_checkout(tmp_path / "repo", frameworks, env)
    started = time.perf_counter()
    sh(repo, str(BIN / "dvc"), "repro", env=env, timeout=3600)
    print(f"dvc repro, {len(frameworks)} contenders under the GPU venvs: {time.perf_counter() - started:.0f} s")
    assert_trained_under(repo, frameworks, pythons, "gpu" if host.nvidia_host()["gpus"] else "cpu")
