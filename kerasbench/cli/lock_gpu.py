"""Regenerate the container's per-backend locks: requirements/gpu-<backend>.lock.

Each container venv holds requirements/base.in, its backend's .in file and that backend's
CUDA extra (the tensorflow venv, which runs DVC, tools.in and dev.in too). pip resolves them
against PyPI with requirements.lock as constraints, so every package the project lock pins keeps
its exact version, and the CUDA-only packages (nvidia-*, jax-cuda12-plugin, triton, ...) get
pinned here. Each line carries the sha256 of the one file the image installs (CPython 3.11,
Linux x86_64), so the image installs them with `pip install --no-deps --require-hashes`.

    kerasbench lock --gpu            # all three
    kerasbench lock --gpu jax        # one
    kerasbench lock --check          # does PyPI still serve every pinned file? (no Docker needed)

Must run on Linux x86_64 under CPython 3.11 (the container's interpreter): environment
markers and wheel tags are those of the running interpreter. Local pip settings (config
files, PIP_* variables, extra indexes, find-links such as a local CPU torch wheel) are
ignored: only PyPI is asked.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

from kerasbench import cli
from kerasbench.files import write_text

ROOT = cli.checkout()

INDEX = "https://pypi.org/simple"
PROJECT_LOCK = "requirements.lock"
# venv -> (requirement files, CUDA extra). DVC and the test tools live in the tensorflow venv.
VENVS = {
    "tensorflow": (("requirements/base.in", "requirements/tensorflow.in", "requirements/tools.in",
                    "requirements/dev.in"),
                   ("tensorflow[and-cuda]",)),
    "jax": (("requirements/base.in", "requirements/jax.in"), ("jax[cuda12]",)),
    # PyPI's Linux torch wheel is the CUDA build; the pin in requirements.lock selects it.
    "torch": (("requirements/base.in", "requirements/torch.in"), ()),
}


def lock_path(venv: str) -> Path:
    return ROOT / "requirements" / f"gpu-{venv}.lock"


def check_interpreter() -> None:
    if (sys.implementation.name, sys.version_info[:2]) != ("cpython", (3, 11)) or \
            sys.platform != "linux" or platform.machine() != "x86_64":
        sys.exit(f"error: run this under CPython 3.11 on Linux x86_64 (the container's interpreter); "
                 f"this is {sys.implementation.name} {platform.python_version()} on {sys.platform} "
                 f"{platform.machine()}")


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull  # no pip.conf: no local find-links, indexes or constraints
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def versions_only(lock: Path, out: Path) -> Path:
    """The lock's `name==version` pins without their hashes: constraints with hashes would put pip in
    hash-checking mode for the CUDA packages that only the GPU venvs have."""
    pins = [line.split()[0] for line in lock.read_text().splitlines() if "==" in line and not line.startswith("#")]
    out.write_text("\n".join(pins) + "\n")
    return out


def resolve(venv: str) -> list[dict]:
    """pip's installation report for one venv: what it would install on an empty interpreter."""
    files, extras = VENVS[venv]
    with tempfile.TemporaryDirectory() as tmp:
        constraints = versions_only(ROOT / PROJECT_LOCK, Path(tmp) / "constraints.txt")
        cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
               "--report", "-", "--index-url", INDEX, "-c", str(constraints)]
        for f in files:
            cmd += ["-r", f]
        cmd += list(extras)
        done = subprocess.run(cmd, cwd=ROOT, env=clean_env(), capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"error: pip could not resolve the {venv} venv:\n{done.stderr.strip()}")
    return json.loads(done.stdout)["install"]


# The image's interpreter and C library: CPython 3.11 on Ubuntu 22.04 (glibc 2.35), x86-64.
TARGET_GLIBC = (2, 35)


def target_platform_args() -> list[str]:
    """pip options that describe the image's platform, whatever machine this runs on."""
    tags = [f"manylinux_2_{minor}_x86_64" for minor in range(5, TARGET_GLIBC[1] + 1)]
    tags += ["manylinux1_x86_64", "manylinux2010_x86_64", "manylinux2014_x86_64", "linux_x86_64"]
    return [arg for tag in tags for arg in ("--platform", tag)] + [
        "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311", "--abi", "abi3", "--abi", "none"]


def check(venv: str, target: Path) -> str | None:
    """Resolve a GPU lock against PyPI for the image's platform, hashes required; None if it installs.

    What `docker build` would do, without Docker and without downloading the CUDA wheels: a pin
    that PyPI no longer serves, or a file whose hash changed, fails here.
    """
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--no-deps",
           "--require-hashes", "--quiet", "--index-url", INDEX, "--target", str(target),
           *target_platform_args(), "-r", str(lock_path(venv))]
    done = subprocess.run(cmd, cwd=ROOT, env=clean_env(), capture_output=True, text=True)
    return None if done.returncode == 0 else done.stderr.strip()


def sha256_of(item: dict) -> str:
    hashes = item["download_info"].get("archive_info", {}).get("hashes", {})
    if "sha256" not in hashes:
        sys.exit(f"error: PyPI gave no sha256 for {item['download_info']['url']}")
    return hashes["sha256"]


def render(venv: str, items: list[dict]) -> str:
    files, extras = VENVS[venv]
    sources = ", ".join([*files, *extras])
    lines = [
        f"# The container's {venv} venv: {sources}.",
        f"# Generated by `kerasbench lock --gpu {venv}` (docs/container.md), constrained by {PROJECT_LOCK}:",
        "# packages pinned there keep their version. CPython 3.11, Linux x86_64, PyPI; one file hash",
        "# each, for `pip install --no-deps --require-hashes`.",
    ]
    for item in sorted(items, key=lambda i: i["metadata"]["name"].lower()):
        meta = item["metadata"]
        lines.append(f"{meta['name']}=={meta['version']} \\\n    --hash=sha256:{sha256_of(item)}")
    return "\n".join(lines) + "\n"


def check_all(venvs: list[str]) -> int:
    """Whether PyPI still serves every file each lock pins, for the image's platform: 0 yes, 1 no."""
    failed = False
    for venv in venvs or list(VENVS):
        with tempfile.TemporaryDirectory() as tmp:
            problem = check(venv, Path(tmp))
        print(f"{lock_path(venv).relative_to(ROOT)}: " + ("ok" if problem is None else f"FAILED\n{problem}"))
        failed |= problem is not None
    return 1 if failed else 0


def write_all(venvs: list[str]) -> None:
    check_interpreter()
    for venv in venvs or list(VENVS):
        items = resolve(venv)
        write_text(lock_path(venv), render(venv, items))
        print(f"{lock_path(venv).relative_to(ROOT)}: {len(items)} packages")
