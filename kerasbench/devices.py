"""Which device a contender runs on, checked at the start of its own train and evaluate stages.

One device for all, or a loud failure: with `device: gpu` a contender that sees no GPU fails;
with `device: auto` it fails too when the host has an NVIDIA GPU (NVML lists one) that the
contender cannot see, so a silent CPU fallback beside GPU contenders is impossible. `device: cpu`
hides GPUs on purpose, to compare on CPU. The message names the contender, its CUDA build, the
driver and the likely fix. `kerasbench devices` runs the same check for every contender,
each in its own process.
"""
from __future__ import annotations

import sys
import warnings

from kerasbench import host
from kerasbench.backends import Backend
from kerasbench.contenders import Contender, ContenderError, version_of

# Lowest NVIDIA driver for each CUDA major version's builds (CUDA minor-version compatibility).
DRIVER_FLOOR = {12: "525.60.13", 13: "580.65.06"}


def _cuda_major(text: str | None) -> int | None:
    try:
        return int(text.split("CUDA ")[1].split(".")[0].split(" ")[0]) if text else None
    except (IndexError, ValueError):
        return None


def likely_fix(cuda: str | None, host: dict) -> str:
    if cuda is None:
        return ("this is a CPU-only build: install the contender's CUDA build (the container's venvs, "
                "requirements/gpu-*.lock), or set device: cpu to compare every contender on CPU")
    major, driver_cuda = _cuda_major(cuda), _cuda_major(f"CUDA {host.get('cuda')}")
    if major and driver_cuda and major > driver_cuda:
        return (f"the driver is too old for a {cuda} build, which needs driver >= {DRIVER_FLOOR.get(major, '?')}: "
                "upgrade the driver, or install a build for the CUDA version the driver supports")
    return ("run the container with --gpus all, check CUDA_VISIBLE_DEVICES and the driver, "
            "or set device: cpu to compare every contender on CPU")


def problem(record: dict, device: str) -> str | None:
    """Why this contender must not run with this device setting, or None."""
    nvidia = record["host"]
    if device == "cpu" or record["gpus"]:
        return None
    if device == "gpu":
        asked = "device: gpu is set in params.yaml"
    elif nvidia["gpus"]:
        asked = (f"device: auto and this host has {len(nvidia['gpus'])} NVIDIA GPU(s) "
                 f"({', '.join(g['name'] for g in nvidia['gpus'])})")
    else:
        return None
    why = record.get("gpu_error") or "; ".join(record.get("warnings") or []) or "no GPU visible to it"
    driver = (f"NVIDIA driver {nvidia['driver']} (CUDA up to {nvidia['cuda']})" if nvidia.get("driver")
              else f"no NVIDIA driver found ({nvidia.get('nvml_error')})")
    return (f"{record['framework']}: {asked}, but {record['backend']} {record['backend_version']} "
            f"({record['cuda_build'] or 'CPU-only build'}) under {record['python']} sees no GPU ({why}); "
            f"{driver}. Likely fix: {likely_fix(record['cuda_build'], nvidia)}.")


def inspect(contender: Contender, backend: Backend) -> dict:
    """What the active contender's backend sees, after activate(): GPUs, CUDA build, host GPUs."""
    record = {"framework": contender.name, "backend": backend.name, "backend_version": backend.version(),
              "python": sys.executable, "cuda_build": backend.cuda_build(), "gpus": [],
              "gpu_error": None, "warnings": [], "host": host.nvidia_host()}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            record["gpus"] = backend.visible_gpus()
        except Exception as err:  # noqa: BLE001 - e.g. a driver too old for the backend's CUDA
            record["gpu_error"] = f"{type(err).__name__}: {err}".strip()
    record["warnings"] = sorted({str(w.message).strip().splitlines()[0] for w in caught if str(w.message).strip()})
    record["device"] = "gpu" if record["gpus"] else "cpu"
    record["device_name"] = record["gpus"][0] if record["gpus"] else host.cpu_model()
    return record


def select(contender: Contender, backend: Backend, device: str) -> dict:
    """The device record of the active contender; ContenderError if it breaks the device rule."""
    record = inspect(contender, backend)
    found = problem(record, device)
    if found:
        raise ContenderError(found)
    return record


def cpu_builds(backends, environ: dict[str, str], version_of=version_of) -> list[str]:
    """Of these backends, those the stages would run as CPU builds: no GPU venv configured for them
    (KERASBENCH_PYTHON_<BACKEND>) and this interpreter holds a CPU build (package metadata, nothing imported)."""
    checks = {"torch": lambda v: "+cpu" in v and f"torch {v}",
              "jax": lambda v: not any(version_of(p) for p in ("jax-cuda12-plugin", "jax-cuda13-plugin"))
              and f"jax {v} (no CUDA plugin)",
              "tensorflow": lambda v: not version_of("nvidia-cudnn-cu12") and f"tensorflow {v} (no CUDA libraries)"}
    found = [backend in backends and not environ.get(f"KERASBENCH_PYTHON_{backend.upper()}")
             and (version := version_of(backend)) and check(version) for backend, check in checks.items()]
    return [problem for problem in found if problem]


def gpu_host_hint(device: str, nvidia: dict, builds: list[str]) -> str | None:
    """What to run, once, when NVML sees a GPU but contenders of `frameworks` would run CPU builds (`make
    repro` on a GPU host with only the CPU venv); None otherwise."""
    if device == "cpu" or not nvidia.get("gpus") or not builds:
        return None
    names = ", ".join(g["name"] for g in nvidia["gpus"])
    return (f"this host has {len(nvidia['gpus'])} NVIDIA GPU(s) ({names}, driver {nvidia.get('driver')}), but "
            f"the project's venv holds CPU builds ({'; '.join(builds)}), so with device: {device} the contenders "
            "on them would stop. Run `make setup-gpu` (one venv per backend from the GPU locks; make repro then "
            "uses them), or the container (docs/container.md); or set device: cpu to compare on the CPU")
