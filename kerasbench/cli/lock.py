"""Regenerate the lock files from requirements/*.in with `uv pip compile --generate-hashes`.

    kerasbench lock                       # every lock (LOCKS below)
    kerasbench lock gpu-jax torch-cpu     # the named ones
    kerasbench lock --upgrade             # re-resolve to the newest releases
    kerasbench lock --check [BACKEND ...] # does PyPI still serve every file the GPU locks pin?

Each lock is resolved without installing anything, for one interpreter and platform that uv's
command line names (CPython 3.11 on x86-64 Linux: glibc 2.28 for this machine's locks, 2.35 for
the image's Ubuntu 22.04), from PyPI alone; torch's CPU build comes from --torch-from (PyTorch's
CPU page, or a folder holding the wheel). uv keeps every version the existing lock pins unless
--upgrade or a .in file asks for another, so running it twice changes nothing. Every pin carries
the sha256 of each file it may install and, in a comment, what needs it.
"""
from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from kerasbench import cli
from kerasbench.cli import lock_check
from kerasbench.files import write_text

ROOT = cli.checkout()
TORCH_FROM = "https://download.pytorch.org/whl/cpu/torch/"   # a page of links to torch's CPU wheels
CPU = ("requirements/base.in", "requirements/tools.in", "requirements/dev.in", "requirements/local.in",
       "requirements/tensorflow.in", "requirements/jax.in", "requirements/torch.in")


@dataclass(frozen=True)
class Lock:
    output: str
    inputs: tuple[str, ...]
    about: str
    glibc: str = "2_28"
    constraints: tuple[str, ...] = ()
    omit: tuple[str, ...] = ()      # resolved, but pinned in another lock
    torch_cpu: bool = False         # torch's CPU build from --torch-from
    only_torch: bool = False        # the CPU wheel alone: no index but --torch-from, no dependencies


def gpu(backend: str, *inputs: str) -> Lock:
    return Lock(f"requirements/gpu-{backend}.lock", ("requirements/base.in", *inputs),
                f"the container's {backend} venv (docs/container.md), installed with --no-deps "
                "--require-hashes; every version requirements.lock pins is kept", glibc="2_35",
                constraints=("requirements.lock",))


# In the order they are made: the CPU lock is constrained by torch-cpu's pin, the GPU locks by the CPU lock.
LOCKS = {
    "pip": Lock("requirements/pip.lock", ("requirements/pip.in",),
                "pip and uv, which pip installs first (make setup); uv installs requirements.lock"),
    "torch-cpu": Lock("requirements/torch-cpu.lock", ("requirements/torch-cpu.in",),
                      "torch alone, its CPU build (\"+cpu\"): PyPI's Linux wheel of that version is the CUDA "
                      "build; make setup installs it from PyTorch's CPU index", only_torch=True),
    "cpu": Lock("requirements.lock", CPU, "every package of this machine's .venv (make setup) but pip, uv "
                "and torch, which have their own locks",
                constraints=("requirements/torch-cpu.lock", "requirements/pip.lock"),
                omit=("torch", "pip", "uv"), torch_cpu=True),
    "gpu-tensorflow": gpu("tensorflow", "requirements/tensorflow.in", "requirements/tools.in",
                          "requirements/dev.in", "requirements/cuda-tensorflow.in"),
    "gpu-jax": gpu("jax", "requirements/jax.in", "requirements/cuda-jax.in"),
    "gpu-torch": gpu("torch", "requirements/torch.in"),   # PyPI's Linux torch wheel is the CUDA build
}


def uv() -> str:
    found = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if not found:
        sys.exit("error: uv not found: `make setup` installs it into .venv (requirements/local.in)")
    return found


def command(name: str, torch_from: str, upgrade: bool) -> list[str]:
    """The uv command line that makes lock `name`, with paths relative to the checkout."""
    lock = LOCKS[name]
    cmd = ["uv", "pip", "compile", *lock.inputs, "--output-file", lock.output, "--generate-hashes",
           "--python-version", "3.11", "--python-platform", f"x86_64-manylinux_{lock.glibc}", "--no-header",
           "--no-config"]
    if lock.only_torch:   # the CPU wheel alone: its source and no index, no dependencies
        cmd += ["--no-index", "--find-links", torch_from, "--no-deps"]
    else:
        cmd += ["--index-url", lock_check.INDEX]
    if lock.torch_cpu:   # torch's version is only in the CPU wheel's source, which carries torch alone:
        cmd += ["--find-links", torch_from, "--index-strategy", "unsafe-best-match"]   # best match is safe
    cmd += [arg for c in lock.constraints for arg in ("--constraint", c)]
    cmd += [arg for p in lock.omit for arg in ("--no-emit-package", p)]
    return cmd + (["--upgrade"] if upgrade else [])


