"""The fan-out without a cluster: grid parsing, names and validation, the task script (run by bash
against a local origin), cell states, the Kubernetes manifest, and the command line's refusals."""
from __future__ import annotations

import datetime
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from kerasbench.cli import fanout
from kerasbench.fanout import collect, grid, kubernetes, slurm, state, task
from kerasbench.fanout.grid import Cell, GridError
from kerasbench.fanout.repo import FanoutError
from kerasbench.params import FRAMEWORKS
from tests.helpers import GIT_IDENTITY, git

ROOT = Path(__file__).resolve().parents[1]
PARAMS = (ROOT / "params.yaml").read_text()
ISSUE_GRID = {
    "name": "batch-sweep",
    "params": {"frameworks": [["keras3_jax"], ["keras3_torch"]], "seeds": [[0], [1], [2]],
               "train.batch_size": [32, 256]},
    "cells": [{"frameworks": ["tf_keras"], "train.jit_compile": True}],
}
GIT_ENV = {**GIT_IDENTITY, "DVC_NO_ANALYTICS": "1"}


def parse(raw: dict) -> grid.Grid:
    return grid.parse(raw, Path("grids/x.yaml"), PARAMS)


def problems(raw: dict) -> list[str]:
    with pytest.raises(GridError) as err:
        parse(raw)
    return str(err.value).splitlines()


def valid_ref(name: str) -> bool:
    ref = f"refs/exps/ab/{'c' * 38}/{name}"
    return subprocess.run(["git", "check-ref-format", ref]).returncode == 0


# ---------------------------------------------------------------- the grid

def test_example_grid_is_every_default_contender_times_three_seeds():
    g = grid.load(ROOT / "grids/example.yaml", ROOT / "params.yaml")
    default = yaml.safe_load((ROOT / "params.yaml").read_text())["frameworks"]
    assert len(g.cells) == len(default) * 3 and set(default) <= set(FRAMEWORKS)
    assert {tuple(c.overrides["frameworks"]) for c in g.cells} == {(fw,) for fw in default}
    assert {tuple(c.overrides["seeds"]) for c in g.cells} == {(0,), (1,), (2,)}


def test_cells_are_the_product_then_the_explicit_cells():
    g = parse(ISSUE_GRID)
    assert len(g.cells) == 2 * 3 * 2 + 1
    assert [c.index for c in g.cells] == list(range(13))
    assert g.cells[0].sets == ["frameworks=[keras3_jax]", "seeds=[0]", "train.batch_size=32"]
    assert g.cells[0].name == "batch-sweep-frameworks=keras3_jax-seeds=0-batch_size=32"
    assert g.cells[1].name == "batch-sweep-frameworks=keras3_jax-seeds=0-batch_size=256"
    assert g.cells[-1].sets == ["frameworks=[tf_keras]", "train.jit_compile=true"]
    assert g.cells[-1].name == "batch-sweep-frameworks=tf_keras-jit_compile=true"
    names = [c.name for c in g.cells]
    assert len(set(names)) == len(names) and all(valid_ref(n) for n in names)
    assert [c.name for c in parse(ISSUE_GRID).cells] == names   # stable


def test_names_stay_valid_refs_and_unique_when_values_are_awkward():
    odd = {"train.optimizer": "a b/c", "data.source": "https://example.org/x..y.tar.gz@{1}"}
    name = grid.cell_name("g", odd)
    assert valid_ref(name) and name.startswith("g-optimizer=a_b_c-source=") and len(name) <= grid.MAX_NAME
    assert grid.cell_name("g", {**odd, "train.optimizer": "a b c"}) != name   # a hash keeps them apart
    long = grid.cell_name("g", {"data.source": "x" * 300})
    assert len(long) <= grid.MAX_NAME and valid_ref(long)
    # two keys with the same last part keep their whole dotted key
    assert grid.cell_name("g", {"train.batch_size": 8, "evaluate.batch_size": 16}) == \
        "g-train.batch_size=8-evaluate.batch_size=16"


