"""`python -m scripts.compare` end to end: the real dvc.yaml, CLI and stages in a temporary git repository.

Results on the same machine, each from `dvc repro`/`dvc exp run` with repeats: 5 (steady epochs are
tested on the processes' medians; with 3 a side, one disturbed process could hide even a fivefold change),
in this order:
  base      keras3_torch, batch 128 (committed)
  slower    the same at batch 8: the same images in 16x more steps, several times slower (committed)
  rerun, rerun-r2, base-r2
            the base's configuration again, as DVC experiments (`--force`: every stage runs again)
compare(base, slower) must mark the steady figures `+` and exit 1. compare(base+base-r2, rerun+rerun-r2)
must find nothing significant and exit 0: an identical re-run in interleaved rounds. One round a side is
not enough on a shared machine: in CI a whole session ran 16% slower than the next (steady epochs 0.191 s
against 0.160 s, every process of one beyond every process of the other), which no per-process test can
tell from a change. Run with `-s` to see the tables (the README shows a run's output).
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests import helpers

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
FRAMEWORK = "keras3_torch"

pytestmark = pytest.mark.e2e


def sh(repo: Path, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    return helpers.sh(repo, *cmd, check=check, timeout=1800)


def set_params(repo: Path, **train) -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"].update(source="synthetic", md5=None, synthetic={"train": 2000, "test": 500})
    params["frameworks"] = [FRAMEWORK]
    params["repeats"] = 5
    params["train"].update(epochs=4, **train)
    params["evaluate"]["repeats"] = 8
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> dict:
    repo = helpers.pipeline_copy(tmp_path_factory.mktemp("compare-pipeline"))
    shutil.copy(ROOT / "requirements.lock", repo / "requirements.lock")
    sh(repo, "git", "init", "-q", "-b", "main")
    sh(repo, "dvc", "init", "-q")
    sh(repo, sys.executable, "-m", "kerasbench.fingerprint")   # as `make repro` does
    # A throwaway first run: the machine's cold start (page cache, imports, CPU clocks) must not land on
    # the base alone, or the identical re-run below would look faster than the base.
    set_params(repo, batch_size=64)
    sh(repo, "dvc", "repro")
    shas = {}
    for name, batch in (("base", 128), ("slower", 8)):
        set_params(repo, batch_size=batch)
        sh(repo, "dvc", "repro")
        sh(repo, "git", "add", "-A")
        sh(repo, "git", "commit", "-qm", f"{name}: batch {batch}")
        shas[name] = sh(repo, "git", "rev-parse", "HEAD").stdout.strip()
    for name in ("rerun", "rerun-r2", "base-r2"):   # base, [slower], rerun, rerun, base: drift falls on both
        sh(repo, "dvc", "exp", "run", "--force", "-n", name, "-S", "train.batch_size=128")
    return {"root": repo, **shas}


def compare(repo: dict, *args: str) -> subprocess.CompletedProcess:
    result = sh(repo["root"], sys.executable, "-m", "scripts.compare", *args, check=False)
    print(f"\n$ python -m scripts.compare {' '.join(args)}\n{result.stdout}{result.stderr}(exit {result.returncode})")
    return result


def marks(table: str) -> dict[str, str]:
    """Each figure's mark, without the `*` that flags disturbed processes: on a shared CI machine some
    processes may be, and the verdict on the change must hold either way."""
    return {cells[2]: cells[0].rstrip("*") for line in table.splitlines()[2:] if line.startswith("|")
            for cells in [[c.strip() for c in line.strip("|").split("|")]]}


def test_a_much_smaller_batch_is_a_significant_regression(repo):
    result = compare(repo, repo["base"], repo["slower"])
    assert result.returncode == 1, result.stderr
    found = marks(result.stdout)
    assert found["steady epoch (s)"] == "+" and found["steady training (images/s)"] == "+"
    ratio = float(re.search(r"\| steady epoch \(s\) .*\| +([0-9.]+) \|$", result.stdout, re.MULTILINE).group(1))
    assert ratio > 2
    assert "(n=15)" in result.stdout   # 5 training processes x 3 steady epochs


def test_an_identical_rerun_is_not_significant(repo):
    result = compare(repo, f"{repo['base']},base-r2", "rerun,rerun-r2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert set(marks(result.stdout).values()) == {"~"}   # nothing significant beyond the factor, either way
    assert "No significant regression." in result.stdout
    assert "Rounds: base 2, head 2;" in result.stdout and "(n=30)" in result.stdout   # 2 x 5 processes x 3 epochs
