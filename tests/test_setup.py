"""`make setup` installs torch's CPU build, pinned by hash, from PyTorch's CPU index, on any clean machine.

Plain PyPI serves torch for Linux as a CUDA build whose CUDA packages are in no lock; the setup
must never be able to take it. The fast tests read what `make` would run; the slow one installs
torch the Makefile's way into a fresh venv with the machine's pip configuration ignored and a
local folder standing in for PyTorch's CPU index.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LOCK, TORCH_LOCK = REPO / "requirements.lock", REPO / "requirements" / "torch-cpu.lock"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def setup_commands(**variables: str) -> list[list[str]]:
    """The commands `make setup` would run from scratch (make -n -B), split into words."""
    # Not what an outer `make test TORCH_INDEX=...` passes down (MAKEFLAGS): the Makefile's own defaults.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "TORCH_INDEX")}
    done = subprocess.run(["make", "-n", "-B", "setup", *(f"{k}={v}" for k, v in variables.items())], cwd=REPO,
                          capture_output=True, text=True, check=True, env=env)
    return [shlex.split(line) for line in done.stdout.splitlines() if line.strip()]


def pip_installs(commands: list[list[str]]) -> list[list[str]]:
    return [c for c in commands if c[1:4] == ["-m", "pip", "install"]]


def normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()  # PEP 503


def pins(path: Path) -> dict[str, str]:
    return {normal(m.group(1)): m.group(2) for m in re.finditer(r"(?m)^([A-Za-z0-9_.\-]+)==(\S+)", path.read_text())}


def test_torch_is_pinned_only_in_its_own_lock_as_a_hashed_cpu_build():
    assert "torch" not in pins(LOCK), "requirements.lock must not pin torch: PyPI's Linux torch is the CUDA build"
    text = TORCH_LOCK.read_text()
    requirements = [line for line in text.splitlines() if line and not line.startswith(("#", " "))]
    assert len(requirements) == 1 and re.fullmatch(r"torch==\d+\.\d+\.\d+\+cpu \\", requirements[0]), requirements
    assert re.search(r"--hash=sha256:[0-9a-f]{64}\b", text)


def test_setup_asks_the_cpu_index_for_torch_alone_with_hashes():
    installs = pip_installs(setup_commands())
    torch = [c for c in installs if str(TORCH_LOCK.relative_to(REPO)) in c]
    assert len(torch) == 1, installs
    [cmd] = torch
    assert cmd[cmd.index("--index-url") + 1] == CPU_INDEX
    assert {"--no-deps", "--require-hashes"} <= set(cmd) and "--extra-index-url" not in cmd
    others = [c for c in installs if c is not cmd]
    assert others and all("--index-url" not in c and "--extra-index-url" not in c for c in others), others
    assert all("torch" not in " ".join(c) for c in others)
    assert [c for c in setup_commands() if c[1:4] == ["-m", "pip", "check"]], "setup must end with pip check"


def test_every_input_and_torch_requirement_is_pinned():
    """What requirements/*.in name, and what torch itself needs (so pip check passes), is in a lock."""
    pinned = pins(LOCK) | pins(TORCH_LOCK) | pins(REPO / "requirements" / "pip.lock")
    for source in (REPO / "requirements").glob("*.in"):
        for line in source.read_text().splitlines():
            name = normal(re.split(r"[=<>\[ ;]", line.strip(), maxsplit=1)[0])
            if name and not name.startswith(("#", "-")):   # -r/-c: another file, checked itself
                assert name in pinned, f"{source.name}: {name} is not pinned"
    import importlib.metadata
    needed = [normal(re.split(r"[=<>!~ ;\[]", r, maxsplit=1)[0])
              for r in importlib.metadata.requires("torch") or [] if "extra ==" not in r]
    assert needed and not [n for n in needed if n not in pinned], needed


def test_setup_refuses_an_interpreter_the_locks_are_not_for(tmp_path):
    fake = tmp_path / "python3"  # a stand-in that runs `-c CODE` as a CPython 3.12 would
    fake.write_text(f"#!{sys.executable}\nimport platform, sys\nsys.version_info = (3, 12, 0)\n"
                    "platform.python_version = lambda: '3.12.0'\nexec(sys.argv[2])\n")
    fake.chmod(0o755)
    [guard] = [c for c in setup_commands(PYTHON=str(fake)) if "-c" in c and "sys.version_info" in " ".join(c)]
    done = subprocess.run(guard, capture_output=True, text=True)
    assert done.returncode == 1 and "the locks are for CPython 3.11 on Linux x86-64" in done.stderr


def _local_cpu_index(root: Path) -> Path:
    """A PEP 503 folder holding the locked CPU wheel, found the way this machine's pip finds it."""
    wheels = root / "wheels"
    requirement = next(line for line in TORCH_LOCK.read_text().splitlines() if line.startswith("torch=="))
    done = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                           "--dest", str(wheels), requirement.split()[0]], capture_output=True, text=True)
    found = list(wheels.glob("torch-*.whl"))
    if done.returncode or not found:
        pytest.skip(f"no copy of {requirement.split()[0]} reachable with this machine's pip configuration")
    index = root / "index" / "torch"
    index.mkdir(parents=True)
    (index / found[0].name).symlink_to(found[0])
    quoted = found[0].name.replace("+", "%2B")
    link = f'<a href="{quoted}">{found[0].name}</a>'
    (index / "index.html").write_text(f"<!DOCTYPE html><html><body>{link}</body></html>\n")
    return index.parent


@pytest.mark.e2e
def test_torch_installs_as_the_cpu_build_on_a_clean_machine(tmp_path):
    """Only the local index stands in for PyTorch's; without the wheel there, nothing else is taken."""
    index = _local_cpu_index(tmp_path)
    target = tmp_path / "venv"
    venv.create(target, with_pip=True)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")} | {"PIP_CONFIG_FILE": os.devnull}
    [torch_install] = [c for c in pip_installs(setup_commands(TORCH_INDEX=index.as_uri()))
                       if str(TORCH_LOCK.relative_to(REPO)) in c]
    torch_install[0] = str(target / "bin" / "python")
    done = subprocess.run(torch_install, cwd=REPO, env=clean, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    code = "import importlib.metadata as m; print(m.version('torch'))"
    version = subprocess.run([target / "bin" / "python", "-c", code],
                             capture_output=True, text=True, check=True).stdout.strip()
    assert version.endswith("+cpu"), version

    empty = tmp_path / "empty"
    empty.mkdir()
    torch_install[torch_install.index("--index-url") + 1] = empty.as_uri()
    refused = subprocess.run([*torch_install, "--force-reinstall"], cwd=REPO, env=clean, capture_output=True, text=True)
    assert refused.returncode != 0 and "No matching distribution found for torch" in refused.stderr
