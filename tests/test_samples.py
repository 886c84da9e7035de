"""kerasbench/samples.py and kerasbench/results.py: the tidy sample table from a folder and from git."""
from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from kerasbench import records, results, samples
from tests import fixtures_report as fx
from tests.helpers import git

TWO = ["tf_keras", "keras3_jax"]


def write_tree(root: Path, *, repeats: int = 3, epochs: int = 4, passes: int = 5, **params) -> Path:
    for fw in TWO:
        for seed in (0, 1):
            fx.write_run(root, fw, seed, repeats=repeats, epochs=epochs, passes=passes)
    raw = {"frameworks": TWO, "seeds": [0, 1], "repeats": repeats, **params}
    (root / "params.yaml").write_text(yaml.safe_dump(raw))
    return root


def test_every_sample_in_one_tidy_table(tmp_path):
    runs, frame = samples.load(results.Directory(write_tree(tmp_path)))
    assert list(frame.columns) == ["framework", "round", "seed", "repeat", "figure", "value", "disturbed"]
    assert [(r.framework, r.seed, r.repeat) for r in runs][:4] == [("tf_keras", 0, 0), ("tf_keras", 0, 1),
                                                                   ("tf_keras", 0, 2), ("tf_keras", 1, 0)]
    counts = frame.groupby(["framework", "figure"]).size().unstack()
    # 2 seeds x 3 repeats: 6 runs, 3 steady epochs each; every run's model evaluated, 5 passes of each kind
    assert counts.loc["tf_keras", "steady_epoch_s"] == 18 and counts.loc["keras3_jax", "steady_images_per_s"] == 18
    assert counts.loc["tf_keras", "first_epoch_s"] == 6 and counts.loc["tf_keras", "rss_peak_mib"] == 6
    assert counts.loc["tf_keras", "predict_images_per_s"] == 30 and counts.loc["tf_keras", "forward_images_per_s"] == 30
    assert counts.loc["tf_keras", "first_predict_s"] == 6
    assert not frame["disturbed"].any()   # the fixture's processes are quiet
    # measured as null on a CPU: NaN rows, so "not measured" and "not recorded" stay apart
    assert frame.query("figure == 'gpu_peak_mib'")["value"].isna().all()


def test_values_are_the_ones_in_the_files(tmp_path):
    root = write_tree(tmp_path)
    _, frame = samples.load(results.Directory(root))
    history = pd.read_csv(root / "metrics" / "repeats" / "keras3_jax-1-r2.csv")
    run = frame.query("framework == 'keras3_jax' and seed == 1 and repeat == 2")
    steady = history.loc[history["epoch"] >= 2, "epoch_s"].to_numpy()
    assert np.allclose(run.query("figure == 'steady_epoch_s'")["value"], steady)
    assert np.allclose(run.query("figure == 'steady_images_per_s'")["value"], fx.TRAIN_IMAGES / steady)
    train = json.loads((root / "metrics" / "repeats" / "keras3_jax-1-r2.json").read_text())
    assert run.query("figure == 'first_epoch_s'")["value"].item() == train["time"]["first_epoch_s"]
    assert run.query("figure == 'one_off_s'")["value"].item() == pytest.approx(
        train["time"]["fit_s"] - 4 * np.median(steady))
    passes = pd.read_csv(root / "plots" / "inference" / "tf_keras-0.csv")
    predict = frame.query("framework == 'tf_keras' and seed == 0 and repeat == 0 and figure == 'predict_images_per_s'")
    assert np.allclose(predict["value"], passes.query("kind == 'predict'")["images_per_s"])
    passes = pd.read_csv(root / "metrics" / "repeats" / "keras3_jax-1-r2.inference.csv")   # a rerun's own evaluation
    assert np.allclose(run.query("figure == 'forward_images_per_s'")["value"],
                       passes.query("kind == 'forward'")["images_per_s"])


def test_params_select_the_runs(tmp_path):
    """Stale contenders and reruns beyond `repeats` are ignored; without a `repeats` key, what is there."""
    root = write_tree(tmp_path)
    fx.write_run(root, "keras3_torch", 0)
    (root / "params.yaml").write_text(yaml.safe_dump({"frameworks": ["keras3_jax"], "seeds": [1], "repeats": 2}))
    runs, frame = samples.load(results.Directory(root))
    assert [r.name for r in runs] == ["keras3_jax-1", "keras3_jax-1-r1"]
    assert set(frame["framework"]) == {"keras3_jax"}
    (root / "params.yaml").write_text(yaml.safe_dump({"frameworks": ["keras3_jax"], "seeds": [1]}))
    assert len(samples.load(results.Directory(root))[0]) == 3