@pytest.mark.parametrize("value, text", [
    (32, "32"), (0.001, "0.001"), (True, "true"), (None, "null"), ("adam", "adam"),
    ("a b", "'a b'"), ("it's", "'it\\'s'"), (["keras3_jax", "tf_keras"], "[keras3_jax,tf_keras]"),
    ({"train": 100, "test": 10}, "{train:100,test:10}"),
    # strings stay strings: what DVC's parser would read as another type is quoted
    ("true", "'true'"), ("null", "'null'"), ("0123", "'0123'"), ("1e-3", "'1e-3'"), ("NaN", "'NaN'"),
])
def test_values_are_written_in_dvcs_override_grammar(value, text):
    assert grid.render(value) == text


def test_grid_values_are_taken_literally(tmp_path):
    """What DVC writes into params.yaml for each cell is exactly the grid's value, type included."""
    g = parse({"name": "x", "cells": [{"data.md5": "0123456789abcdef0123456789abcdef"},
                                      {"data.source": "null", "data.md5": "00000000000000000000000000000000"}]})
    applied = [grid._apply(PARAMS, c.sets, tmp_path) for c in g.cells]
    assert applied[0]["data"]["md5"] == "0123456789abcdef0123456789abcdef"
    assert applied[1]["data"]["source"] == "null"             # the string, not None
    lines = problems({"name": "x", "cells": [{"train.jit_compile": "true"}]})   # a string where a bool is needed
    assert lines == ["grids/x.yaml: cell 0 (x-jit_compile=true): params.yaml: train.jit_compile: Input should be "
                     "'default', True or False (got 'true')"]


@pytest.mark.parametrize("value", ["${oc.env:HOME}", "a${IFS}b", "line\nbreak", ["ok", "${x}"]])
def test_a_value_dvc_would_resolve_is_refused_naming_the_cell(value):
    lines = problems({"name": "x", "cells": [{"data.source": value}]})
    assert len(lines) == 1 and lines[0].startswith("grids/x.yaml: cell 0 (x-source="), lines
    assert "grid values are taken literally" in lines[0]


def test_a_grid_beyond_the_cap_is_refused_at_once():
    started = time.perf_counter()
    lines = problems({"name": "x", "params": {"seed": list(range(3)), "train.epochs": list(range(1, 4)),
                                             "train.batch_size": list(range(1, 4)), "evaluate.repeats": [1, 2, 3],
                                             "evaluate.batch_size": [1, 2, 3], "data.limit_train": [1, 2, 3],
                                             "data.limit_test": [1, 2, 3]}})
    assert time.perf_counter() - started < 1   # counted, not expanded
    assert lines == ["grids/x.yaml: params: 3 seed x 3 train.epochs x 3 train.batch_size x 3 evaluate.repeats x "
                     "3 evaluate.batch_size x 3 data.limit_train x 3 data.limit_test = 2,187 cells, more than the "
                     "1,000 one grid may hold (Slurm's default array limit is 1001 tasks): split the grid"]


@pytest.mark.parametrize("value", ["gpu\n#SBATCH --uid=0", "a b", "gpu;rm", ""])
def test_a_partition_slurm_would_not_accept_is_refused(value):
    with pytest.raises(FanoutError, match="--partition"):
        slurm.check_partition(value)
    slurm.check_partition("gpu,debug")


def test_unknown_key_is_one_line_naming_it():
    lines = problems({"name": "x", "params": {"train.batchsize": [32, 64]}})
    assert len(lines) == 1
    assert lines[0].startswith("grids/x.yaml: params.train.batchsize: unknown params.yaml key "
                               "(did you mean train.batch_size? known: seed, data.source, ")
    assert problems({"name": "x", "cells": [{"trian.epochs": 2}]})[0].startswith(
        "grids/x.yaml: cells[0].trian.epochs: unknown params.yaml key (did you mean train.epochs?")


def test_keys_come_from_the_repositorys_params_yaml():
    params = yaml.safe_load(PARAMS)
    params["train"]["momentum"] = 0.9               # a key in this params.yaml that params.py does not know
    text = yaml.safe_dump(params)
    raw = {"name": "x", "params": {"train.momentum": [0.9, 0.99]}}
    with pytest.raises(GridError) as err:              # the grid accepts the key; params.py then judges the file
        grid.parse(raw, Path("grids/x.yaml"), text)
    assert "unknown params.yaml key" not in str(err.value) and "unknown key 'train.momentum'" in str(err.value)


