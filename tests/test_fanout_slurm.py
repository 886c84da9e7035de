"""The fan-out end to end on a real one-node Slurm cluster, with real git and DVC, no mocks.

A copy of this work tree is committed into a temporary repository with a local bare repository
as `origin` and a local folder as the DVC remote. A tiny synthetic grid (two contenders x two
seeds, 2,000 images, one epoch) is submitted and waited for while one task's stage process is
killed; that cell fails and `status` names it, the others are collected; a second submit runs
only that cell, a third runs nothing, and the final collect has all four experiments.
Without Slurm the tests skip (`apt-get install slurm-wlm munge`); with CI=true they fail.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from kerasbench.supervise import CHILD_VAR
from tests import helpers
from tests.helpers import write_small_params
from tests.slurm import PACKAGES, Cluster, missing

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
FRAMEWORKS = ["keras3_jax", "keras3_torch"]
KILLED = 1                       # the cell whose stage process is killed: keras3_jax, seed 1
NAMES = [f"tiny-frameworks={fw}-seeds={seed}" for fw in FRAMEWORKS for seed in (0, 1)]

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cluster():
    problem = None
    if missing():
        problem = f"Slurm is not installed ({', '.join(missing())} missing): apt-get install {PACKAGES}"
    elif os.geteuid() != 0:
        problem = "the test Slurm cluster runs its daemons as root"
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(problem, pytrace=False)
        pytest.skip(problem)
    base = Path(tempfile.mkdtemp(prefix="kerasbench-slurm-"))   # munged needs a folder everyone can reach
    cluster = Cluster(base)
    try:
        yield cluster.start()
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)


def _copy_work_tree(dest: Path) -> None:
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, listed):
        if (ROOT / name).is_file() and not name.startswith(".fanout/"):
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)


@pytest.fixture(scope="module")
def env(cluster, tmp_path_factory) -> dict[str, str]:
    scratch = tmp_path_factory.mktemp("scratch")
    return helpers.tool_env(cluster.env, FANOUT_SCRATCH=str(scratch))


def sh(repo: Path, env: dict, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    return helpers.sh(repo, *cmd, env=env, check=check)


def fanout(repo: Path, env: dict, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return sh(repo, env, sys.executable, "-m", "kerasbench", "fanout", *args, check=check)


@pytest.fixture(scope="module")
def repo(tmp_path_factory, env) -> Path:
    top = tmp_path_factory.mktemp("fanout")
    repo = top / "repo"
    _copy_work_tree(repo)
    write_small_params(repo, repo, FRAMEWORKS, 2000, 500, epochs=1, evaluate_repeats=1)
    (repo / "grids/tiny.yaml").write_text(yaml.safe_dump(
        {"name": "tiny", "params": {"frameworks": [[fw] for fw in FRAMEWORKS], "seeds": [[0], [1]]}}))
    sh(repo, env, "git", "init", "-q", "-b", "main")
    sh(repo, env, "git", "init", "-q", "--bare", str(top / "origin.git"))
    sh(repo, env, "git", "remote", "add", "origin", str(top / "origin.git"))
    sh(repo, env, "dvc", "remote", "add", "-d", "shared", str(top / "dvc-store"))
    sh(repo, env, "git", "add", "-A")
    sh(repo, env, "git", "commit", "-qm", "tiny grid")
    return repo


def _trainer_pids(cluster: Cluster, job: str, index: int) -> list[int]:
    """The pids of a task's trainers: `python -m kerasbench.child` processes run under the stage's supervisor
    (CHILD_VAR in their environment). scontrol lists every pid of the task, in no fixed order."""
    ids = subprocess.run(["squeue", "--noheader", "--array", "--jobs", job, "--format", "%i %A"], env=cluster.env,
                         capture_output=True, text=True).stdout.split("\n")
    own = [line.split()[1] for line in ids if line.startswith(f"{job}_{index} ")]
    if not own:
        return []
    listed = subprocess.run(["scontrol", "listpids", own[0]], env=cluster.env, capture_output=True, text=True).stdout
    pids = []
    for line in listed.splitlines()[1:]:
        try:
            cmdline = Path(f"/proc/{line.split()[0]}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            environ = Path(f"/proc/{line.split()[0]}/environ").read_bytes().split(b"\0")
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if " -m kerasbench.child " in cmdline and any(var.startswith(CHILD_VAR.encode() + b"=") for var in environ):
            pids.append(int(line.split()[0]))
    return pids


def _kill_mid_run(repo: Path, cluster: Cluster, index: int, timeout_s: float = 600) -> str:
    """Wait until the cell's task is training, then SIGKILL its trainer (as the out-of-memory killer
    would: not the job, not the stage's supervisor)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state_file = repo / ".fanout/tiny/state.json"
        if state_file.is_file():
            entry = json.loads(state_file.read_text())["cells"][str(index)]
            log = repo / entry["log"]
            if log.is_file() and "Running stage 'train@" in log.read_text():
                for pid in _trainer_pids(cluster, entry["job"], index):
                    os.kill(pid, signal.SIGKILL)
                    return entry["job"]
        time.sleep(0.2)
    raise AssertionError(f"cell {index} never reached its train stage")