def test_adding_a_per_run_figure_is_one_registry_line(tmp_path):
    root = write_tree(tmp_path, repeats=1)
    runs, _ = samples.load(results.Directory(root))
    reached = [dataclasses.replace(r, train=dataclasses.replace(r.train, target=records.Target(
        seconds_to_target=None if i == 0 else 30.0 + i))) for i, r in enumerate(runs)]   # the first: not reached
    figures = {**samples.FIGURES,
               "seconds_to_target": samples.Figure("time to target", "s", "lower",
                                                   samples.per_run(lambda t: t.target.seconds_to_target))}
    frame = samples.table(reached + runs[:1], figures)   # the last run has no `target` at all: no row
    values = frame.query("figure == 'seconds_to_target'")["value"].tolist()
    assert len(values) == len(runs) and math.isnan(values[0]) and values[1:] == [31.0, 32.0, 33.0]


def test_a_malformed_value_names_the_run_and_key(tmp_path):
    fx.write_run(tmp_path, "tf_keras", 0, train={"time.import_s": "slow"})
    with pytest.raises(results.ResultsError, match=r"metrics/train/tf_keras-0.json: 'time.import_s' must be a number"):
        samples.load(results.Directory(tmp_path))


def test_a_git_revision_and_an_experiment_read_what_was_committed(tmp_path):
    root = write_tree(tmp_path, repeats=2)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "results")
    first = git(root, "rev-parse", "HEAD")
    for fw in TWO:   # slower results, committed and then referenced as a DVC experiment would be
        for seed in (0, 1):
            fx.write_run(root, fw, seed, repeats=2, epochs=4, slow=2.0)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "slower")
    git(root, "update-ref", "refs/exps/8d/0bc3a1/slow-run", "HEAD")
    git(root, "reset", "-q", "--hard", first)
    fx.write_run(root, "tf_keras", 0, repeats=2, epochs=4, slow=3.0)   # uncommitted: the workspace only

    def median(spec: str, fw: str = "tf_keras") -> float:
        _, frame = samples.load(results.resolve(spec, root))
        return frame.query(f"framework == '{fw}' and seed == 0 and figure == 'steady_epoch_s'")["value"].median()

    committed, experiment, workspace = median(first[:10]), median("slow-run"), median("workspace")
    assert experiment == pytest.approx(2 * committed) and workspace == pytest.approx(3 * committed)
    assert median("HEAD", "keras3_jax") == median("workspace", "keras3_jax")
    assert results.resolve("slow-run", root).label.startswith("slow-run (")
    assert results.resolve("HEAD", root).names("metrics/repeats")[:4] == [
        "keras3_jax-0-r1.csv", "keras3_jax-0-r1.eval.json", "keras3_jax-0-r1.inference.csv", "keras3_jax-0-r1.json"]


def test_unknown_names_and_ambiguous_experiments_are_one_line_errors(tmp_path):
    root = write_tree(tmp_path, repeats=1)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "one")
    git(root, "commit", "-q", "--allow-empty", "-m", "two")
    git(root, "update-ref", "refs/exps/aa/bb/twice", "HEAD")
    git(root, "update-ref", "refs/exps/cc/dd/twice", "HEAD~1")
    with pytest.raises(results.ResultsError, match=r"^'nope' is neither a git revision, a DVC experiment"):
        results.resolve("nope", root)
    with pytest.raises(results.ResultsError, match=r"'twice' names 2 DVC experiments"):
        results.resolve("twice", root)
    elsewhere = tmp_path.parent / f"{tmp_path.name}-not-a-repository"
    elsewhere.mkdir()
    with pytest.raises(results.ResultsError, match="not inside a git repository"):
        results.resolve("HEAD", elsewhere)



def test_the_unit_is_the_round_where_a_selection_pools_several():
    rows = [(r, 0, k, 1.0) for r in range(2) for k in range(2) for _ in range(3)]   # 2 rounds x 2 processes x 3
    both = pd.DataFrame(rows, columns=["round", "seed", "repeat", "value"])
    assert samples.units(both) == [0] * 6 + [1] * 6
    one = both[both["round"] == 1]
    assert samples.units(one) == samples.processes(one) == [(1, 0, 0)] * 3 + [(1, 0, 1)] * 3
