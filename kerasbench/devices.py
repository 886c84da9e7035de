"""Which device a contender runs on, checked at the start of its own train and evaluate stages.

One device for all, or a loud failure: with `device: gpu` a contender that sees no GPU fails;
with `device: auto` it fails too when the host has an NVIDIA GPU (NVML lists one) that the
contender cannot see, so a silent CPU fallback beside GPU contenders is impossible. `device: cpu`
hides GPUs on purpose, to compare on CPU. The message names the contender, its CUDA build, the
driver and the likely fix.

    python -m kerasbench.devices [--params params.yaml] [--framework NAME ...]

is the same check for every contender, each in its own process (for a person, e.g. in the
container before a long run): it imports each framework, so it is not a pipeline stage.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

from kerasbench import backends, contenders, host, supervise

ROOT = Path(__file__).resolve().parent.parent
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
    host = record["host"]
    if device == "cpu" or record["gpus"]:
        return None
    if device == "gpu":
        asked = "device: gpu is set in params.yaml"
    elif host["gpus"]:
        asked = (f"device: auto and this host has {len(host['gpus'])} NVIDIA GPU(s) "
                 f"({', '.join(g['name'] for g in host['gpus'])})")
    else:
        return None
    why = record.get("gpu_error") or "; ".join(record.get("warnings") or []) or "no GPU visible to it"
    driver = (f"NVIDIA driver {host['driver']} (CUDA up to {host['cuda']})" if host.get("driver")
              else f"no NVIDIA driver found ({host.get('nvml_error')})")
    return (f"{record['framework']}: {asked}, but {record['backend']} {record['backend_version']} "
            f"({record['cuda_build'] or 'CPU-only build'}) under {record['python']} sees no GPU ({why}); "
            f"{driver}. Likely fix: {likely_fix(record['cuda_build'], host)}.")


def inspect(name: str) -> dict:
    """What the active contender's backend sees, after activate(): GPUs, CUDA build, host GPUs."""
    backend = contenders.get(name).backend
    record = {"framework": name, "backend": backend, "backend_version": backends.version(backend),
              "python": sys.executable, "cuda_build": backends.cuda_build(backend), "gpus": [],
              "gpu_error": None, "warnings": [], "host": host.nvidia_host()}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            record["gpus"] = backends.visible_gpus(backend)
        except Exception as err:  # noqa: BLE001 - e.g. a driver too old for the backend's CUDA
            record["gpu_error"] = f"{type(err).__name__}: {err}".strip()
    record["warnings"] = sorted({str(w.message).strip().splitlines()[0] for w in caught if str(w.message).strip()})
    record["device"] = "gpu" if record["gpus"] else "cpu"
    record["device_name"] = record["gpus"][0] if record["gpus"] else host.cpu_model()
    return record


def select(name: str, device: str) -> dict:
    """The device record of the active contender; ContenderError if it breaks the device rule."""
    record = inspect(name)
    found = problem(record, device)
    if found:
        raise contenders.ContenderError(found)
    return record


# ---- for a person: every contender, each in its own process ---------------------------------

def probe_all(names: list[str], device: str) -> list[dict]:
    records = []
    for name in names:
        env = {k: v for k, v in os.environ.items() if k != supervise.CHILD_VAR}
        done = subprocess.run([sys.executable, "-m", "kerasbench.devices", "--probe", name, device], cwd=ROOT,
                              env=env, capture_output=True, text=True)
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        last = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        records.append(json.loads(lines[-1]) if lines else {"framework": name, "error": last})
    return records


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--framework", action="append", metavar="NAME", help="default: params.yaml's frameworks")
    parser.add_argument("--probe", nargs=2, metavar=("FRAMEWORK", "DEVICE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe:
        name, device = args.probe
        try:
            contenders.activate(name, device)
            record = inspect(name)
        except contenders.ContenderError as err:
            sys.exit(f"error: {err}")
        print(json.dumps({**record, "problem": problem(record, device)}), flush=True)
        return
    from kerasbench.params import load_or_exit
    params = load_or_exit(args.params)
    records = probe_all(args.framework or list(params.frameworks), params.device)
    for r in records:
        seen = r.get("error") or r.get("problem") or f"{r['device']} ({r['device_name']})"
        print(f"{r['framework']:<18} {r.get('backend', ''):<10} {r.get('backend_version') or '':<10} "
              f"{r.get('cuda_build') or 'CPU-only build':<32} {seen}")
    if any(r.get("error") or r.get("problem") for r in records):
        sys.exit(1)


if __name__ == "__main__":
    main()
