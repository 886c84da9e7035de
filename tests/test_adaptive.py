"""kerasbench/adaptive.py and `kerasbench compare --until-decided`, with generated processes of known pace.

The real checkout and training (kerasbench/sides.py) are replaced by a stand-in that writes the
result files of one process (tests/fixtures_report.py) with a known pace, 5% between processes and
3% between epochs: the loop, the looks, the budget, the state and the resume are the real ones.
tests/test_adaptive_pipeline.py runs real processes of two real commits.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from kerasbench import adaptive, duration, stats
from kerasbench.cli.compare import main
from kerasbench.results import ResultsError, resolve
from tests import fixtures_report as fx
from tests.helpers import git

TWO = ["tf_keras", "keras3_torch"]


def commit(root: Path, message: str, **train) -> str:
    params = {"frameworks": TWO, "seeds": [0], "repeats": 1, "train": {"epochs": 5, "batch_size": 32, **train}}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    (root / "dvc.yaml").write_text("stages: {}\n")
    (root / "notes.txt").write_text(message)
    git(root, "add", "-A")
    git(root, "commit", "-qm", message)
    return git(root, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path) -> dict:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    return {"root": root, "base": commit(root, "base"), "slower": commit(root, "keras3_torch at batch 8", batch_size=8),
            "same": commit(root, "a comment changed", batch_size=8)}


class Stand_in:
    """train_once and friends without processes: `slow[sha]` multiplies keras3_torch's pace at that commit."""

    def __init__(self, monkeypatch, slow: dict[str, float] | None = None, interrupt_at: int | None = None):
        self.slow, self.interrupt_at, self.calls, self.epochs = slow or {}, interrupt_at, 0, []
        self.rng = np.random.default_rng(0)
        monkeypatch.setattr(adaptive, "train_once", self.train_once)
        monkeypatch.setattr(adaptive, "prepare", lambda side, log: None)
        monkeypatch.setattr(adaptive, "remove", lambda folder, repo: None)
        monkeypatch.setattr(adaptive, "set_epochs", lambda side, epochs: self.epochs.append(epochs))

    def train_once(self, side, framework: str, seed: int, tree: Path) -> float:
        self.calls += 1
        if self.calls == self.interrupt_at:
            raise KeyboardInterrupt
        epochs = self.epochs[-1] or side.params["train"]["epochs"]
        pace = (self.slow.get(side.revision.sha, 1.0) if framework == "keras3_torch" else 1.0) \
            * float(np.exp(self.rng.normal(0, 0.05)))
        fx.write_run(tree, framework, seed, epochs=epochs, slow=pace, noise=self.calls)
        return 20.0


def until(repo, base: str, head: str, budget: str = "20m", **options):
    revisions = [resolve(repo[name], repo["root"]) for name in (base, head)]
    folder = repo["root"] / ".kerasbench" / "state"
    return adaptive.until_decided(*revisions, folder, duration.parse(budget), log=lambda line: None, **options), folder


def marks(outcome) -> dict[tuple[str, str], str]:
    return {(r.framework, r.figure): r.comparison.mark for r in outcome.rows}


def test_a_threefold_change_is_decided_and_the_unchanged_contender_too(repo, monkeypatch):
    fake = Stand_in(monkeypatch, slow={repo["slower"]: 3.0})
    outcome, folder = until(repo, "base", "slower")
    found = marks(outcome)
    assert found["keras3_torch", "steady_images_per_s"] == "+" and found["keras3_torch", "first_epoch_s"] == "+"
    assert found["tf_keras", "steady_images_per_s"] in ("=", "~") and found["tf_keras", "first_epoch_s"] in "=~"
    state = json.loads((folder / "state.json").read_text())
    rounds = max(r["round"] for r in state["rounds"])
    # the unchanged tf_keras takes longest: '=' within 1.10x at 5% between processes needs about 10 a side
    assert 2 <= rounds <= 15 and fake.calls == rounds * 4           # 2 contenders x 2 sides a round
    assert [r["side"] for r in state["rounds"]][:4] == ["base", "head", "head", "base"]   # alternating
    assert "stopped: every comparison of interest decided" in outcome.sequential
    assert f"Intervals at look {rounds}: alpha 0.002 x 6/(pi^2 k^2)" in outcome.sequential
    assert outcome.alpha == pytest.approx(0.002 * 6 / (np.pi ** 2 * rounds ** 2))
    assert (folder / "base" / f"r{rounds}" / "metrics/train/keras3_torch-0.json").is_file()


def test_epochs_per_process_follow_kalibera_and_jones_from_the_second_look(repo, monkeypatch):
    fake = Stand_in(monkeypatch)
    outcome, _ = until(repo, "base", "same", budget="10m")   # A/A: until it decides or the budget ends
    assert fake.epochs[:4] == [None] * 4                       # round 1 and 2 as committed
    chosen = {e for e in fake.epochs[4:]}
    assert len(chosen) == 1 and 3 <= chosen.pop() <= adaptive.MAX_EPOCHS
    # the epoch count changed: whole-fit figures depend on it and are left out
    assert not {"fit_s", "steady_fit_s", "one_off_s"} & {r.figure for r in outcome.rows}