def test_every_cell_is_validated_as_a_stage_would_read_it():
    lines = problems({"name": "x", "params": {"train.batch_size": [32, 0], "frameworks": [["tf_kera"], ["tf_keras"]]}})
    assert lines[0].startswith("grids/x.yaml: cell 0 (x-batch_size=32-frameworks=tf_kera): params.yaml: "
                               "frameworks[0]: unknown contender 'tf_kera' (did you mean 'tf_keras'?)")
    assert any("cell 2 (x-batch_size=0-frameworks=tf_kera): params.yaml: train.batch_size: "
               "Input should be greater than or equal to 1 (got 0)" in line for line in lines)
    assert len(lines) == 2                              # each problem once, with the first cell it shows in
    # the text after -S goes through DVC's own parser: a boolean and a float arrive as what params.yaml needs
    g = parse({"name": "x", "cells": [{"train.jit_compile": True, "train.learning_rate": 1e-3}]})
    assert g.cells[0].sets == ["train.jit_compile=true", "train.learning_rate=0.001"]


def test_list_params_need_a_list_of_lists():
    lines = problems({"name": "x", "params": {"frameworks": ["keras3_jax", "keras3_torch"]}})
    assert lines == ["grids/x.yaml: params.frameworks: params.yaml's frameworks is a list, so sweep it with a "
                     "list of lists, e.g. [[tf_keras], ...] (got [keras3_jax,keras3_torch])"]


@pytest.mark.parametrize("raw, expected", [
    ({"params": {"seeds": [[0]]}}, "name: expected an experiment prefix"),
    ({"name": "a b", "params": {"seeds": [[0]]}}, "name: expected an experiment prefix"),
    ({"name": "x", "param": {"seeds": [[0]]}}, "unknown key 'param' (allowed: name, params, cells)"),
    ({"name": "x"}, "no cells: give params to sweep and/or a list of cells"),
    ({"name": "x", "params": {"seeds": []}}, "params.seeds: expected a non-empty list of values to sweep"),
    ({"name": "x", "params": {"train.epochs": 3}}, "params.train.epochs: expected a non-empty list"),
    ({"name": "x", "cells": {"seeds": [0]}}, "cells: expected a list of mappings"),
    ({"name": "x", "params": {"seeds": [[0], [1]]}, "cells": [{"seeds": [1]}]}, "cell 2 repeats cell 1"),
])
def test_malformed_grids_are_refused_with_a_line_each(raw, expected):
    assert any(expected in line for line in problems(raw)), problems(raw)


def test_a_grid_file_that_is_not_yaml(tmp_path):
    (tmp_path / "g.yaml").write_text("name: [x\n")
    with pytest.raises(GridError, match=r"g.yaml: not valid YAML: .*") as err:
        grid.load(tmp_path / "g.yaml", ROOT / "params.yaml")
    assert "\n" not in str(err.value)


# ---------------------------------------------------------------- the task script

CELLS = [Cell(0, "t-seeds=0", {"seeds": [0]}), Cell(2, "t-seeds=2", {"seeds": [2]})]


def test_slurm_script_is_one_array_job_with_requeue(tmp_path):
    text = slurm.script("t", Path("grids/t.yaml"), "/srv/origin.git", "ab" + "c" * 38, CELLS, tmp_path,
                        "/opt/venv/bin", partition="gpu", gpus_per_task=1, time="01:00:00")
    for line in ("#SBATCH --array=0,2", "#SBATCH --requeue", "#SBATCH --open-mode=append", "#SBATCH --exclusive",
                 "export KERASBENCH_PLACEMENT=exclusive   # recorded beside every result (kerasbench/host.py)",
                 f"#SBATCH --output={tmp_path}/cell-%a.log", "#SBATCH --partition=gpu",
                 "#SBATCH --gpus-per-task=1", "#SBATCH --time=01:00:00",
                 "export PATH=/opt/venv/bin:\"$PATH\"", "  2) NAME=t-seeds=2; SETS=(-S 'seeds=[2]') ;;"):
        assert line in text.splitlines(), line
    assert subprocess.run(["bash", "-n"], input=text, text=True).returncode == 0
    boxed = slurm.script("t", Path("grids/t.yaml"), "/srv/origin.git", "ab" + "c" * 38, CELLS, tmp_path,
                         "/opt/venv/bin", container="apptainer exec --nv /shared/k.sif")
    steps = [line.split("#")[0].strip() for line in boxed.splitlines() if line.startswith("step ")]
    assert steps[-3:] == ["step apptainer exec --nv /shared/k.sif python -m kerasbench.fingerprint",
                          'step apptainer exec --nv /shared/k.sif dvc exp run --pull -n "$NAME" "${SETS[@]}"',
                          'step apptainer exec --nv /shared/k.sif dvc exp push origin "$NAME"']
    assert "/opt/venv/bin" not in boxed                  # python and dvc come from the image


