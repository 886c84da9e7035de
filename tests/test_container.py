"""The GPU container, checked without a Docker engine: hadolint, and the Dockerfile read as data.

The image must install every contender's backend from the project's locks, in that backend's
own venv, and the GPU locks must pin the same versions as requirements.lock.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from kerasbench import contenders, launch
from kerasbench.cli import lock as lock_tool
from kerasbench.cli import lock_check

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "Dockerfile"
PROJECT_LOCK = REPO / "requirements.lock"
PIP_LOCK = REPO / "requirements" / "pip.lock"


LOCK_SCRIPT = lock_check


# ---------------------------------------------------------------- reading the files

def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    out, pending = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and not pending):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        op, _, args = (pending + line).partition(" ")
        out.append((op.upper(), " ".join(args.split())))
        pending = ""
    return out


DOCKER = instructions(DOCKERFILE.read_text())


def env_vars() -> dict[str, str]:
    out = {}
    for op, args in DOCKER:
        if op == "ENV":
            out.update(part.split("=", 1) for part in shlex.split(args))
    return out


def copies() -> dict[str, Path]:
    """Image path -> repository file, for every single-file COPY."""
    out = {}
    for op, args in DOCKER:
        if op != "COPY":
            continue
        parts = [p for p in shlex.split(args) if not p.startswith("--")]
        *sources, dest = parts
        for src in sources:
            target = PurePosixPath(dest) / PurePosixPath(src).name if dest.endswith("/") else PurePosixPath(dest)
            out[str(target)] = REPO / src
    return out


def pip_installs() -> list[dict]:
    """Every install in a RUN, `<venv>/bin/python -m pip install ...` or `<bin>/uv pip install --python
    <venv>/bin/python ...`: its venv, flags, -r and -c files."""
    found = []
    for index, (op, args) in enumerate(DOCKER):
        if op != "RUN":
            continue
        for command in args.split("&&"):
            words = [w for w in shlex.split(command) if not w.startswith("--mount=")]
            if words[:1] and words[0].endswith("/bin/python") and words[1:4] == ["-m", "pip", "install"]:
                venv, rest = PurePosixPath(words[0]).parent.parent, words[4:]
            elif words[:1] and words[0].endswith("/bin/uv") and words[1:3] == ["pip", "install"] \
                    and "--python" in words:
                rest = words[3:]
                venv = PurePosixPath(rest[rest.index("--python") + 1]).parent.parent
            else:
                continue
            found.append({
                "index": index,
                "venv": str(venv),
                "flags": {w for w in rest if w.startswith("--")},
                "requirements": [rest[i + 1] for i, w in enumerate(rest) if w == "-r"],
                "constraints": [rest[i + 1] for i, w in enumerate(rest) if w == "-c"],
            })
    return found


def backend_installs() -> list[dict]:
    """The installs of a backend's packages: every one but the installer's own (pip and uv, requirements/pip.lock)."""
    files = copies()
    return [i for i in pip_installs() if [files.get(r) for r in i["requirements"]] != [PIP_LOCK]]


def pins(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)", line)
        if match:
            out[canonicalize_name(match[1])] = match[2]
    return out


def requirement_names(path: Path) -> set[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return {canonicalize_name(Requirement(line).name) for line in lines if line and not line.startswith("-")}


def venv_of(contender: contenders.Contender) -> str:
    python = env_vars().get(contender.python_var)
    assert python, f"the Dockerfile sets no ENV {contender.python_var} for {contender.name}"
    return str(PurePosixPath(python).parent.parent)


# ---------------------------------------------------------------- hadolint

def hadolint() -> str:
    beside = Path(sys.executable).parent / "hadolint"
    found = str(beside) if beside.exists() else shutil.which("hadolint")
    assert found, "hadolint not found next to the test interpreter: install requirements.lock (make setup)"
    return found


def test_hadolint_reports_nothing():
    done = subprocess.run([hadolint(), "--no-color", str(DOCKERFILE)], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr


def test_every_hadolint_ignore_says_why():
    lines = DOCKERFILE.read_text().splitlines()
    for number, line in enumerate(lines):
        if line.strip().startswith("# hadolint ignore="):
            above = lines[number - 1].strip() if number else ""
            assert above.startswith("#") and "hadolint" not in above and len(above) > 10, \
                f"Dockerfile line {number + 1}: explain the ignored rule in a comment on the line above"


# ---------------------------------------------------------------- the image

def test_base_image_is_the_smallest_pinned_cuda_image():
    """The wheels bring CUDA and cuDNN: no cudnn or runtime flavour, whose libraries would be a second copy."""
    froms = [args for op, args in DOCKER if op == "FROM"]
    assert froms == ["${BASE_IMAGE}"]   # the published default below; a Debian 12 base for local builds
    [default] = [args.split("=", 1)[1] for op, args in DOCKER if op == "ARG" and args.startswith("BASE_IMAGE=")]
    # the tag says what it is, the digest pins what is built
    assert re.fullmatch(r"nvidia/cuda:\d+\.\d+\.\d+-base-ubuntu22\.04@sha256:[0-9a-f]{64}", default), default


def test_the_image_accepts_every_driver_some_backend_accepts():
    """NVIDIA_REQUIRE_CUDA must not refuse a driver the CUDA 12 wheels run on (525+)."""
    assert env_vars()["NVIDIA_REQUIRE_CUDA"] == "cuda>=12.0"
    floors = (REPO / "docs" / "container.md").read_text()
    for floor in ("525.60.13", "580.65.06"):
        assert floor in floors, f"docs/container.md must state the driver floor {floor}"


def test_image_installs_from_the_project_lock_and_the_gpu_locks():
    files = copies()
    installs = pip_installs()
    assert installs, "no pip install found in the Dockerfile"
    for install in installs:
        assert {"--no-deps", "--require-hashes"} <= install["flags"], install
    venvs = {i["venv"] for i in installs}
    tools = {i["venv"] for i in installs if i not in backend_installs()}
    assert tools == venvs, f"{venvs - tools}: pip and uv are not installed from requirements/pip.lock"
    for install in backend_installs():
        constraints = [files.get(c) for c in install["constraints"]]
        assert PROJECT_LOCK in constraints, f"{install['venv']}: not installed with -c requirements.lock"
        for requirement in install["requirements"]:
            source = files.get(requirement)
            assert source and source.parent == REPO / "requirements" and source.name.startswith("gpu-"), \
                f"{install['venv']}: installs {requirement}, which is not a GPU lock COPYed from requirements/"
            assert source.exists(), f"{source} is missing: run make gpu-lock"


def test_each_contender_gets_its_backends_gpu_build_in_its_own_venv():
    files = copies()
    installs = backend_installs()
    venvs = {}
    for name, contender in contenders.registry().items():
        venv = venv_of(contender)
        venvs.setdefault(contender.backend, set()).add(venv)
        locks = [files[r] for i in installs if i["venv"] == venv for r in i["requirements"]]
        assert locks, f"{name}: nothing is pip-installed into {venv}"
        pinned = {}
        for lock in locks:
            pinned.update(pins(lock))
        missing = [p for p in contender.packages if canonicalize_name(p) not in pinned]
        assert not missing, f"{name}: {venv} does not install {', '.join(missing)}"
        # The CUDA build: the venv brings its own cuDNN (nvidia-cudnn-cu12 / -cu13).
        assert any(p.startswith("nvidia-cudnn") for p in pinned), f"{name}: {venv} installs no CUDA libraries"
    # One venv per backend, and no two backends share one.
    assert all(len(v) == 1 for v in venvs.values()), venvs
    assert len({next(iter(v)) for v in venvs.values()}) == len(venvs), venvs


def test_code_is_copied_after_every_install():
    last_install = max(i["index"] for i in pip_installs())
    code_copies = [index for index, (op, args) in enumerate(DOCKER)
                   if op == "COPY" and shlex.split(args)[-2:-1] == ["."]]
    assert code_copies and min(code_copies) > last_install


def test_runtime_environment():
    env = env_vars()
    # The same values kerasbench/launch.py sets before any framework import.
    for key in ("TF_FORCE_GPU_ALLOW_GROWTH", "XLA_PYTHON_CLIENT_PREALLOCATE"):
        assert env.get(key) == launch.COMMON_ENV[key], key
    assert env.get("DVC_NO_ANALYTICS") == "1"
    # dvc and the framework-free stages run from the first venv on PATH: it must hold dvc.
    first = env["PATH"].split(":")[0]
    assert first.startswith("/opt/venvs/") and first.endswith("/bin")
    runner = [files for venv, files in _locks_by_venv().items() if f"{venv}/bin" == first]
    assert runner and all("dvc" in pins(lock) for lock in runner[0])


def _locks_by_venv() -> dict[str, list[Path]]:
    files = copies()
    out: dict[str, list[Path]] = {}
    for install in backend_installs():
        out.setdefault(install["venv"], []).extend(files[r] for r in install["requirements"])
    return out


def test_runs_dvc_repro_as_a_non_root_user_on_a_safe_repository():
    users = [args for op, args in DOCKER if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert [args for op, args in DOCKER if op == "CMD"][-1] == '["dvc", "repro"]'
    assert any(op == "RUN" and "safe.directory /work" in args for op, args in DOCKER)
    assert [args for op, args in DOCKER if op == "WORKDIR"][-1] == "/work"
    entrypoint = [args for op, args in DOCKER if op == "ENTRYPOINT"][-1]
    script = [src for dest, src in copies().items() if dest in entrypoint]
    assert script and os.access(script[0], os.X_OK) and script[0].read_text().rstrip().endswith('exec "$@"')


# ---------------------------------------------------------------- the GPU locks

@pytest.mark.parametrize("venv", LOCK_SCRIPT.BACKENDS)
def test_gpu_lock_keeps_the_project_locks_versions(venv):
    project, gpu = pins(PROJECT_LOCK), pins(LOCK_SCRIPT.lock_path(venv))
    differ = {name: (project[name], gpu[name]) for name in project.keys() & gpu.keys() if project[name] != gpu[name]}
    assert not differ, (f"requirements/gpu-{venv}.lock disagrees with requirements.lock (project, gpu): {differ}; "
                        f"run kerasbench lock gpu-{venv}")


@pytest.mark.parametrize("venv", LOCK_SCRIPT.BACKENDS)
def test_gpu_lock_pins_its_inputs_with_hashes(venv):
    path = LOCK_SCRIPT.lock_path(venv)
    gpu = pins(path)
    made = lock_tool.LOCKS[f"gpu-{venv}"]
    assert REPO / made.output == path and "requirements.lock" in made.constraints
    wanted = set().union(*(requirement_names(REPO / f) for f in made.inputs))
    assert not wanted - gpu.keys(), f"{path.name} lacks {sorted(wanted - gpu.keys())}"
    entries = re.split(r"\n(?=\S)", "\n".join(line for line in path.read_text().splitlines()
                                               if not line.lstrip().startswith("#")).strip())
    assert len(entries) == len(gpu)
    assert all(re.search(r"--hash=sha256:[0-9a-f]{64}", entry) for entry in entries)


def test_lock_script_asks_pypi_only(monkeypatch):
    monkeypatch.setenv("PIP_FIND_LINKS", "/opt/wheels")
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "file:///somewhere")
    env = LOCK_SCRIPT.clean_env()
    assert env["PIP_CONFIG_FILE"] == os.devnull
    assert not {"PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL"} & env.keys()
    assert LOCK_SCRIPT.INDEX == "https://pypi.org/simple"


@pytest.mark.e2e
@pytest.mark.parametrize("venv", LOCK_SCRIPT.BACKENDS)
def test_gpu_lock_installs_for_the_image_platform_from_pypi(venv, tmp_path):
    """What `docker build` installs, resolved on PyPI for CPython 3.11 / glibc 2.35 / x86-64 with hashes."""
    problem = LOCK_SCRIPT.check(venv, tmp_path)
    offline = r"NewConnectionError|Temporary failure in name resolution|Network is unreachable"
    if problem and re.search(offline, problem):
        pytest.skip(f"PyPI is not reachable from here: {problem.splitlines()[-1]}")
    assert problem is None, f"requirements/gpu-{venv}.lock no longer installs: {problem[-2000:]}"


def test_lock_check_describes_the_image_platform():
    args = LOCK_SCRIPT.target_platform_args()
    platforms = [args[i + 1] for i, a in enumerate(args) if a == "--platform"]
    assert "manylinux_2_18_x86_64" in platforms and "manylinux_2_35_x86_64" in platforms  # Ubuntu 22.04: glibc 2.35
    assert "manylinux_2_36_x86_64" not in platforms
    assert args[args.index("--python-version") + 1] == "3.11"


def test_entrypoint_refreshes_the_fingerprints_before_the_command(tmp_path):
    """The checkout moved into the container: its GPUs, driver and venvs land where DVC sees them."""
    shutil.copytree(REPO / "kerasbench", tmp_path / "kerasbench", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "dvc.yaml", tmp_path / "dvc.yaml")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["sh", str(REPO / "docker/entrypoint.sh"), "ls", "results/fingerprints"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "fingerprint: 10 contenders, 10 changed" in done.stdout
    assert "keras3_jax.json" in done.stdout.splitlines()   # written before the command ran