def test_a_and_a_ends_at_the_budget_never_different(repo, monkeypatch):
    Stand_in(monkeypatch)
    outcome, folder = until(repo, "base", "same", budget="5m")
    assert not {"+", "-"} & set(marks(outcome).values())
    assert "stopped: the budget (5 min 00 s) would not hold another round" in outcome.sequential \
        or "stopped: every comparison of interest decided" in outcome.sequential
    spent = sum(sum(r["seconds"].values()) for r in json.loads((folder / "state.json").read_text())["rounds"])
    assert spent <= 300


def test_an_interrupted_run_keeps_its_rounds_and_resumes(repo, monkeypatch):
    Stand_in(monkeypatch, slow={repo["slower"]: 3.0}, interrupt_at=6)   # round 2, head side, second process
    with pytest.raises(KeyboardInterrupt):
        until(repo, "base", "slower")
    folder = repo["root"] / ".kerasbench" / "state"
    state = json.loads((folder / "state.json").read_text())
    assert [(r["side"], r["round"]) for r in state["rounds"]] == [("base", 1), ("head", 1)]
    assert sorted(p.name for p in (folder / "head").iterdir()) == ["r1"]   # no half round left
    fake = Stand_in(monkeypatch, slow={repo["slower"]: 3.0})
    outcome, _ = until(repo, "base", "slower")
    state = json.loads((folder / "state.json").read_text())
    assert state["rounds"][2]["side"] == "head" and state["rounds"][2]["round"] == 2   # resumed where it stopped
    assert marks(outcome)["keras3_torch", "steady_images_per_s"] == "+" and fake.calls >= 4
    with pytest.raises(ResultsError, match="holds rounds of .* give another --state or remove it"):
        until(repo, "base", "same")


def test_the_command_line_until_decided(repo, monkeypatch, capsys):
    Stand_in(monkeypatch, slow={repo["slower"]: 3.0})
    code = main([repo["base"], repo["slower"], "--until-decided", "--budget", "10m", "--repo", str(repo["root"])])
    out, err = capsys.readouterr()
    assert code == 1 and "**" in out and "Until decided:" in out
    assert "round 1, base: tf_keras seed 0" in err and "look 1: undecided" in err
    Stand_in(monkeypatch)
    code = main([repo["base"], repo["same"], "--until-decided", "--budget", "2m", "--fail-on-undecided",
                 "--state", str(repo["root"] / "aa"), "--repo", str(repo["root"])])
    out, _ = capsys.readouterr()
    assert code == (1 if "undecided (`?`)" in out else 0)


@pytest.mark.parametrize("args, message", [
    (["--budget", "20 minutes"], "--budget: '20 minutes' is not a duration (write it with units: 90s, 20m, 1h30m)"),
    (["--budget", "0s"], "--budget: '0s' is no time at all"),
    (["--budget", "30s"], "--budget 30 s is too small for one round (about 1 min 20 s: one process of each "
                          "contender on both sides)"),
    (["--factor", "1"], "--factor must be a finite number above 1"),
])
def test_bad_input_is_one_line_and_exit_2(repo, monkeypatch, capsys, args, message):
    fake = Stand_in(monkeypatch)
    code = main([repo["base"], repo["slower"], "--until-decided", *args, "--repo", str(repo["root"])])
    _, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and message in err and fake.calls == 0


def test_the_workspace_cannot_be_run_afresh(repo, capsys):
    code = main([repo["base"], "workspace", "--until-decided", "--repo", str(repo["root"])])
    assert code == 2 and "give two commits or DVC experiments, not the workspace" in capsys.readouterr().err


def test_durations():
    assert [duration.parse(t) for t in ("90s", "20m", "1h30m", "1.5h", "2min")] == [90, 1200, 5400, 5400, 120]
    assert duration.text(245) == "4 min 05 s" and duration.text(42) == "42 s"
    for bad in ("", "20", "m", "-5m", "20 min"):
        with pytest.raises(ValueError):
            duration.parse(bad)


def test_rounds_alternate_and_figures_leave_out_epoch_dependent_ones():
    assert [adaptive.order(k) for k in (1, 2, 3)] == [("base", "head"), ("head", "base"), ("base", "head")]
    same = adaptive.State("a", "b", [{"epochs": None}, {"epochs": None}])
    varied = adaptive.State("a", "b", [{"epochs": None}, {"epochs": 9}])
    assert "fit_s" in adaptive.figures(same, None) and "fit_s" not in adaptive.figures(varied, None)
    assert adaptive.figures(same, "^steady_") == "^(steady_epoch_s|steady_images_per_s|steady_fit_s|steady_epoch_j)$"
    assert stats.DECIDED == ("+", "-", "=", "~")