def test_slurm_cells_share_nodes_only_when_asked_and_say_so(tmp_path):
    text = slurm.script("t", Path("grids/t.yaml"), "/srv/origin.git", "ab" + "c" * 38, CELLS, tmp_path,
                        "/opt/venv/bin", shared=True)
    assert "#SBATCH --exclusive" not in text
    assert "export KERASBENCH_PLACEMENT=shared   # recorded beside every result (kerasbench/host.py)" in text


def window(cell, run, node, start, end):
    day = "2026-11-29T10:"
    return collect.Window(cell, run, node, datetime.datetime.fromisoformat(f"{day}{start}+00:00"),
                          datetime.datetime.fromisoformat(f"{day}{end}+00:00"))


def test_collect_names_cells_that_timed_on_one_node_at_once():
    a = window("g-seeds=0", "tf_keras-0", "node1", "00:00", "05:00")
    b = window("g-seeds=1", "tf_keras-1", "node1", "04:00", "09:00")      # overlaps a on node1
    c = window("g-seeds=2", "tf_keras-2", "node2", "04:00", "09:00")      # same time, another node
    d = window("g-seeds=0", "tf_keras-0-r1", "node1", "04:30", "06:00")   # a's own cell: one cell runs in order
    e = window("g-seeds=3", "tf_keras-3", "node1", "09:00", "10:00")      # starts as b ends: no overlap
    found = collect.overlaps([e, d, c, b, a])
    assert {(x.run, y.run) for x, y in found} == {("tf_keras-0", "tf_keras-1"), ("tf_keras-1", "tf_keras-0-r1")}
    line = collect.overlap_lines([(a, b)])[0]
    assert line.startswith("warning: cells g-seeds=0 (tf_keras-0) and g-seeds=1 (tf_keras-1) timed on node node1 at "
                           "the same time (10:04:00–10:05:00 UTC)")
    assert collect.overlaps([a, c, e]) == []


@pytest.mark.parametrize("value", ["1:00:00", "90", "2-00:00:00", "10:00"])
def test_slurm_time_formats(value):
    slurm.check_time(value)


def _bare_origin(tmp_path: Path, with_experiment: str | None) -> tuple[Path, str]:
    work, origin = tmp_path / "work", tmp_path / "origin.git"
    env = {**os.environ, **GIT_ENV}
    for cmd in (["git", "init", "-q", str(work)], ["git", "init", "-q", "--bare", str(origin)]):
        subprocess.run(cmd, check=True, env=env)
    (work / "f").write_text("x\n")
    subprocess.run(["git", "add", "f"], cwd=work, check=True, env=env)
    subprocess.run(["git", "commit", "-qm", "c"], cwd=work, check=True, env=env)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=work, text=True, capture_output=True).stdout.strip()
    refspec = f"HEAD:{task_ref(commit, with_experiment)}" if with_experiment else "HEAD:refs/heads/main"
    subprocess.run(["git", "push", "-q", str(origin), refspec], cwd=work, check=True, env=env)
    return origin, commit


def task_ref(commit: str, name: str) -> str:
    return f"refs/exps/{commit[:2]}/{commit[2:]}/{name}"


def run_task(text: str, env: dict, tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", text], env={**os.environ, **GIT_ENV, **env,
                                                      "FANOUT_SCRATCH": str(tmp_path)},
                          capture_output=True, text=True, timeout=60)


