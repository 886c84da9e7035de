"""The image itself, built and run here: scripts/image.sh builds the Dockerfile on a local Debian 12 base
(debootstrap, podman or docker), then the tiny pipeline runs inside it for every default contender, the
checkout mounted at /work as docs/container.md says, as a non-root user and without network; the host
then checks what came back (results, report, `dvc status` clean, every file its user's).

Its own tier, `make test-image` (CI runs it after the e2e tier). The build lends podman this machine's
uv cache (UV_CACHE), which `make setup` and test_gpu_locks' `make setup-gpu` filled, and reuses the
engine's layers from an earlier build: both are keyed on content (a lock or the code changed, that layer
and those after it rebuild). Figures: docs/container.md. Without podman or docker the tests skip; with
CI=true they fail.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.helpers import BIN, ROOT, assert_trained_under, tiny_checkout, tool_env

pytestmark = [pytest.mark.e2e, pytest.mark.image]
SCRIPT = ROOT / "scripts" / "image.sh"
IMAGE = "localhost/kerasbench:test"
PYTHONS = {b: f"/opt/venvs/{b}/bin/python" for b in ("tensorflow", "jax", "torch")}   # the Dockerfile's ENV


def engine_answers() -> bool:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "info"], capture_output=True).returncode == 0:
        return True
    return shutil.which("podman") is not None


def image_sh(*args: str, timeout: float) -> subprocess.CompletedProcess:
    uv_cache = subprocess.run([str(BIN / "uv"), "cache", "dir"], capture_output=True, text=True).stdout.strip()
    env = {**os.environ, "IMAGE": IMAGE, **({"UV_CACHE": uv_cache} if uv_cache and shutil.which("podman") else {})}
    return subprocess.run([str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def image() -> str:
    if not engine_answers():
        message = "neither a docker daemon nor podman: apt-get install podman runc debootstrap uidmap"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    started = time.perf_counter()
    built = image_sh("build", timeout=3600)
    assert built.returncode == 0, built.stdout[-4000:] + built.stderr[-4000:]
    print(f"scripts/image.sh build: {time.perf_counter() - started:.0f} s")
    return IMAGE


@pytest.fixture(scope="module")
def ran(image, tmp_path_factory) -> tuple[Path, int, str]:
    """A tiny checkout trained inside the image: (checkout, the uid that owns it, dvc status's output)."""
    frameworks = yaml.safe_load((ROOT / "params.yaml").read_text())["frameworks"]
    repo = tiny_checkout(tmp_path_factory.mktemp("image") / "repo", frameworks, tool_env())
    owner = os.getuid() or 1000          # image.sh runs as the checkout's owner, the image's user for root's
    if os.getuid() == 0:
        subprocess.run(["chown", "-R", f"{owner}:{owner}", str(repo)], check=True)
    started = time.perf_counter()
    trained = image_sh("run", str(repo), timeout=3600)
    assert trained.returncode == 0, trained.stdout[-4000:] + trained.stderr[-4000:]
    print(f"dvc repro in the image, {len(frameworks)} contenders: {time.perf_counter() - started:.0f} s")
    status = image_sh("run", str(repo), "dvc", "status", timeout=600)
    assert status.returncode == 0, status.stdout[-4000:] + status.stderr[-4000:]
    return repo, owner, status.stdout


def test_every_default_contender_trains_in_the_image_under_its_backends_venv(ran):
    repo, _, _ = ran
    frameworks = yaml.safe_load((repo / "params.yaml").read_text())["frameworks"]
    assert_trained_under(repo, frameworks, PYTHONS, "cpu")   # this machine has no GPU: the CUDA builds on CPU


def test_the_pipeline_is_up_to_date_afterwards(ran):
    _, _, status = ran
    assert "Data and pipelines are up to date." in status, status


def test_every_file_the_container_wrote_belongs_to_the_checkouts_owner(ran):
    repo, owner, _ = ran
    strangers = [str(p.relative_to(repo)) for p in repo.rglob("*") if p.lstat().st_uid != owner]
    assert not strangers, f"not owned by uid {owner}: {strangers[:10]}"


def test_the_container_runs_without_network_as_the_image_user_for_a_root_checkout(image, tmp_path):
    """What `run` promises: no network, and never root, even where the checkout is root's (then the image's user)."""
    probe = tmp_path / "probe"
    probe.mkdir()
    who = image_sh("run", str(probe), "sh", "-c", "id -u; cat /sys/class/net/*/operstate 2>/dev/null | sort -u",
                   timeout=300)
    assert who.returncode == 0, who.stderr[-2000:]
    lines = who.stdout.split()
    assert lines[0] == str(os.getuid() or 1000)
    assert lines[1:] in ([], ["unknown"]), f"network interfaces up in the container: {lines[1:]}"
