"""Stage devices: check, before anything trains, what each contender will run on.

    python -m stages.devices OUT_JSON [--params params.yaml] [--framework NAME ...]

For every contender in params.yaml's `frameworks`, a probe runs in its own process under that
contender's interpreter (its venv in the container), selects the contender exactly as the
train stage does, and reports whether it imports, the keras module and backend versions, the
GPUs the backend sees and the device it will train on. The results are printed as a table and
written to OUT_JSON. The stage fails, with one line per contender at fault, when a contender
cannot import, or when `device: gpu` is asked for and a contender sees no GPU; with
`device: auto` a missing GPU is recorded ("cpu"), not an error.

    python -m stages.devices --probe FRAMEWORK DEVICE

is the probe itself: one JSON line on stdout. Until the framework is imported it uses nothing
but the standard library and kerasbench.contenders, so it reports a missing package clearly even
under an interpreter that has none of the project's packages.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import subprocess
import sys
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kerasbench import contenders

ROOT = Path(__file__).resolve().parent.parent
PROBE_TIMEOUT_S = 300
MAX_PARALLEL = 3  # each probe imports a whole framework: a few at a time is quicker, not more


# ---- the probe: runs in the contender's own interpreter -------------------------------

def record_for(name: str, python: str) -> dict:
    """Every field of a contender's record, as it stands before (or without) a probe."""
    return {"framework": name, "backend": contenders.get(name).backend, "python": python,
            "import_ok": False, "error": None, "keras_module": None, "keras_version": None,
            "backend_version": None, "packages": {}, "gpus": [], "gpu_error": None,
            "warnings": [], "device": "cpu", "import_s": None}


def probe(name: str, device: str) -> dict:
    contender = contenders.get(name)
    record = record_for(name, sys.executable)
    started = time.perf_counter()
    try:
        keras = contenders.activate(name, device)
        record["backend_version"] = contenders.backend_version(name)
    except Exception as err:  # noqa: BLE001 - whatever stops the import is the answer
        record["error"] = str(err) if isinstance(err, contenders.ContenderError) else f"{type(err).__name__}: {err}"
        return record
    record.update(import_ok=True, import_s=round(time.perf_counter() - started, 2),
                  keras_module=keras.__name__, keras_version=getattr(keras, "__version__", None),
                  packages={dist: _version(dist) for dist in contender.packages})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            record["gpus"] = contenders.visible_gpus(name)
        except Exception as err:  # noqa: BLE001 - e.g. a driver too old for the backend's CUDA
            record["gpu_error"] = f"{type(err).__name__}: {err}".strip()
    record["warnings"] = sorted({str(w.message).strip().splitlines()[0] for w in caught if str(w.message).strip()})
    record["device"] = "gpu" if record["gpus"] and device != "cpu" else "cpu"
    return record


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


# ---- the stage: one probe process per contender --------------------------------------

def run_probe(name: str, device: str, timeout_s: float = PROBE_TIMEOUT_S) -> dict:
    """Probe one contender in a fresh process under its own interpreter."""
    contender = contenders.get(name)
    python = contenders.interpreter(contender)
    failed = record_for(name, python)
    env = {k: v for k, v in os.environ.items() if k != "KERASBENCH_ACTIVE"}
    try:
        done = subprocess.run([python, "-m", "stages.devices", "--probe", name, device], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=timeout_s)
    except OSError as err:
        return {**failed, "error": f"{contender.python_var}={python} cannot be run: {err.strerror}"}
    except subprocess.TimeoutExpired:
        return {**failed, "error": f"probe under {python} did not finish within {timeout_s:g} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode == 0 and lines:
        return json.loads(lines[-1])
    last = (done.stderr.strip().splitlines() or ["no output"])[-1]
    return {**failed, "error": f"probe under {python} exited with code {done.returncode}: {last}"}


def problems(records: list[dict], device: str, host: dict | None = None) -> list[str]:
    driver = ""
    if host and host.get("driver"):
        driver = f" The NVIDIA driver here is {host['driver']} (up to CUDA {host['cuda']})."
    out = []
    for r in records:
        if not r["import_ok"]:
            out.append(f"{r['framework']}: {r['error']}")
        elif device == "gpu" and not r["gpus"]:
            why = r.get("gpu_error") or "; ".join(r.get("warnings") or []) or "no GPU visible to it"
            out.append(f"{r['framework']}: device: gpu is set in params.yaml, but {r['backend']} "
                       f"{r['backend_version']} under {r['python']} sees no GPU ({why}).{driver} "
                       "Run the container with --gpus all, check the host driver, or set device: auto")
    return out


def table(records: list[dict]) -> str:
    from tabulate import tabulate
    rows = [[r["framework"], r["python"], "ok" if r["import_ok"] else "FAILED",
             f"{r.get('keras_module')} {r.get('keras_version')}" if r["import_ok"] else "",
             f"{r['backend']} {r.get('backend_version')}" if r["import_ok"] else r["backend"],
             ", ".join(r["gpus"]) or "none", r["device"], r.get("import_s") or ""]
            for r in records]
    return tabulate(rows, headers=["framework", "python", "import", "keras", "backend", "GPUs", "device",
                                   "import s"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_json", nargs="?", help="where the device check is written")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--framework", action="append", metavar="NAME",
                        help="probe only this contender (repeatable); default: every one in frameworks")
    parser.add_argument("--probe", nargs=2, metavar=("FRAMEWORK", "DEVICE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe:
        print(json.dumps(probe(*args.probe)), flush=True)
        return
    if not args.out_json:
        parser.error("OUT_JSON is required")

    from kerasbench.files import write_json
    from kerasbench.params import load_or_exit
    params = load_or_exit(args.params)
    names = args.framework or params.frameworks
    try:
        [contenders.get(name) for name in names]
    except contenders.ContenderError as err:
        sys.exit(f"error: {err}")
    workers = max(1, min(MAX_PARALLEL, os.cpu_count() or 1, len(names)))
    with ThreadPoolExecutor(workers) as pool:
        records = list(pool.map(lambda name: run_probe(name, params.device), names))
    from kerasbench.measure import nvidia_host  # psutil: not needed by the probe itself
    host = nvidia_host()
    print(table(records))
    print(f"device: {params.device}; NVIDIA driver: {host['driver'] or 'none'}"
          + (f" (CUDA {host['cuda']}), GPUs: {', '.join(g['name'] for g in host['gpus']) or 'none'}"
             if host["driver"] else ""))
    found = problems(records, params.device, host)
    if found:
        sys.exit("error: device check failed:\n  " + "\n  ".join(found))
    # Timings stay out of the file: the same environment gives the same bytes, so DVC sees no change.
    write_json(args.out_json, {"device": params.device, "host": host,
                               "contenders": [{k: v for k, v in r.items() if k != "import_s"} for r in records]})


if __name__ == "__main__":
    main()