def test_kubernetes_index_picks_the_cell_and_a_pushed_cell_is_not_run_again(tmp_path):
    origin, commit = _bare_origin(tmp_path, with_experiment="t-seeds=2")
    doc = kubernetes.manifest("t", Path("grids/t.yaml"), str(origin), commit, CELLS, "img")
    text = doc["spec"]["template"]["spec"]["containers"][0]["args"][-1]
    out = run_task(text, {"JOB_COMPLETION_INDEX": "1"}, tmp_path)   # completion 1 -> cell 2
    assert out.returncode == 0, out.stdout + out.stderr
    started, end, _ = task.last_attempt(out.stdout)
    assert started and end == {"index": "2", "name": "t-seeds=2", "status": "done", "rc": "0"}
    assert "already holds experiment t-seeds=2" in out.stdout


def test_a_failing_step_ends_with_a_failed_marker_and_no_scratch_left(tmp_path):
    _, commit = _bare_origin(tmp_path, with_experiment=None)
    text = slurm.script("t", Path("grids/t.yaml"), str(tmp_path / "missing.git"), commit, CELLS, tmp_path,
                        str(Path(sys.executable).parent))
    out = run_task(text, {"SLURM_ARRAY_TASK_ID": "0"}, tmp_path)
    assert out.returncode != 0
    _, end, lines = task.last_attempt(out.stdout)
    assert end["status"] == "failed" and end["rc"] == str(out.returncode)
    assert any(line.startswith("fanout: $ git clone") for line in lines)
    assert not list(tmp_path.glob("kerasbench-fanout.*"))
    assert run_task(text, {"SLURM_ARRAY_TASK_ID": "0", "SLURM_RESTART_COUNT": "2"}, tmp_path).stdout.count(
        "requeued more than once") == 1


def test_sigterm_leaves_a_marker_and_no_scratch(tmp_path):
    """Slurm signals every process of a task before it cancels or requeues it."""
    origin, commit = _bare_origin(tmp_path, with_experiment=None)
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "dvc").write_text("#!/bin/sh\necho 'fake dvc running'\nexec sleep 60\n")
    (fake / "python").write_text("#!/bin/sh\necho 'fake python (the fingerprint step)'\n")
    for tool in ("dvc", "python"):
        (fake / tool).chmod(0o755)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    text = slurm.script("t", Path("grids/t.yaml"), str(origin), commit, CELLS, tmp_path, str(fake))
    proc = subprocess.Popen(["bash", "-c", text], env={**os.environ, **GIT_ENV, "SLURM_ARRAY_TASK_ID": "2",
                                                       "FANOUT_SCRATCH": str(scratch)},
                            stdout=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 30
    while not list(scratch.glob("*/repo/f")) and time.monotonic() < deadline:   # cloned and checked out
        time.sleep(0.05)
    time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert "fanout: stopped by SIGTERM" in out and task.last_attempt(out)[1]["rc"] == "143", out
    assert list(scratch.iterdir()) == []


def test_last_attempt_of_a_requeued_log():
    log = "\n".join(["fanout: start cell=1 name=n attempt=0", "Running stage 'train@x-0':",
                     "slurmstepd: *** JOB 5 CANCELLED DUE TO JOB REQUEUE ***",
                     "fanout: start cell=1 name=n attempt=1", "fanout: end cell=1 name=n status=done rc=0 at=now"])
    started, end, lines = task.last_attempt(log)
    assert started and end["status"] == "done" and lines[0].endswith("attempt=1")
    assert task.last_attempt("fanout: start cell=1 name=n attempt=0\nKilled")[1] is None


# ---------------------------------------------------------------- cell states

def test_cell_states_from_origin_queue_and_logs(tmp_path):
    g = parse({"name": "s", "params": {"seeds": [[0], [1], [2], [3], [4], [5]]}})
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "cell-3.log").write_text("fanout: start cell=3 name=x attempt=0\nboom\n"
                                     "fanout: end cell=3 name=x status=failed rc=255 at=now\n")
    (logs / "cell-4.log").write_text("fanout: start cell=4 name=x attempt=0\nRunning stage 'train@a-4':\n")
    saved = {"commit": "c", "engine": "slurm",
             "cells": {str(i): {"name": g.cells[i].name, "job": "7", "log": f"logs/cell-{i}.log"} for i in range(5)}}
    states = state.cell_states(tmp_path, g, saved, {g.cells[0].name: "sha"}, lambda job: {1: "pending", 2: "running"})
    assert [s.state for s in states] == ["done", "pending", "running", "failed", "failed", "not submitted"]
    assert states[3].detail[0].startswith("exit code 255") and "boom" in states[3].detail
    assert "ended without an exit marker" in states[4].detail[0]
    assert states[1].job == "7_1"
    table = state.table(states)
    assert "        | boom" in table
    assert table.splitlines()[-1] == "1 done, 1 pending, 1 running, 2 failed, 1 not submitted"


