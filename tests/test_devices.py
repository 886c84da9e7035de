"""One device for all, or a loud failure (kerasbench/devices.py, and the person's check kerasbench/cli/devices.py),
and the cheap environment fingerprint that decides retraining (kerasbench/fingerprint.py).

This machine has no GPU and no NVIDIA driver: every contender runs on the CPU, `device: gpu`
fails naming the contender, and hosts with GPUs are described by records.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
import yaml

from kerasbench import contenders, devices, host, supervise
from tests.helpers import shadow_venv

REPO = Path(__file__).resolve().parents[1]
H100 = {"driver": "575.57.08", "cuda": "12.9", "nvml_error": None,
        "gpus": [{"name": "NVIDIA H100 80GB HBM3", "memory_total_mib": 81559}]}
NO_HOST_GPU = {"driver": None, "cuda": None, "gpus": [], "nvml_error": "NVML Shared Library Not Found"}


def record(**changes) -> dict:
    base = {"framework": "keras3_torch", "backend": "torch", "backend_version": "2.13.0", "python": "/venv/python",
            "cuda_build": "CUDA 13.0", "gpus": [], "gpu_error": None, "warnings": [], "host": H100}
    return {**base, **changes}


def test_device_cpu_and_a_seen_gpu_are_never_a_problem():
    assert devices.problem(record(), "cpu") is None
    assert devices.problem(record(gpus=["NVIDIA H100 80GB HBM3"]), "gpu") is None
    assert devices.problem(record(gpus=["NVIDIA H100 80GB HBM3"]), "auto") is None


def test_auto_on_a_gpu_host_fails_a_contender_that_sees_none():
    """A silent CPU fallback beside GPU contenders must be impossible."""
    message = devices.problem(record(gpu_error="RuntimeError: The NVIDIA driver on your system is too old"), "auto")
    assert message.startswith("keras3_torch: device: auto and this host has 1 NVIDIA GPU(s) (NVIDIA H100 80GB HBM3), "
                              "but torch 2.13.0 (CUDA 13.0) under /venv/python sees no GPU")
    assert "driver on your system is too old" in message and "NVIDIA driver 575.57.08 (CUDA up to 12.9)" in message
    assert "needs driver >= 580.65.06" in message  # a CUDA 13 build on a CUDA 12.9 driver


def test_auto_without_host_gpus_runs_on_cpu():
    assert devices.problem(record(host=NO_HOST_GPU), "auto") is None


def test_device_gpu_names_the_contender_its_build_and_the_fix():
    message = devices.problem(record(host=NO_HOST_GPU, cuda_build=None, backend="jax", backend_version="0.10.2",
                                     framework="keras3_jax"), "gpu")
    assert message.startswith("keras3_jax: device: gpu is set in params.yaml, but jax 0.10.2 (CPU-only build)")
    assert "no NVIDIA driver found (NVML Shared Library Not Found)" in message
    assert "install the contender's CUDA build" in message and "device: cpu" in message
    same_cuda = devices.problem(record(cuda_build="CUDA 12.9"), "gpu")
    assert "--gpus all" in same_cuda and "too old" not in same_cuda


def test_nvidia_host_reads_the_driver_through_nvml(monkeypatch):
    """The GPU-less machine has no NVML; a stand-in module shows what a GPU host records."""
    class Memory:
        total = 80 * 2**30

    fake = types.SimpleNamespace(
        NVMLError=RuntimeError, nvmlInit=lambda: None, nvmlShutdown=lambda: None,
        nvmlSystemGetCudaDriverVersion=lambda: 12090, nvmlSystemGetDriverVersion=lambda: "575.57.08",
        nvmlDeviceGetCount=lambda: 1, nvmlDeviceGetHandleByIndex=lambda i: i,
        nvmlDeviceGetName=lambda h: "NVIDIA H100 80GB HBM3", nvmlDeviceGetMemoryInfo=lambda h: Memory)
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    host.nvidia_host.cache_clear()   # NVML is read once per process: forget this machine's answer
    monkeypatch.setattr(host, "nvidia_host", host.nvidia_host.__wrapped__)
    assert host.nvidia_host() == {"driver": "575.57.08", "cuda": "12.9", "nvml_error": None,
                                     "gpus": [{"name": "NVIDIA H100 80GB HBM3", "memory_total_mib": 81920}]}


def test_nvidia_host_without_a_driver():
    found = host.nvidia_host()  # this machine: no NVIDIA driver
    assert found["driver"] is None and found["gpus"] == [] and found["nvml_error"]


# ---------------------------------------------------------------- the person's check, every contender

def run_check(tmp_path: Path, env: dict | None = None, **changes) -> subprocess.CompletedProcess:
    params = yaml.safe_load((REPO / "params.yaml").read_text()) | changes
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    return subprocess.run([sys.executable, "-m", "kerasbench.cli.devices", "--params", str(tmp_path / "params.yaml")],
                          cwd=REPO, capture_output=True, text=True, timeout=600, env={**os.environ, **(env or {})})


@pytest.mark.e2e
def test_every_contender_imports_and_runs_on_cpu_here(tmp_path):
    if any(os.environ.get(c.python_var) for c in contenders.registry().values()) or host.nvidia_host()["driver"]:
        pytest.skip("written for one venv on a GPU-less machine")
    done = run_check(tmp_path, frameworks=contenders.names())
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines] == contenders.names()
    assert all(f"cpu ({host.cpu_model()})" in line for line in lines)


def test_device_gpu_fails_the_check_naming_the_contender(tmp_path):
    done = run_check(tmp_path, frameworks=["keras3_torch"], device="gpu")
    assert done.returncode == 1
    assert "keras3_torch: device: gpu is set in params.yaml, but torch" in done.stdout


def test_an_interpreter_that_cannot_run_is_named(tmp_path):
    python = tmp_path / "no-such-python"
    done = run_check(tmp_path, env={"KERASBENCH_PYTHON_TORCH": str(python)}, frameworks=["keras3_torch"])
    assert done.returncode == 1
    assert f"KERASBENCH_PYTHON_TORCH={python} is not an executable Python interpreter" in done.stdout


# ---------------------------------------------------------------- the fingerprint files

def fingerprint(out: Path, env: dict | None = None) -> dict[str, bytes]:
    """Run it as `make repro` does, in a process that then proves it imported no framework."""
    code = ("import runpy, sys; sys.argv = ['fingerprint', sys.argv[1]]; runpy.run_module('kerasbench.fingerprint', "
            "run_name='__main__'); loaded = [m for m in ('tensorflow', 'jax', 'torch', 'keras') if m in sys.modules]; "
            "assert not loaded, loaded")
    done = subprocess.run([sys.executable, "-c", code, str(out)], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=60)
    assert done.returncode == 0, done.stderr
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def test_fingerprint_is_cheap_stable_and_framework_free(tmp_path):
    started = time.perf_counter()
    first = fingerprint(tmp_path / "a")
    assert time.perf_counter() - started < 5  # about 0.2 s here
    assert list(first) == sorted(f"{name}.json" for name in contenders.names())
    torch = json.loads(first["keras3_torch.json"])
    assert torch["packages"] == {"torch": contenders.version_of("torch"), "keras": contenders.version_of("keras"),
                                 "numpy": contenders.version_of("numpy")}
    assert torch["nvidia"] == {"driver": None, "cuda": None, "gpus": []}
    mtimes = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "a").iterdir()}
    assert fingerprint(tmp_path / "a") == first  # same environment, same bytes: DVC retrains nothing,
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "a").iterdir()} == mtimes  # and nothing rewritten


def test_fingerprint_changes_only_for_the_contender_whose_environment_changed(tmp_path):
    """The JAX contenders under an interpreter without jax: only their files differ."""
    python = shadow_venv(tmp_path, drop=("jax", "jaxlib"))
    before = fingerprint(tmp_path / "before")
    after = fingerprint(tmp_path / "after", env={"KERASBENCH_PYTHON_JAX": str(python)})
    jax = sorted(f"{c.name}.json" for c in contenders.registry().values() if c.backend == "jax")
    assert jax == ["jax_native.json", "keras3_jax.json"]
    assert [name for name in before if before[name] != after[name]] == jax
    assert json.loads(after["keras3_jax.json"])["packages"]["jax"] is None
    gpu_host = fingerprint(tmp_path / "gpu", env={"CUDA_VISIBLE_DEVICES": "0"})
    assert all(gpu_host[name] != before[name] for name in before)  # what every contender sees changed


def test_a_stale_fingerprint_is_named_and_a_current_one_passes(tmp_path, monkeypatch):
    from kerasbench import fingerprint as fp
    fp.write(tmp_path)
    assert fp.stale(tmp_path / "keras3_torch.json", "keras3_torch") is None
    record = json.loads((tmp_path / "keras3_torch.json").read_text())
    record["packages"]["keras"] = "3.0.0"
    record["nvidia"]["gpus"] = ["NVIDIA H100 80GB HBM3"]
    (tmp_path / "keras3_torch.json").write_text(json.dumps(record))
    why = fp.stale(tmp_path / "keras3_torch.json", "keras3_torch")
    assert why.startswith(f"{tmp_path / 'keras3_torch.json'} does not describe this machine (packages.keras: "
                          f"'3.0.0' recorded, '{contenders.version_of('keras')}' here; nvidia.gpus: "
                          "['NVIDIA H100 80GB HBM3'] recorded, [] here)")
    assert "run python -m kerasbench.fingerprint (make repro runs it), then dvc repro" in why
    assert "is missing" in fp.stale(tmp_path / "nope.json", "keras3_torch")
    monkeypatch.delenv(supervise.CHILD_VAR, raising=False)
    with pytest.raises(SystemExit, match="does not describe this machine"):
        fp.require(tmp_path, ["tf_keras", "keras3_torch"])
    fp.require(tmp_path, ["tf_keras"])   # current: returns


# ---------------------------------------------------------------- make repro on a GPU host with the CPU venv

def test_a_gpu_host_with_only_cpu_builds_is_told_what_to_run():
    """NVML lists a GPU, the venv holds CPU builds, no GPU venv is configured: one message, before DVC runs."""
    cpu_venv = {"torch": "2.13.0+cpu", "jax": "0.10.2", "tensorflow": "2.21.0"}
    every = {"torch", "jax", "tensorflow"}
    builds = devices.cpu_builds(every, {}, cpu_venv.get)
    assert builds == ["torch 2.13.0+cpu", "jax 0.10.2 (no CUDA plugin)", "tensorflow 2.21.0 (no CUDA libraries)"]
    hint = devices.gpu_host_hint("auto", H100, builds)
    assert hint.startswith("this host has 1 NVIDIA GPU(s) (NVIDIA H100 80GB HBM3, driver 575.57.08), but the "
                           "project's venv holds CPU builds (torch 2.13.0+cpu; jax 0.10.2 (no CUDA plugin)")
    assert "Run `make setup-gpu`" in hint and "docs/container.md" in hint and "device: cpu" in hint
    # and not otherwise
    assert devices.gpu_host_hint("auto", NO_HOST_GPU, builds) is None                   # no GPU here
    assert devices.gpu_host_hint("cpu", H100, builds) is None                           # CPU on purpose
    gpu_venvs = {f"KERASBENCH_PYTHON_{b.upper()}": f"/v/{b}/bin/python" for b in every}
    assert devices.cpu_builds(every, gpu_venvs, cpu_venv.get) == []                     # make setup-gpu's venvs
    assert devices.cpu_builds(every, {"KERASBENCH_PYTHON_TORCH": "/v/bin/python"}, cpu_venv.get) == [
        "jax 0.10.2 (no CUDA plugin)", "tensorflow 2.21.0 (no CUDA libraries)"]        # torch's alone: not enough
    mixed = {"torch": "2.13.0+cpu", "jax": "0.10.2", "jax-cuda13-plugin": "0.10.2"}
    assert devices.cpu_builds({"jax"}, {}, mixed.get) == []      # a jax-only run with jax's CUDA plugin: fine
    gpu_venv = {"torch": "2.13.0", "jax": "0.10.2", "jax-cuda12-plugin": "0.10.2", "tensorflow": "2.21.0",
                "nvidia-cudnn-cu12": "9.28.0.42"}
    assert devices.cpu_builds(every, {}, gpu_venv.get) == []     # the container's venv


def test_make_repro_stops_with_the_hint_on_a_fake_gpu_host(tmp_path, monkeypatch):
    from kerasbench.cli import repro
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    for name in ("KERASBENCH_PYTHON_TORCH", "KERASBENCH_PYTHON_JAX", "KERASBENCH_PYTHON_TENSORFLOW"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(host, "nvidia_host", lambda: H100)
    monkeypatch.setattr(devices, "cpu_builds", lambda backends, environ: ["torch 2.13.0+cpu"])
    ran = []
    monkeypatch.setattr(repro, "planned", lambda args: ran.append(args) or [])
    assert repro.main([]) == 1 and ran == []   # stopped before asking DVC anything
