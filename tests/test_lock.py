"""kerasbench lock (kerasbench/cli/lock.py): uv pip compile on a copy of the requirements, PyPI asked."""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from kerasbench.cli import lock

ROOT = Path(__file__).resolve().parents[1]
PYPI_ONLY = ["pip", "gpu-tensorflow", "gpu-jax", "gpu-torch"]   # the CPU pair also needs torch's CPU wheel


@pytest.fixture
def checkout(tmp_path, monkeypatch) -> Path:
    shutil.copytree(ROOT / "requirements", tmp_path / "requirements")
    shutil.copy(ROOT / "requirements.lock", tmp_path / "requirements.lock")
    monkeypatch.setattr(lock, "ROOT", tmp_path)
    return tmp_path


def locks(root: Path) -> dict[str, bytes]:
    return {name: (root / lock.LOCKS[name].output).read_bytes() for name in lock.LOCKS}


def test_every_lock_names_its_inputs_and_platform():
    for name, made in lock.LOCKS.items():
        assert all((ROOT / f).is_file() for f in made.inputs), name
        cmd = lock.command(name, "/wheels", upgrade=False)
        assert cmd[cmd.index("--python-version") + 1] == "3.11" and "--generate-hashes" in cmd
        assert cmd[cmd.index("--python-platform") + 1] == f"x86_64-manylinux_{made.glibc}"
        assert ("--index-url" in cmd) != made.only_torch and "--upgrade" not in cmd
        assert (ROOT / made.output).read_text().startswith(f"# {made.output}: ")   # each lock says how it was made
    assert lock.LOCKS["gpu-jax"].glibc == "2_35" and lock.LOCKS["cpu"].omit == ("torch", "pip", "uv")


def test_versions_keep_the_pins_and_drop_hashes_and_comments():
    text = "# made by\nnumpy==2.1.0 \\\n    --hash=sha256:ab \\\n    --hash=sha256:cd\n    # via -r x.in\npip==26.3\n"
    assert lock.versions(text) == "numpy==2.1.0\npip==26.3\n"


def test_a_local_wheel_gets_its_sha256(tmp_path):
    content = b"not really a wheel"
    (tmp_path / "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl").write_bytes(content)
    pinned = lock.hash_local_wheel("torch==2.13.0+cpu\n    # via -r t.in\n", tmp_path)
    digest = hashlib.sha256(content).hexdigest()
    assert pinned == f"torch==2.13.0+cpu \\\n    --hash=sha256:{digest}\n    # via -r t.in\n"
    with pytest.raises(SystemExit, match="has no torch 2.14.0 wheel"):
        lock.hash_local_wheel("torch==2.14.0\n", tmp_path)


def test_a_failed_resolution_leaves_the_lock_as_it_was(checkout):
    (checkout / "requirements" / "pip.in").write_text("pip==0.0.0.1\n")   # no such release
    before = (checkout / "requirements" / "pip.lock").read_bytes()
    with pytest.raises(SystemExit, match="pip: uv could not resolve"):
        lock.make("pip", lock.TORCH_FROM, upgrade=False)
    assert (checkout / "requirements" / "pip.lock").read_bytes() == before


@pytest.mark.e2e
def test_locking_twice_changes_nothing(checkout):
    """The committed locks are what the command makes from the .in files, and making them again
    changes no byte (uv prefers the pinned versions; every hash is read from PyPI again)."""
    committed = locks(checkout)
    assert lock.main(PYPI_ONLY) == 0
    once = locks(checkout)
    assert lock.main(PYPI_ONLY) == 0
    assert locks(checkout) == once
    assert once == committed, [name for name in once if once[name] != committed[name]]
