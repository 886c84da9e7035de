"""scripts/ci_metrics_diff.sh on a throwaway git + DVC repository with two commits.

The repository's pipeline is one tiny stage that writes metrics JSON from params.yaml (no
model is trained); its params have the keys the script's small configuration overrides.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.e2e  # runs the dvc CLI on real pipelines

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "ci_metrics_diff.sh"
DVC = Path(sys.executable).parent / "dvc"

WRITER = """\
import json, math, os, random, sys, yaml
p = yaml.safe_load(open("params.yaml"))
if p["factor"] < 0:
    sys.exit("factor must not be negative")
if os.environ.get("FAIL_ON_RUN"):   # count the pipeline runs in a file outside the repository; fail that one
    with open(os.environ["RUN_COUNTER"], "a+") as f:
        f.seek(0)
        run = len(f.read()) + 1
        f.write("x")
    if run == int(os.environ["FAIL_ON_RUN"]):
        sys.exit(f"run {run} failed on purpose")
scale = p["factor"] * p["train"]["epochs"]
images = p["data"]["synthetic"]["train"] if p["data"]["source"] == "synthetic" else 50000
for d in ("metrics/train", "metrics/repeats", "plots/history"):
    os.makedirs(d, exist_ok=True)
# three training processes of ten epochs (compare tests steady epochs on the processes' medians); like
# real timings, no two runs alike to the last digit (compare refuses rounds with identical samples)
jitter = random.Random().random
for k in range(3):
    epoch_s = [1.5 * p["factor"] * (1 + 0.01 * k) * (1 + 0.01 * math.sin(i)) * (1 + 1e-9 * jitter())
               for i in range(10)]
    train, history = (("metrics/train/tf_keras-0.json", "plots/history/tf_keras-0.csv") if k == 0 else
                      (f"metrics/repeats/tf_keras-0-r{k}.json", f"metrics/repeats/tf_keras-0-r{k}.csv"))
    json.dump({"time": {"fit_s": 1.5 * scale}, "accuracy": 0.25 * p["factor"], "train_images": images},
              open(train, "w"))
    with open(history, "w") as f:
        f.write("epoch,epoch_s\\n" + "".join(f"{i + 1},{s}\\n" for i, s in enumerate(epoch_s)))
json.dump({"cpu": {"model": "test CPU"}, "device": "cpu", "gpus": [], "lock_sha256": "0" * 64,
           "deterministic": False, "jit_compile": {"effective": False}}, open("metrics/train/tf_keras-0.env.json", "w"))
json.dump({"tf_keras": {"fit_s": {"median": 1.5 * scale}}}, open("metrics/summary.json", "w"))
"""
PARAMS = {
    "factor": 1,
    "data": {"source": "https://example.org/cifar-10-binary.tar.gz", "synthetic": {"train": 50000, "test": 10000},
             "limit_train": None, "limit_test": None},
    "seeds": [0, 1],
    "train": {"epochs": 10},
    "evaluate": {"repeats": 5},
}
DVC_YAML = f"""\
stages:
  train:
    cmd: {sys.executable} write_metrics.py
    deps: [write_metrics.py]
    params: [factor, data, seeds, train, evaluate]
    outs:
      - metrics/train/tf_keras-0.json: {{cache: false}}
      - metrics/train/tf_keras-0.env.json: {{cache: false}}
      - plots/history/tf_keras-0.csv: {{cache: false}}
      - metrics/repeats: {{cache: false}}
      - metrics/summary.json: {{cache: false}}
metrics:
  - metrics/train/tf_keras-0.json
  - metrics/summary.json