def test_report_keeps_the_contenders_complete_over_seeds():
    runs = [("a", 0, "r0"), ("a", 1, "r1"), ("b", 0, "r2")]
    union, dropped = collect._complete(runs)
    assert union == {"frameworks": ["a"], "seeds": [0, 1]} and dropped == ["b (has seed(s) [0] of [0, 1])"]


# ---------------------------------------------------------------- Kubernetes

def test_kubernetes_manifest_is_a_valid_indexed_job(tmp_path):
    kv = pytest.importorskip("kubernetes_validate")
    doc = kubernetes.manifest("Batch_Sweep", Path("grids/b.yaml"), "https://git.example.org/kb.git", "ab" + "c" * 38,
                              CELLS, "registry.example.org/kerasbench:1", gpus=2, parallelism=1)
    path = tmp_path / "job.yaml"
    kubernetes.write(path, doc)
    loaded = yaml.safe_load(path.read_text())
    kv.validate(loaded, kv.latest_version(), strict=True)
    spec = loaded["spec"]
    assert spec["completionMode"] == "Indexed" and spec["completions"] == 2 and spec["backoffLimitPerIndex"] == 1
    container = spec["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"] == {"cpu": "2", "memory": "8Gi", "nvidia.com/gpu": 2}
    assert container["resources"]["requests"] == container["resources"]["limits"]   # Guaranteed QoS: whole CPUs
    assert {"name": "KERASBENCH_NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}} in \
        container["env"]
    assert container["envFrom"] == [{"secretRef": {"name": "kerasbench-dvc"}}]
    assert spec["template"]["spec"]["volumes"][1] == {"name": "git-credentials",
                                                      "secret": {"secretName": "kerasbench-git"}}
    assert loaded["metadata"]["name"] == "fanout-batch-sweep-abccccc"
    assert "TODO=(0 2)" in container["args"][-1] and "|" in path.read_text()   # the script stays a readable block


# ---------------------------------------------------------------- the command line

@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A committed repository with the project's params.yaml, a grid, a bare origin and a DVC remote."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "params.yaml").write_text(PARAMS)
    (repo / "grids").mkdir()
    (repo / "grids/g.yaml").write_text(yaml.safe_dump({"name": "g", "params": {"seeds": [[0], [1]]}}))
    git(repo, "init", "-q", "-b", "main")
    git(repo, "init", "-q", "--bare", str(tmp_path / "origin.git"))
    git(repo, "remote", "add", "origin", str(tmp_path / "origin.git"))
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=repo, check=True, env={**os.environ, **GIT_ENV})
    subprocess.run([sys.executable, "-m", "dvc", "remote", "add", "-d", "store", str(tmp_path / "store")],
                   cwd=repo, check=True, env={**os.environ, **GIT_ENV}, capture_output=True)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init")
    monkeypatch.chdir(repo)
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    return repo


def test_plan_prints_cells_and_names(project, capsys):
    assert fanout.main(["plan", "grids/g.yaml"]) == 0
    out = capsys.readouterr().out
    assert "grid g (grids/g.yaml): 2 cell(s)" in out and "   1  g-seeds=1  seeds=[1]" in out


