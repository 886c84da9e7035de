"""Stage fingerprint: what each contender's results depend on outside the repository, cheaply.

    python -m stages.fingerprint OUT_DIR [--params params.yaml]

Writes OUT_DIR/<contender>.json for every known contender: its interpreter (path and version),
the versions of its own packages and of those every contender shares, the `device` setting,
CUDA_VISIBLE_DEVICES, and the NVIDIA driver and GPUs that NVML lists. Versions come from package
metadata and GPUs from NVML, so no framework is imported and the stage takes well under a second.

It runs on every `dvc repro` (always_changed: DVC has no other way to notice a new GPU or
driver). The same environment gives the same bytes, so DVC retrains exactly the contenders whose
file changed (the checkout moved onto a GPU, a contender's package upgraded) and nothing else.
Whether a contender can actually use the GPU is checked where it is needed: at the start of its
own train and evaluate stages (kerasbench/devices.py).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from kerasbench import contenders, measure
from kerasbench.files import atomic_dir
from kerasbench.params import load_or_exit

# Run under another interpreter (the container's per-backend venvs): prints its version and the
# versions of the distributions named in argv, as JSON, using nothing but the standard library.
_PROBE = ("import importlib.metadata as m, json, platform, sys\n"
          "def v(d):\n"
          "    try: return m.version(d)\n"
          "    except m.PackageNotFoundError: return None\n"
          "print(json.dumps({'python': platform.python_version(), 'versions': {d: v(d) for d in sys.argv[1:]}}))")


def environment(python: str, dists: list[str]) -> dict:
    """The interpreter's Python version and these distributions' versions (None: not installed)."""
    if os.path.abspath(python) == os.path.abspath(sys.executable):  # a venv's python is a link: no realpath
        import platform
        return {"python": platform.python_version(), "versions": {d: contenders.version_of(d) for d in dists}}
    try:
        done = subprocess.run([python, "-c", _PROBE, *dists], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as err:
        return {"python": None, "versions": {}, "error": f"{python} cannot be run: {err}"}
    if done.returncode:
        return {"python": None, "versions": {}, "error": f"{python} exited with {done.returncode}"}
    return json.loads(done.stdout)


def fingerprints(device: str) -> dict[str, dict]:
    host = measure.nvidia_host()
    gpus = {"driver": host["driver"], "cuda": host["cuda"], "gpus": [g["name"] for g in host["gpus"]]}
    by_python: dict[str, list[str]] = {}
    for c in contenders.CONTENDERS.values():
        by_python.setdefault(contenders.interpreter(c), []).extend(c.packages)
    envs = {python: environment(python, sorted(set(dists) | set(contenders.SHARED_PACKAGES)))
            for python, dists in by_python.items()}
    out = {}
    for name, c in contenders.CONTENDERS.items():
        python = contenders.interpreter(c)
        env = envs[python]
        wanted = (*c.packages, *contenders.SHARED_PACKAGES)
        out[name] = {"framework": name, "python": env["python"],
                     "packages": {d: env["versions"].get(d) for d in wanted},
                     "device": device, "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES"),
                     "nvidia": gpus, **({"error": env["error"]} if "error" in env else {})}
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir")
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    params = load_or_exit(args.params)
    found = fingerprints(params.device)
    with atomic_dir(args.out_dir) as tmp:
        for name, record in found.items():
            (tmp / f"{name}.json").write_text(json.dumps(record, indent=2) + "\n")
    nvidia = next(iter(found.values()))["nvidia"]
    print(f"fingerprint: {len(found)} contenders; device: {params.device}; NVIDIA driver: "
          f"{nvidia['driver'] or 'none'}{'; GPUs: ' + ', '.join(nvidia['gpus']) if nvidia['gpus'] else ''}")


if __name__ == "__main__":
    main()
