"""The device check (stages/devices.py), run as DVC runs it: one process, a probe per contender.

This machine has no GPU, so every contender must report cpu; `device: gpu` must fail naming
the contender; an interpreter that lacks a contender's packages must be named with the package.
"""
from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest
import yaml

from kerasbench import contenders, measure
from stages import devices

REPO = Path(__file__).resolve().parents[1]
KERAS_DIST = {"tf_keras": "tf-keras", "keras_core": "keras-core", "keras": "keras"}


def write_params(directory: Path, **changes) -> Path:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params.update(changes)
    path = directory / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def run_stage(directory: Path, env: dict | None = None, **changes) -> tuple[subprocess.CompletedProcess, Path]:
    out = directory / "results" / "devices.json"
    params = write_params(directory, **changes)
    done = subprocess.run([sys.executable, "-m", "stages.devices", str(out), "--params", str(params)],
                          cwd=REPO, capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})})
    return done, out


@pytest.fixture(scope="module")
def all_contenders(tmp_path_factory):
    """The stage over every contender with device: auto (one run, shared by the tests below)."""
    if any(os.environ.get(c.python_var) for c in contenders.CONTENDERS.values()) or measure.nvidia_host()["driver"]:
        pytest.skip("written for one venv on a GPU-less machine; in the container run python -m stages.devices")
    done, out = run_stage(tmp_path_factory.mktemp("devices"), frameworks=list(contenders.CONTENDERS),
                          device="auto")
    assert done.returncode == 0, done.stdout + done.stderr
    return done, json.loads(out.read_text())


def test_every_contender_imports_and_reports_its_versions(all_contenders):
    _, result = all_contenders
    records = {r["framework"]: r for r in result["contenders"]}
    assert list(records) == list(contenders.CONTENDERS)
    for name, record in records.items():
        contender = contenders.CONTENDERS[name]
        assert record["import_ok"] and record["error"] is None, record
        assert record["backend"] == contender.backend
        assert record["backend_version"] == importlib.metadata.version(contender.backend)
        assert record["keras_module"] == contender.module
        assert record["keras_version"] == importlib.metadata.version(KERAS_DIST[contender.module])
        assert record["packages"] == {d: importlib.metadata.version(d) for d in contender.packages}
        assert record["python"] == sys.executable  # no KERASBENCH_PYTHON_* set here: this interpreter
        assert "import_s" not in record  # timings vary: they stay in the printed table


def test_without_a_gpu_every_contender_trains_on_cpu(all_contenders):
    done, result = all_contenders
    assert result["device"] == "auto"
    assert all(r["gpus"] == [] and r["device"] == "cpu" for r in result["contenders"])
    assert result["host"]["gpus"] == []
    table = done.stdout.splitlines()
    for name in contenders.CONTENDERS:
        row = next(line for line in table if line.startswith(name + " "))
        assert " ok " in row and " cpu " in row, row


def test_device_gpu_without_a_gpu_fails_naming_the_contender(tmp_path):
    if measure.nvidia_host()["driver"]:
        pytest.skip("this machine has an NVIDIA driver")
    done, out = run_stage(tmp_path, frameworks=["keras3_torch"], device="gpu")
    assert done.returncode == 1
    assert "keras3_torch: device: gpu is set in params.yaml" in done.stderr
    assert "sees no GPU" in done.stderr and "--gpus all" in done.stderr
    assert not out.exists()


def test_interpreter_without_the_package_is_named(tmp_path):
    bare = tmp_path / "bare"
    venv.create(bare, with_pip=False)
    python = bare / "bin" / "python"
    done, out = run_stage(tmp_path, env={"KERASBENCH_PYTHON_JAX": str(python)},
                          frameworks=["keras3_jax"], device="auto")
    assert done.returncode == 1
    assert "keras3_jax" in done.stderr and "needs the package(s) jax, jaxlib, keras" in done.stderr
    assert str(python) in done.stderr
    assert "FAILED" in done.stdout
    assert not out.exists()


def test_interpreter_that_cannot_run_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("KERASBENCH_PYTHON_TORCH", str(tmp_path / "no-such-python"))
    record = devices.run_probe("keras3_torch", "auto")
    assert not record["import_ok"]
    assert record["error"].startswith(f"KERASBENCH_PYTHON_TORCH={tmp_path / 'no-such-python'} cannot be run")


def test_problems_with_device_auto_are_only_import_failures():
    seen_cpu = {"framework": "keras3_jax", "backend": "jax", "backend_version": "0.10.2", "python": "py",
                "import_ok": True, "gpus": [], "gpu_error": None, "warnings": []}
    broken = {"framework": "tf_keras", "import_ok": False, "error": "contender 'tf_keras' needs tf-keras"}
    assert devices.problems([seen_cpu], "auto") == []
    assert devices.problems([seen_cpu], "cpu") == []
    assert devices.problems([seen_cpu, broken], "auto") == ["tf_keras: contender 'tf_keras' needs tf-keras"]
    driver_too_old = {**seen_cpu, "gpu_error": "RuntimeError: The NVIDIA driver on your system is too old"}
    host = {"driver": "575.57.08", "cuda": "12.9", "gpus": [{"name": "NVIDIA H100", "memory_total_mib": 81559}]}
    [message] = devices.problems([driver_too_old], "gpu", host)
    assert message.startswith("keras3_jax: device: gpu") and "driver on your system is too old" in message
    assert "575.57.08 (up to CUDA 12.9)" in message


def test_nvidia_host_reads_the_driver_through_nvml(monkeypatch):
    """The GPU-less machine has no NVML; a stand-in module shows what a GPU host records."""
    import types

    class Memory:
        total = 80 * 2**30

    fake = types.SimpleNamespace(
        NVMLError=RuntimeError, nvmlInit=lambda: None, nvmlShutdown=lambda: None,
        nvmlSystemGetCudaDriverVersion=lambda: 12090, nvmlSystemGetDriverVersion=lambda: "575.57.08",
        nvmlDeviceGetCount=lambda: 1, nvmlDeviceGetHandleByIndex=lambda i: i,
        nvmlDeviceGetName=lambda h: "NVIDIA H100 80GB HBM3", nvmlDeviceGetMemoryInfo=lambda h: Memory)
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    assert measure.nvidia_host() == {"driver": "575.57.08", "cuda": "12.9", "nvml_error": None,
                                   "gpus": [{"name": "NVIDIA H100 80GB HBM3", "memory_total_mib": 81920}]}


def test_nvidia_host_without_a_driver():
    host = measure.nvidia_host()  # this machine: no NVIDIA driver
    assert host["driver"] is None and host["gpus"] == [] and host["nvml_error"]


def test_probe_that_crashes_or_hangs_is_reported(tmp_path, monkeypatch):
    crashing = tmp_path / "python"
    crashing.write_text("#!/bin/sh\necho 'Segmentation fault in libcuda' >&2\nexit 139\n")
    crashing.chmod(0o755)
    monkeypatch.setenv("KERASBENCH_PYTHON_TORCH", str(crashing))
    record = devices.run_probe("keras3_torch", "auto")
    assert record["error"] == f"probe under {crashing} exited with code 139: Segmentation fault in libcuda"
    assert set(record) == set(devices.record_for("keras3_torch", str(crashing)))

    crashing.write_text("#!/bin/sh\nexec sleep 30\n")
    record = devices.run_probe("keras3_torch", "auto", timeout_s=0.5)
    assert record["error"] == f"probe under {crashing} did not finish within 0.5 s"