def test_bad_grid_exits_2_with_one_line(project, capsys):
    (project / "grids/bad.yaml").write_text("name: bad\nparams:\n  train.batchsize: [8]\n")
    assert fanout.main(["plan", "grids/bad.yaml"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("error: grids/bad.yaml: params.train.batchsize: unknown params.yaml key")


def test_submit_refuses_an_uncommitted_work_tree_and_pushes_nothing(project, capsys):
    (project / "params.yaml").write_text(PARAMS.replace("epochs: 10", "epochs: 2"))
    assert fanout.main(["submit", "grids/g.yaml", "--engine", "kubernetes", "--image", "img"]) == 2
    err = capsys.readouterr().err
    assert "error: the work tree has uncommitted changes (params.yaml): the cluster runs the committed tree" in err
    assert git(project, "ls-remote", "origin") == ""


def test_submit_refuses_bad_options_before_anything_else(project, capsys):
    assert fanout.main(["submit", "grids/g.yaml", "--engine", "slurm", "--time", "1h"]) == 2
    assert "--time '1h': expected HH:MM:SS" in capsys.readouterr().err
    assert fanout.main(["submit", "grids/g.yaml", "--engine", "kubernetes"]) == 2
    assert "needs --image" in capsys.readouterr().err
    assert fanout.main(["submit", "grids/g.yaml", "--engine", "kubernetes", "--image", "i", "--cpus", "0"]) == 2
    assert "--cpus 0: expected a whole number of CPUs, 1 or more" in capsys.readouterr().err
    assert fanout.main(["submit", "grids/g.yaml", "--engine", "kubernetes", "--image", "i", "--memory", "lots"]) == 2
    assert "--memory 'lots': expected a Kubernetes quantity" in capsys.readouterr().err
    if shutil.which("kubectl") is None:
        assert fanout.main(["submit", "grids/g.yaml", "--engine", "kubernetes", "--image", "i", "--apply"]) == 2
        assert "--apply: kubectl not found" in capsys.readouterr().err
    assert git(project, "ls-remote", "origin") == ""
    git(project, "remote", "remove", "origin")
    assert fanout.main(["submit", "grids/g.yaml", "--engine", "kubernetes", "--image", "img"]) == 2
    assert "no git remote 'origin'" in capsys.readouterr().err


def test_submit_refuses_a_relative_dvc_remote(project, capsys):
    subprocess.run([sys.executable, "-m", "dvc", "remote", "modify", "store", "url", "../store"],
                   cwd=project, check=True)
    git(project, "commit", "-qam", "relative remote")
    assert fanout.main(["submit", "grids/g.yaml", "--engine", "kubernetes", "--image", "img"]) == 2
    assert "DVC remote 'store' is the relative path" in capsys.readouterr().err


def test_kubernetes_submit_pushes_and_writes_the_manifest(project, capsys):
    assert fanout.main(["submit", "grids/g.yaml", "--engine", "kubernetes", "--image", "img"]) == 0
    out = capsys.readouterr().out
    commit = git(project, "rev-parse", "HEAD").strip()
    assert f"{commit}\trefs/heads/main" in git(project, "ls-remote", "origin")
    assert "wrote .fanout/g/job.yaml: Indexed Job fanout-g-" in out and "kubectl apply -f .fanout/g/job.yaml" in out
    doc = yaml.safe_load((project / ".fanout/g/job.yaml").read_text())
    assert doc["spec"]["completions"] == 2
    assert git(project, "status", "--porcelain") == ""   # .fanout/ ignores itself


def test_a_huge_or_deeply_nested_grid_file_is_one_line(tmp_path):
    huge = tmp_path / "huge.yaml"
    huge.write_text("params:\n  seeds: [" + ", ".join(["[0]"] * 60_000) + "]\n")
    with pytest.raises(GridError) as err:
        grid.load(huge, ROOT / "params.yaml")
    assert "bytes, more than the 262,144 a grid file may hold" in str(err.value) and "\n" not in str(err.value)
    deep = tmp_path / "deep.yaml"
    deep.write_text("params:\n  seeds: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(GridError) as err:
        grid.load(deep, ROOT / "params.yaml")
    assert str(err.value) == f"{deep}: not valid YAML: nested deeper than 32 levels of mappings and lists"