def header(name: str, cmd: list[str]) -> str:
    lock = LOCKS[name]
    shown = " ".join(shlex.quote(a) for a in cmd if a != "--upgrade")
    return (f"# {lock.output}: {lock.about}.\n# Made by `kerasbench lock {name}` (do not edit), which runs\n"
            f"#   {shown}\n")


def versions(text: str) -> str:
    """A lock's `name==version` lines alone: uv prefers what its output file pins, and would keep that
    file's hashes too; without them every hash is read from the index again."""
    return "".join(line.split()[0] + "\n" for line in text.splitlines() if "==" in line and line[0].isalnum())


def hash_local_wheel(pins: str, folder: Path) -> str:
    """uv pins a wheel found in a local folder without a hash: its sha256, added to the torch pin."""
    found = re.search(r"^torch==(\S+)$", pins, re.MULTILINE)
    if not found:
        return pins
    wheels = sorted(folder.glob(f"torch-{found[1]}-cp311-cp311-*linux*_x86_64.whl"))
    if not wheels:
        sys.exit(f"error: {folder} has no torch {found[1]} wheel for CPython 3.11 on x86-64 Linux")
    digests = []
    for wheel in wheels:
        with wheel.open("rb") as f:
            digests.append(f"    --hash=sha256:{hashlib.file_digest(f, 'sha256').hexdigest()}")
    return pins.replace(found[0], " \\\n".join([found[0], *digests]), 1)


def make(name: str, torch_from: str, upgrade: bool) -> None:
    cmd = command(name, torch_from, upgrade)
    out = ROOT / LOCKS[name].output
    before = out.read_text() if out.is_file() else None
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "PIP_"))}   # no local indexes
    made = False
    try:
        if before is not None:
            write_text(out, versions(before))
        done = subprocess.run([uv(), *cmd[1:], "--quiet"], cwd=ROOT, env=env, capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"error: {name}: uv could not resolve {' '.join(LOCKS[name].inputs)}:\n{done.stderr.strip()}")
        pins = out.read_text()   # uv rewrites the whole file (--no-header): the header goes on top again
        if LOCKS[name].only_torch and Path(torch_from).is_dir():
            pins = hash_local_wheel(pins, Path(torch_from))
        write_text(out, header(name, cmd) + pins)
        made = True
    finally:
        if not made and before is not None:
            write_text(out, before)   # failed or interrupted: the lock as it was
    print(f"{LOCKS[name].output}: {sum(1 for line in pins.splitlines() if '==' in line)} packages")


def main(argv: list[str] | None = None) -> int:
    parser = cli.parser("lock", __doc__)
    parser.add_argument("locks", nargs="*", metavar="LOCK", help=f"{', '.join(LOCKS)} (default: all); "
                        f"with --check: {', '.join(lock_check.BACKENDS)}")
    parser.add_argument("--check", action="store_true", help="check that PyPI still serves the GPU locks' files")
    parser.add_argument("--upgrade", action="store_true", help="the newest releases the .in files allow")
    parser.add_argument("--torch-from", default=TORCH_FROM, metavar="URL_OR_FOLDER",
                        help=f"where torch's CPU wheel is found (default {TORCH_FROM})")
    args = parser.parse_args(argv)
    known = lock_check.BACKENDS if args.check else list(LOCKS)
    unknown = [name for name in args.locks if name not in known]
    if unknown:
        parser.error(f"unknown lock(s) {', '.join(unknown)}; known: {', '.join(known)}")
    if args.check:
        return lock_check.check_all(args.locks)
    for name in [n for n in LOCKS if n in (args.locks or LOCKS)]:
        make(name, args.torch_from, args.upgrade)
    return 0


if __name__ == "__main__":
    sys.exit(main())
