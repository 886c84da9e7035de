"""kerasbench/liveplots.py: dvclive/dvc.yaml lists params.yaml's runs, and real DVC draws each series as one
chart with one line per contender and seed (files as dvclive writes them: `step` and the series, tab-separated)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from kerasbench import liveplots, paths
from tests.helpers import BIN, ROOT, git, sh

RUNS = [("keras3_torch", 0), ("tf_keras", 0), ("tf_keras", 1)]


def write_params(root: Path, frameworks: list[str], seeds: list[int]) -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params.update(frameworks=frameworks, seeds=seeds)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def test_one_chart_per_series_listing_every_run_of_params(tmp_path):
    write_params(tmp_path, ["keras3_torch", "tf_keras"], [0, 1])
    assert liveplots.write(tmp_path / "params.yaml", tmp_path) is True
    assert liveplots.write(tmp_path / "params.yaml", tmp_path) is False   # unchanged: not rewritten
    text = (tmp_path / paths.LIVE_PLOTS).read_text()
    assert text.startswith("# Written by kerasbench/liveplots.py")
    plots = yaml.safe_load(text)["plots"]
    assert [next(iter(p)) for p in plots] == list(liveplots.SERIES.values())
    epoch = plots[0]["Seconds per epoch, live"]
    assert epoch["template"] == paths.LIVE_TEMPLATE and epoch["x"] == "step"
    assert epoch["y"] == {f"{fw}-{s}/plots/metrics/epoch_s.tsv": "epoch_s"
                          for fw in ("keras3_torch", "tf_keras") for s in (0, 1)}
    write_params(tmp_path, ["keras3_torch"], [0])   # an experiment with one contender: the list follows
    assert liveplots.write(tmp_path / "params.yaml", tmp_path) is True
    assert list(yaml.safe_load((tmp_path / paths.LIVE_PLOTS).read_text())["plots"][0]
                ["Seconds per epoch, live"]["y"]) == ["keras3_torch-0/plots/metrics/epoch_s.tsv"]


def test_dvc_plots_show_draws_one_line_per_run(tmp_path):
    git(tmp_path, "init", "-q")
    sh(tmp_path, str(BIN / "dvc"), "init", "-q")
    (tmp_path / "plots/templates").mkdir(parents=True)
    shutil.copy(ROOT / paths.LIVE_TEMPLATE, tmp_path / paths.LIVE_TEMPLATE)
    for k, (fw, seed) in enumerate(RUNS):
        for series in liveplots.SERIES:
            path = tmp_path / paths.live_series(fw, seed, series)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"step\t{series}\n0\t{1.5 + k}\n1\t{1.25 + k}\n")
    (tmp_path / paths.LIVE_PLOTS).write_text(liveplots.text(RUNS))
    shown = json.loads(sh(tmp_path, str(BIN / "dvc"), "plots", "show", "--json").stdout)
    assert not shown.get("errors"), shown["errors"]
    for title in liveplots.SERIES.values():
        spec = shown["data"][title][0]["content"]
        runs = {v["filename"].split("/")[0] for v in spec["data"]["values"]}
        assert runs == {"keras3_torch-0", "tf_keras-0", "tf_keras-1"}, title   # the template's `run`
        assert spec["encoding"]["color"]["field"] == "run" and spec["encoding"]["x"]["field"] == "epoch"
    values = shown["data"]["Seconds per epoch, live"][0]["content"]["data"]["values"]
    assert [float(v["epoch_s"]) for v in values if v["filename"].startswith("tf_keras-1/")] == [3.5, 3.25]
    # a run that has not started yet: DVC names its files and draws the rest
    shutil.rmtree(tmp_path / paths.live_dir("tf_keras", 1))
    partial = json.loads(sh(tmp_path, str(BIN / "dvc"), "plots", "show", "--json").stdout)
    assert {e["source"].split("/")[1] for e in partial["errors"]} == {"tf_keras-1"}
    assert len(partial["data"]["Seconds per epoch, live"][0]["content"]["data"]["values"]) == 4
