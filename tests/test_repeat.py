"""stages/repeat.py: interleaved timing reruns, each a fresh train process, written whole or not at all."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import yaml

from stages.repeat import schedule
from tests.helpers import write_random_data, write_stage_params

ROOT = Path(__file__).resolve().parents[1]


def test_every_round_runs_every_contender_and_seed_once_in_a_seeded_order():
    runs = schedule(["a", "b", "c", "d"], [0, 1], repeats=4, seed=7)
    assert [k for k, _, _ in runs] == [1] * 8 + [2] * 8 + [3] * 8
    for k in (1, 2, 3):
        assert Counter((fw, s) for r, fw, s in runs if r == k) == Counter((fw, s) for fw in "abcd" for s in (0, 1))
    orders = [[(fw, s) for r, fw, s in runs if r == k] for k in (1, 2, 3)]
    assert len({tuple(o) for o in orders}) == 3  # the order is drawn anew each round
    assert schedule(["a", "b", "c", "d"], [0, 1], 4, 7) == runs and schedule(["a", "b", "c", "d"], [0, 1], 4, 8) != runs
    assert schedule(["a"], [0], repeats=1, seed=0) == []


def test_no_contender_is_always_last():
    """Over many rounds each contender takes each position about equally often (drift hits all alike)."""
    runs = schedule(["a", "b", "c"], [0], repeats=301, seed=0)
    last = Counter(fw for i, (_, fw, _) in enumerate(runs) if i % 3 == 2)
    assert all(80 <= n <= 120 for n in last.values()), last


def run_stage(workdir: Path, repeats: int | str, out: str) -> subprocess.CompletedProcess:
    params = yaml.safe_load((workdir / "params.yaml").read_text())
    params["repeats"] = repeats
    (workdir / "params.yaml").write_text(yaml.safe_dump(params))
    return subprocess.run([sys.executable, "-m", "stages.repeat", "data.npz", "data.json", out], cwd=workdir,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    d = write_random_data(tmp_path_factory.mktemp("repeat"), 256, 64)
    write_stage_params(d, ["torch_native", "jax_native"], epochs=2, batch_size=64)
    return d


def test_one_repeat_writes_only_the_order(workdir):
    done = run_stage(workdir, 1, "one")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (workdir / "one").iterdir()) == ["order.json"]
    assert json.loads((workdir / "one/order.json").read_text()) == {"repeats": 1, "runs": []}


@pytest.mark.slow
def test_two_repeats_rerun_every_contender_in_a_fresh_process(workdir):
    done = run_stage(workdir, 2, "two")
    assert done.returncode == 0, done.stderr
    out = workdir / "two"
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(["order.json"] + [f"{fw}-0-r1{ext}" for fw in ("torch_native", "jax_native")
                                               for ext in (".json", ".env.json", ".csv", ".eval.json",
                                                           ".eval.env.json", ".inference.csv")])
    order = json.loads((out / "order.json").read_text())
    pairs = [(r["round"], r["framework"]) for r in order["runs"]]
    assert pairs == [(k, fw) for k, fw, _ in schedule(["torch_native", "jax_native"], [0], 2, 0)]
    for fw in ("torch_native", "jax_native"):
        metrics = json.loads((out / f"{fw}-0-r1.json").read_text())
        assert metrics["epochs"] == 2 and metrics["time"]["first_epoch_s"] > 0
        assert len(pd.read_csv(out / f"{fw}-0-r1.csv")) == 2
        # the rerun's model, evaluated in a process of its own: one inference sample per training process
        evaluated = json.loads((out / f"{fw}-0-r1.eval.json").read_text())
        assert 0 <= evaluated["test"]["accuracy"] <= 1 and evaluated["interference"]["window_s"] > 0
        passes = pd.read_csv(out / f"{fw}-0-r1.inference.csv")
        assert len(passes) == 2 * evaluated["inference"]["repeats"]
    assert not (workdir / "-").exists() and not (workdir / "models").exists() or \
        sorted(p.name for p in (workdir / "models").iterdir()) == []  # reruns keep no model


def test_a_failing_run_leaves_nothing(workdir):
    params = yaml.safe_load((workdir / "params.yaml").read_text())
    params["device"] = "gpu"  # no GPU here: the first rerun fails at its start
    (workdir / "params.yaml").write_text(yaml.safe_dump(params))
    try:
        done = run_stage(workdir, 2, "failed")
    finally:
        params["device"] = "auto"
        (workdir / "params.yaml").write_text(yaml.safe_dump(params))
    assert done.returncode == 1 and "failed in train" in done.stderr and "nothing written" in done.stderr
    assert "device: gpu" in done.stderr
    assert not (workdir / "failed").exists() and not list(workdir.glob(".failed.*"))


@pytest.mark.e2e
@pytest.mark.quiet
def test_auto_repeats_add_rounds_until_decided_or_the_budget(tmp_path):
    """repeats: auto with keras3_torch and its baseline torch_native: rounds until their comparison
    decides, within max_repeats 3 (two rounds of the stage); order.json says how many processes and why
    it stopped. One process a side never decides, so a second round always runs."""
    write_random_data(tmp_path, 256, 64)
    params = write_stage_params(tmp_path, ["torch_native", "keras3_torch"], epochs=3, batch_size=64)
    params["evaluate"]["repeats"] = 2
    params["adaptive"] = {"budget": "3m", "factor": 1.1, "max_repeats": 3}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    done = run_stage(tmp_path, "auto", "auto")
    assert done.returncode == 0, done.stderr
    order = json.loads((tmp_path / "auto/order.json").read_text())
    assert 2 <= order["repeats"] <= 3 and order["auto"]["looks"] == order["repeats"] - 1
    assert len(order["runs"]) == 2 * (order["repeats"] - 1)
    stopped = order["auto"]["stopped"]
    assert stopped.startswith(("every comparison of interest decided", "the budget (3m)", "3 processes"))
    assert all("keras3_torch vs torch_native" in u for u in order["auto"]["undecided"])
    assert "repeat: after round 1, undecided: keras3_torch vs torch_native" in done.stdout
