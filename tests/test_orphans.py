"""No orphan: a real `dvc repro` killed with SIGKILL mid-training takes its stage and trainer with it (also
behind a `sh -c` that outlives DVC), and the next `dvc repro` runs alone
(kerasbench/guard.py, kerasbench/supervise.py)."""
from __future__ import annotations

import os
import signal
import subprocess
import time

import psutil
import pytest

from kerasbench.supervise import CHILD_VAR
from tests.helpers import BIN, ROOT, pipeline_copy, sh, tool_env, write_small_params

pytestmark = pytest.mark.e2e


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def trainer_of(process: psutil.Process) -> psutil.Process | None:
    """The supervised training child among the process's descendants (it carries CHILD_VAR)."""
    for child in process.children(recursive=True):
        try:
            if "kerasbench.child" in " ".join(child.cmdline()) and CHILD_VAR in child.environ():
                return child
        except psutil.Error:
            continue
    return None


def test_killing_dvc_leaves_no_trainer_and_the_next_repro_runs(tmp_path):
    repo = pipeline_copy(tmp_path / "repo")
    write_small_params(ROOT, repo, ["torch_native"], 3000, 100, epochs=40, evaluate_repeats=1)
    sh(repo, str(BIN / "python"), "-m", "kerasbench.fingerprint")
    sh(repo, "git", "init", "-q")
    sh(repo, str(BIN / "dvc"), "init", "-q")
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "tiny, long training")
    # SHELL=/bin/sh (dash on Debian; DVC's choice where SHELL is unset, as in CI) keeps a shell between DVC
    # and the stage, which outlives DVC: the stage must watch DVC itself, not only its direct parent.
    dvc = subprocess.Popen([str(BIN / "dvc"), "repro"], cwd=repo, env=tool_env(SHELL="/bin/sh"),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 300
    trainer = None
    while trainer is None and time.monotonic() < deadline and dvc.poll() is None:
        time.sleep(0.5)
        trainer = trainer_of(psutil.Process(dvc.pid))
    assert trainer is not None, "the training child never started"
    stage = trainer.parent()
    os.kill(dvc.pid, signal.SIGKILL)          # as the review did: DVC itself, not its process group
    dvc.wait()
    deadline = time.monotonic() + 20
    while (alive(stage.pid) or alive(trainer.pid)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not alive(stage.pid) and not alive(trainer.pid), "a stage or trainer outlived dvc repro"
    assert not (repo / "metrics/train/torch_native-0.json").exists()   # nothing written out of step with dvc.lock
    again = sh(repo, str(BIN / "dvc"), "repro", "-s", "train@torch_native-0", timeout=600)
    assert "Running stage 'train@torch_native-0'" in again.stdout and "another run" not in again.stderr
    assert (repo / "metrics/train/torch_native-0.json").exists()
