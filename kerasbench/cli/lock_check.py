"""Whether PyPI still serves every file the container's GPU locks pin (`kerasbench lock --check`).

What `docker build` would install, resolved by pip for the image's platform (CPython 3.11, glibc
2.35, x86-64) with every hash required, without Docker and without downloading the CUDA wheels: a
pin that PyPI no longer serves, or a file whose hash changed, fails here. Local pip settings
(config files, PIP_* variables, extra indexes, find-links) are ignored: only PyPI is asked.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from kerasbench import cli

ROOT = cli.checkout()
INDEX = "https://pypi.org/simple"
BACKENDS = ["tensorflow", "jax", "torch"]
TARGET_GLIBC = (2, 35)   # the image's interpreter and C library: CPython 3.11 on Ubuntu 22.04


def lock_path(backend: str) -> Path:
    return ROOT / "requirements" / f"gpu-{backend}.lock"


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull  # no pip.conf: no local find-links, indexes or constraints
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def target_platform_args() -> list[str]:
    """pip options that describe the image's platform, whatever machine this runs on."""
    tags = [f"manylinux_2_{minor}_x86_64" for minor in range(5, TARGET_GLIBC[1] + 1)]
    tags += ["manylinux1_x86_64", "manylinux2010_x86_64", "manylinux2014_x86_64", "linux_x86_64"]
    return [arg for tag in tags for arg in ("--platform", tag)] + [
        "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311", "--abi", "abi3", "--abi", "none"]


def check(backend: str, target: Path) -> str | None:
    """None if the lock installs for the image's platform, hashes required; else pip's complaint."""
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--no-deps",
           "--require-hashes", "--quiet", "--index-url", INDEX, "--target", str(target),
           *target_platform_args(), "-r", str(lock_path(backend))]
    done = subprocess.run(cmd, cwd=ROOT, env=clean_env(), capture_output=True, text=True)
    return None if done.returncode == 0 else done.stderr.strip()


def check_all(backends: list[str]) -> int:
    """Whether PyPI still serves every file each lock pins, for the image's platform: 0 yes, 1 no."""
    failed = False
    for backend in backends or BACKENDS:
        with tempfile.TemporaryDirectory() as tmp:
            problem = check(backend, Path(tmp))
        print(f"{lock_path(backend).relative_to(ROOT)}: " + ("ok" if problem is None else f"FAILED\n{problem}"))
        failed |= problem is not None
    return 1 if failed else 0