"""


def env(**extra: str) -> dict:
    return {**os.environ, "DVC": str(DVC), "PYTHON": sys.executable, "DVC_NO_ANALYTICS": "1",
            "GIT_TERMINAL_PROMPT": "0", **extra}


def sh(cwd: Path, *args: str) -> str:
    return subprocess.run(args, cwd=cwd, env=env(), check=True, capture_output=True, text=True).stdout


def commit_with_factor(repo: Path, factor: int, message: str) -> str:
    params = {**PARAMS, "factor": factor}
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    sh(repo, str(DVC), "repro", "--quiet")
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "--quiet", "-m", message)
    return sh(repo, "git", "rev-parse", "HEAD").strip()


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> dict:
    """main: factor 1 (base), then factor 2 (head); metrics committed at both."""
    root = tmp_path_factory.mktemp("ci-repo")
    sh(root, "git", "init", "--quiet", "-b", "main")
    sh(root, "git", "config", "user.name", "Test")
    sh(root, "git", "config", "user.email", "test@example.invalid")
    sh(root, str(DVC), "init", "--quiet")
    (root / "write_metrics.py").write_text(WRITER)
    (root / "dvc.yaml").write_text(DVC_YAML)
    base = commit_with_factor(root, 1, "base")
    head = commit_with_factor(root, 2, "head")
    return {"root": root, "base": base, "head": head}


def run_script(root: Path, *args: str, **extra_env: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=root, env=env(**extra_env), capture_output=True,
                          text=True, timeout=180)


def table_rows(markdown: str, section: str) -> list[list[str]]:
    """The rows of the first Markdown table after the line containing `section`."""
    body = markdown.split(section, 1)[1]
    table = re.search(r"((?:^\|.*\|\n)+)", body, re.MULTILINE).group(1)
    return [[c.strip() for c in line.strip("|").split("|")] for line in table.splitlines()]


def test_no_run_compares_committed_metrics_with_the_workspace(repo, tmp_path):
    out = tmp_path / "diff.md"
    result = run_script(repo["root"], "--no-run", repo["base"], str(out))
    assert result.returncode == 0, result.stderr
    md = out.read_text()
    assert md.startswith("<!-- kerasbench-metrics-diff -->")

    rows = table_rows(md, "### All metrics")
    assert rows[0] == ["Path", "Metric", repo["base"], "workspace", "Change"]
    by_metric = {r[1]: r for r in rows[2:]}
    assert by_metric["time.fit_s"][2:4] == ["15.0", "30.0"]
    assert by_metric["accuracy"][2:4] == ["0.25", "0.5"]
    assert by_metric["train_images"][2:4] == ["50000", "50000"]   # --all: unchanged metrics too
    headline = table_rows(md, "### Headline")
    assert headline[2][1:4] == ["tf_keras.fit_s.median", "15.0", "30.0"]

    params = table_rows(md, "### Params")
    assert params[0] == ["Path", "Param", repo["base"], "workspace"]
    assert params[2][1:] == ["factor", "1", "2"]

    # compare: the committed samples, twice as slow at head: significant, beyond the factor
    assert f"### Speed and memory: `kerasbench compare {repo['base']} workspace`" in md
    steady = {r[2]: r for r in table_rows(md, "### Speed and memory")[2:]}["steady epoch (s)"]
    assert steady[0] == "+" and steady[1] == "tf_keras" and steady[5].startswith("2.00 [")
    assert ("**3 regression(s)**: tf_keras steady epoch (+), tf_keras steady training (+), tf_keras training "
            "time, fit (+).") in md


def test_fail_on_regression_fails_after_writing_the_comment(repo, tmp_path):
    out = tmp_path / "diff.md"
    result = run_script(repo["root"], "--no-run", "--fail-on-regression", repo["base"], str(out))
    assert result.returncode == 1 and "compare found a regression" in result.stderr
    assert "regression(s)" in out.read_text()
    assert run_script(repo["root"], "--no-run", "--fail-on-regression", repo["head"], str(out)).returncode == 0

    # a history without its epoch times: compare cannot run, so the gate fails rather than passes
    history = repo["root"] / "plots" / "history" / "tf_keras-0.csv"
    kept = history.read_text()
    history.write_text("epoch\n1\n2\n")
    try:
        result = run_script(repo["root"], "--no-run", "--fail-on-regression", repo["head"], str(out))
    finally:
        history.write_text(kept)
    assert result.returncode == 1 and "compare could not run, so no regression could be ruled out" in result.stderr
    assert "missing column(s) epoch_s" in out.read_text()


def test_run_measures_both_revisions_with_the_small_config(repo, tmp_path):
    out = tmp_path / "diff.md"
    before = sh(repo["root"], "git", "status", "--porcelain")
    result = run_script(repo["root"], "--rounds", "2", repo["base"], str(out), "-S", "train.epochs=3")
    assert result.returncode == 0, result.stderr + result.stdout
    md = out.read_text()
    base_exp, head_exp = f"ci-base-{repo['base'][:7]}", f"ci-head-{repo['head'][:7]}"

    assert "data.source=synthetic" in md and "-S train.epochs=3" in md and "train.epochs=2" not in md
    headline = table_rows(md, "### Headline")
    assert headline[0] == ["Path", "Metric", base_exp, head_exp, "Change"]
    # both sides re-run with epochs=3 (the override), factor from each commit: 1.5*1*3 vs 1.5*2*3
    assert headline[2][1:5] == ["tf_keras.fit_s.median", "4.5", "9.0", "4.5"]
    every = {r[1]: r for r in table_rows(md, "All metrics")[2:]}
    assert every["train_images"][2:4] == ["1000", "1000"]          # the small synthetic data set
    assert every["accuracy"][2:4] == ["0.25", "0.5"]

    # compare pooled two interleaved rounds a side (--force: same machine); head, base, base, head
    assert f"`kerasbench compare {base_exp},{base_exp}-r2 {head_exp},{head_exp}-r2 --force`" in md
    assert "They ran in 2 interleaved rounds (head, base, base, head, ...)" in md
    order = [line.split(":")[1].strip() for line in result.stderr.splitlines() if "running the pipeline" in line]
    assert order == [head_exp, base_exp, f"{base_exp}-r2", f"{head_exp}-r2"]
    steady = {r[2]: r for r in table_rows(md, "### Speed and memory")[2:]}["steady epoch (s)"]
    assert steady[0] == "+" and steady[5].startswith("2.00 [")
    assert steady[3].endswith("(n=54)")   # 2 rounds x 3 processes x 9 steady epochs
    assert "Rounds: base 2, head 2;" in md
    # the fake params have no `repeats` key
    assert f"`{base_exp}` ran without the override(s) of repeats" in md

    # params: what the change commits, not the CI overrides
    params = table_rows(md, "### Params changed")
    assert [r[1] for r in params[2:]] == ["factor"]
    committed = table_rows(md, "### Results committed")
    assert {r[1]: r[2:4] for r in committed[2:]}["time.fit_s"] == ["15.0", "30.0"]

    # nothing left behind: workspace, worktrees, experiments
    assert sh(repo["root"], "git", "status", "--porcelain") == before
    assert len(sh(repo["root"], "git", "worktree", "list").splitlines()) == 1
    assert "ci-" not in sh(repo["root"], "git", "for-each-ref", "refs/exps")


def test_one_round_and_a_failing_round(repo, tmp_path):
    out = tmp_path / "diff.md"
    result = run_script(repo["root"], "--rounds", "1", repo["base"], str(out))
    assert result.returncode == 0, result.stderr
    md = out.read_text()
    assert "They ran once each (one round)" in md and "-r2" not in md
    # the 4th pipeline run (head, round 2) fails: reported, compare keeps the complete round, exit 1
    result = run_script(repo["root"], "--rounds", "2", repo["base"], str(out), FAIL_ON_RUN="4",
                        RUN_COUNTER=str(tmp_path / "runs"))
    assert result.returncode == 1
    md = out.read_text()
    head_exp = f"ci-head-{repo['head'][:7]}"
    assert f"**Round 2 failed** (`{head_exp}-r2`), so compare uses the 1 complete round(s)." in md
    assert "run 4 failed on purpose" in md
    assert f"`kerasbench compare ci-base-{repo['base'][:7]} {head_exp} --force`" in md
    assert "ci-" not in sh(repo["root"], "git", "for-each-ref", "refs/exps")
    result = run_script(repo["root"], "--rounds", "0", repo["base"], str(out))
    assert result.returncode == 2 and "--rounds expects a positive whole number, got '0'" in result.stderr
    result = run_script(repo["root"], "--budget", "ten minutes", repo["base"], str(out))
    assert result.returncode == 2 and "--budget expects a duration such as 10m or 1h30m" in result.stderr


def test_failing_head_pipeline_is_reported_and_fails(repo, tmp_path):
    root = repo["root"]
    broken = commit_with_factor_broken(root)
    try:
        out = tmp_path / "diff.md"
        result = run_script(root, repo["head"], str(out))
        assert result.returncode == 1
        md = out.read_text()
        assert "pipeline failed at the head revision" in md and "factor must not be negative" in md
    finally:
        sh(root, "git", "reset", "--quiet", "--hard", repo["head"])
        assert sh(root, "git", "rev-parse", "HEAD").strip() == repo["head"] != broken


def commit_with_factor_broken(root: Path) -> str:
    """A commit whose pipeline fails (negative factor), without running it here."""
    (root / "params.yaml").write_text(yaml.safe_dump({**PARAMS, "factor": -1}, sort_keys=False))
    sh(root, "git", "commit", "--quiet", "-am", "broken")
    return sh(root, "git", "rev-parse", "HEAD").strip()


def test_unknown_base_is_a_usage_error(repo, tmp_path):
    result = run_script(repo["root"], "no-such-branch", str(tmp_path / "diff.md"))
    assert result.returncode == 2
    assert "base revision 'no-such-branch' not found" in result.stderr
    assert not (tmp_path / "diff.md").exists()
