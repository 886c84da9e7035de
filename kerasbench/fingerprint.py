"""What each contender's results depend on outside the repository, in files DVC can see.

    python -m kerasbench.fingerprint [OUT_DIR]      (default results/fingerprints)

Writes OUT_DIR/<contender>.json for every known contender: its interpreter's Python version, the
versions of its own packages and of those every contender shares, CUDA_VISIBLE_DEVICES, and the
NVIDIA driver and GPUs that NVML lists. Versions come from package metadata and GPUs from NVML, so
no framework is imported and it takes well under a second. A file is rewritten only when its
content changes.

DVC cannot see a new GPU, driver or package by itself, and an always-changed stage would keep
`dvc status` from ever being clean. So the files are refreshed *before* DVC runs, by every entry
point: `make repro`, the container's entry point, the fan-out task and the CI diff script. The
train, repeat and evaluate stages depend on them, so DVC retrains exactly the contenders whose file
changed, a no-op `dvc repro` runs nothing and `dvc status` is clean. The files are committed, so a
fresh clone and `dvc exp run --queue` have them. A stage started by plain `dvc repro` compares its
contender's file with this machine first (`stale`) and stops, naming what differs, when it is out
of date: results are never recorded under another environment's fingerprint. The same step writes
dvclive/dvc.yaml, the live epoch charts for params.yaml's runs (kerasbench/liveplots.py).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from kerasbench import contenders, host, paths
from kerasbench.files import write_text

DEFAULT_DIR = paths.FINGERPRINTS
REFRESH = "python -m kerasbench.fingerprint (make repro runs it)"

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


def fingerprints(names: list[str] | None = None) -> dict[str, dict]:
    """The records of these contenders (default: every known one), one interpreter probe each."""
    chosen = [contenders.get(n) for n in (names or contenders.names())]
    nvidia = host.nvidia_host()
    gpus = {"driver": nvidia["driver"], "cuda": nvidia["cuda"], "gpus": [g["name"] for g in nvidia["gpus"]]}
    by_python: dict[str, list[str]] = {}
    for c in chosen:
        by_python.setdefault(contenders.interpreter(c), []).extend(c.packages)
    envs = {python: environment(python, sorted(set(dists) | set(contenders.SHARED_PACKAGES)))
            for python, dists in by_python.items()}
    out = {}
    for c in chosen:
        env = envs[contenders.interpreter(c)]
        wanted = (*c.packages, *contenders.SHARED_PACKAGES)
        out[c.name] = {"framework": c.name, "python": env["python"],
                       "packages": {d: env["versions"].get(d) for d in wanted},
                       "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES"),
                       "nvidia": gpus, **({"error": env["error"]} if "error" in env else {})}
    return out


def text(record: dict) -> str:
    return json.dumps(record, indent=2) + "\n"


def write(out_dir: Path | str = DEFAULT_DIR) -> tuple[dict[str, dict], list[str]]:
    """Refresh every contender's file; (the records, the names whose file was written)."""
    found, written = fingerprints(), []
    for name, record in found.items():
        path = Path(out_dir) / f"{name}.json"
        if not path.is_file() or path.read_text() != text(record):
            write_text(path, text(record))
            written.append(name)
    return found, written


def _differences(recorded, current, prefix: str = "") -> list[str]:
    if isinstance(recorded, dict) and isinstance(current, dict):
        return [d for key in dict.fromkeys([*recorded, *current])
                for d in _differences(recorded.get(key), current.get(key), f"{prefix}{key}.")]
    return [] if recorded == current else [f"{prefix.rstrip('.')}: {recorded!r} recorded, {current!r} here"]


def stale(path: Path | str, name: str, current: dict | None = None) -> str | None:
    """Why `path` does not describe this machine's environment for contender `name` (`current`: its
    record, computed here when not given); None when it does."""
    path = Path(path)
    if not path.is_file():
        return f"{path} is missing: run {REFRESH}, then dvc repro"
    try:
        recorded = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        return f"{path} is not JSON ({err}): run {REFRESH}, then dvc repro"
    differ = _differences(recorded, current or fingerprints([name])[name])
    if not differ:
        return None
    return (f"{path} does not describe this machine ({'; '.join(differ)}). DVC decides what to retrain "
            f"from these files: run {REFRESH}, then dvc repro, so that every contender this change affects "
            "retrains")


def require(folder: Path | str, names: list[str]) -> None:
    """Exit with the reason when one of these contenders' files in `folder` is stale (in the stage process,
    before it plans anything)."""
    current = fingerprints(names)   # one NVML query and one probe per interpreter for all of them
    for name in names:
        why = stale(Path(folder) / f"{name}.json", name, current[name])
        if why:
            sys.exit(f"error: {why}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir", nargs="?", default=DEFAULT_DIR)
    args = parser.parse_args(argv)
    found, written = write(args.out_dir)
    nvidia = next(iter(found.values()))["nvidia"]
    print(f"fingerprint: {len(found)} contenders, {len(written)} changed"
          f"{' (' + ', '.join(written) + ')' if written else ''}; NVIDIA driver: {nvidia['driver'] or 'none'}"
          f"{'; GPUs: ' + ', '.join(nvidia['gpus']) if nvidia['gpus'] else ''}")
    if Path("params.yaml").exists():   # the other file DVC must see before it runs (kerasbench/liveplots.py)
        from kerasbench import liveplots
        liveplots.main([])


if __name__ == "__main__":
    main()