def test_submit_and_wait_with_one_task_killed(repo, env, cluster):
    plan = fanout(repo, env, "plan", "grids/tiny.yaml").stdout
    assert all(name in plan for name in NAMES), plan
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "kerasbench", "fanout", "submit", "grids/tiny.yaml",
                             "--engine", "slurm",
                             "--wait", "--poll-s", "2"], cwd=repo, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        job = _kill_mid_run(repo, cluster, KILLED)
        out, _ = proc.communicate(timeout=900)
    finally:
        proc.kill()
    print(f"submit --wait with one task killed: {time.monotonic() - started:.0f} s")
    assert proc.returncode == 1, out                      # a cell failed
    assert re.search(rf"submitted Slurm job {job}: 4 task\(s\), cells 0,1,2,3", out), out
    for index, name in enumerate(NAMES):
        assert f"{job}_{index} {name}: finished" in out, out
    assert re.search(rf"^ +{KILLED}  failed +{NAMES[KILLED]} +{job}_{KILLED}$", out, re.M), out
    assert "3 done, 1 failed" in out


def test_status_names_the_failed_cell_with_its_log(repo, env):
    out = fanout(repo, env, "status", "grids/tiny.yaml").stdout
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines() if re.match(r"^ +\d+  ", line)}
    assert rows == {"0": "done", "1": "failed", "2": "done", "3": "done"}, out
    assert "| exit code" in out and f"cell-{KILLED}.log" in out
    # the log's last lines: what died, and how
    assert "error: the stage's process died from SIGKILL" in out, out
    assert "train@keras3_jax-1" in out and "exited with 137" in out, out


def test_collect_takes_the_other_cells(repo, env):
    out = fanout(repo, env, "collect", "grids/tiny.yaml").stdout
    assert "pulled 3 of 4 experiment(s)" in out and f"not collected: cell {KILLED} {NAMES[KILLED]}" in out
    assert "left out of the report, incomplete over seeds: keras3_jax (has seed(s) [0] of [0, 1])" in out
    assert "tiny: 1 contender(s) x 2 seed(s) (keras3_torch; seeds 0, 1)" in out


def test_second_submit_runs_only_the_failed_cell(repo, env, cluster):
    out = fanout(repo, env, "submit", "grids/tiny.yaml", "--engine", "slurm", "--wait", "--poll-s", "2").stdout
    assert "origin already holds 3 of 4 experiment(s)" in out
    assert re.search(rf"1 task\(s\), cells {KILLED}, a node each \(--exclusive\);", out), out
    assert "4 done" in out
    again = fanout(repo, env, "submit", "grids/tiny.yaml", "--engine", "slurm", "--wait").stdout
    assert "origin already holds 4 of 4" in again and "nothing to submit" in again
    assert cluster.jobs() == []


def test_collect_brings_back_all_four_experiments(repo, env):
    started = time.monotonic()
    out = fanout(repo, env, "collect", "grids/tiny.yaml").stdout
    print(f"collect: {time.monotonic() - started:.0f} s\n{out}")
    assert "pulled 4 of 4 experiment(s)" in out and "not collected" not in out
    assert "tiny: 2 contender(s) x 2 seed(s) (keras3_jax, keras3_torch; seeds 0, 1)" in out
    table = [line for line in out.splitlines() if line.startswith("|")]
    header = [c.strip() for c in table[0].strip("|").split("|")]
    assert {"keras3_jax.test_accuracy", "keras3_torch.test_accuracy"} <= set(header), header
    for name in NAMES:
        row = next(line for line in table if f"[{name}]" in line)
        cells = dict(zip(header, (c.strip() for c in row.strip("|").split("|"))))
        fw = name.split("=")[1].removesuffix("-seeds")
        assert re.fullmatch(r"0\.\d+", cells[f"{fw}.test_accuracy"]), row
    report = (repo / ".fanout/tiny/report/report.md").read_text()
    assert "| keras3_jax " in report and "| keras3_torch " in report
    assert "0, 1 (2 per contender)" in report and "median (min–max) over the seeds" in report
    assert re.search(r"\| keras3_torch +\|.*\(\d+(\.\d+)?–\d+(\.\d+)?\)", report)   # a min–max spread
    # every training process recorded where Slurm placed it, and that the node was its own
    refs = sh(repo, env, "git", "for-each-ref", "refs/exps", "--format=%(refname)").stdout.split()
    assert len(refs) == 4, refs
    for ref in refs:
        names = sh(repo, env, "git", "ls-tree", "-r", "--name-only", ref, "metrics/train").stdout.split()
        recorded = [json.loads(sh(repo, env, "git", "show", f"{ref}:{n}").stdout)
                    for n in names if n.endswith(".env.json")]
        assert recorded and all(e["cluster"]["placement"] == "exclusive" for e in recorded), ref
        assert all(e["cluster"]["slurm_job"] for e in recorded), ref
    assert sh(repo, env, "git", "status", "--porcelain").stdout == ""
    assert list(Path(env["FANOUT_SCRATCH"]).iterdir()) == []   # every task removed its scratch clone
