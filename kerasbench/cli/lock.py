"""Regenerate the lock files from requirements/*.in (every pin with its sha256, for --require-hashes).

    kerasbench lock                      # requirements.lock, requirements/pip.lock, requirements/torch-cpu.lock
    kerasbench lock --gpu [BACKEND ...]  # the container's requirements/gpu-<backend>.lock (after the above)
    kerasbench lock --check [BACKEND ...]   # does PyPI still serve every file the GPU locks pin?
    kerasbench lock --hash LOCK          # add hashes to LOCK's pins as they are, without re-resolving

The CPU locks come from a clean venv in build/lock-venv with every .in file installed (torch from
--torch-index), frozen, each pin hashed from PyPI (kerasbench/cli/lock_pip.py); the GPU locks are
resolved on PyPI for the image's platform with requirements.lock as constraints
(kerasbench/cli/lock_gpu.py). Run it on CPython 3.11, Linux x86-64: the locks' interpreter.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from kerasbench import cli
from kerasbench.cli import lock_gpu, lock_pip

ROOT = cli.checkout()
TORCH_INDEX = "https://download.pytorch.org/whl/cpu"


def cpu_locks(python: str, torch_index: str) -> None:
    venv = ROOT / "build" / "lock-venv"
    shutil.rmtree(venv, ignore_errors=True)
    bin_python = str(venv / "bin" / "python")
    inputs = [arg for path in sorted((ROOT / "requirements").glob("*.in")) for arg in ("-r", str(path))]
    for cmd in ([python, "-m", "venv", str(venv)],
                [bin_python, "-m", "pip", "install", "--quiet", "--upgrade", "pip"],
                [bin_python, "-m", "pip", "install", "--quiet", "--extra-index-url", torch_index, *inputs]):
        subprocess.run(cmd, check=True)
    try:
        lock_pip.main(bin_python, torch_index, str(ROOT / "requirements.lock"),
                      str(ROOT / "requirements" / "torch-cpu.lock"))
    finally:
        shutil.rmtree(venv, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = cli.parser("lock", __doc__)
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--gpu", action="store_true", help="the container's per-backend GPU locks")
    what.add_argument("--check", action="store_true", help="check that PyPI still serves the GPU locks' files")
    what.add_argument("--hash", metavar="LOCK", type=Path, help="add hashes to an existing lock's pins")
    parser.add_argument("backends", nargs="*", metavar="BACKEND", help=f"with --gpu or --check: "
                        f"{', '.join(lock_gpu.VENVS)} (default: all)")
    parser.add_argument("--torch-index", default=TORCH_INDEX, help=f"torch's CPU build (default {TORCH_INDEX})")
    parser.add_argument("--python", default=sys.executable, help="the interpreter of the lock venv (CPython 3.11)")
    args = parser.parse_args(argv)
    unknown = [b for b in args.backends if b not in lock_gpu.VENVS]
    if unknown or (args.backends and not (args.gpu or args.check)):
        parser.error(f"unknown backend(s) {', '.join(unknown)}; known: {', '.join(lock_gpu.VENVS)}" if unknown
                     else "backends go with --gpu or --check")
    if args.hash:
        if not args.hash.is_file():
            parser.error(f"{args.hash}: no such lock file")
        lines = args.hash.read_text().splitlines()
        pip_lock = ROOT / "requirements" / "pip.lock"
        lines += pip_lock.read_text().splitlines() if pip_lock.is_file() else []   # pip is pinned there
        lock_pip.write_locks(lock_pip.pinned(lines), str(args.hash))
    elif args.check:
        return lock_gpu.check_all(args.backends)
    elif args.gpu:
        lock_gpu.write_all(args.backends)
    else:
        cpu_locks(args.python, args.torch_index)
    return 0


if __name__ == "__main__":
    sys.exit(main())
