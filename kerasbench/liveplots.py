"""The live per-epoch charts DVC's tools show: dvclive/dvc.yaml, one chart per series, one line per run.

Each train stage logs its epochs with dvclive into dvclive/<contender>-<seed>/ as they finish
(kerasbench/live.py): plots/metrics/<series>.tsv, columns `step` (0 for epoch 1) and the series.
DVC draws several files on one chart only when one plot definition lists them all (its `y`
mapping), and dvc.yaml's top-level plots cannot loop over params.yaml, so this module writes the
list from params.yaml's frameworks x seeds into a dvc.yaml of its own beside the folders. `dvc
plots show` with no arguments, `dvc plots diff`, the VS Code extension's Plots view and DVC Studio
read every dvc.yaml of the repository, so they show these charts with the report's.

It is refreshed with the fingerprints (`python -m kerasbench.fingerprint`), the step every entry
point runs before DVC; rewritten only when its content changes. A run that has not started yet has
no files: DVC names them as missing and draws the others (the live case: the contenders run one
after another). The report's overlay (reports/epochs.csv, in the root dvc.yaml) stays: it is the
median over repeats, drawn after every run finished.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Iterable

import yaml

from kerasbench import params, paths
from kerasbench.files import write_text

# The series every run logs (records.EPOCH_SERIES names them; test accuracy and GPU energy only exist
# with a target accuracy or on a GPU, so they are left to the report), with each chart's title.
SERIES = {
    "epoch_s": "Seconds per epoch, live",
    "images_per_s": "Training images/s per epoch, live",
    "loss": "Training loss per epoch, live",
    "accuracy": "Training accuracy per epoch, live",
}
DVC_YAML = paths.LIVE_PLOTS
HEADER = ("# Written by kerasbench/liveplots.py from params.yaml (frameworks x seeds) with the fingerprints\n"
          "# (python -m kerasbench.fingerprint, which make repro runs): edit params.yaml, not this file.\n")


def definitions(runs: Iterable[tuple[str, int]]) -> dict:
    """The dvc.yaml mapping for these (contender, seed) runs: paths relative to the live folder."""
    runs = list(runs)
    inside = len(paths.LIVE) + 1   # DVC reads a dvc.yaml's paths from its own folder
    return {"plots": [{title: {"template": paths.LIVE_TEMPLATE, "x": "step", "x_label": "epoch", "y_label": series,
                               "y": {paths.live_series(fw, seed, series)[inside:]: series for fw, seed in runs}}}
                      for series, title in SERIES.items()]}


def text(runs: Iterable[tuple[str, int]]) -> str:
    return HEADER + yaml.safe_dump(definitions(runs), sort_keys=False)


def runs_of(params_path: Path | str) -> list[tuple[str, int]]:
    """params.yaml's frameworks x seeds, in its order (kerasbench/params.py checks the file)."""
    p = params.load(params_path)
    return [(fw, seed) for fw in p.frameworks for seed in p.seeds]


def write(params_path: Path | str = "params.yaml", root: Path | str = ".") -> bool:
    """Write ROOT/dvclive/dvc.yaml for params.yaml's runs; True when its content changed."""
    target = Path(root) / DVC_YAML
    new = text(runs_of(params_path))
    if target.exists() and target.read_text() == new:
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    write_text(target, new)
    return True


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("params", nargs="?", default="params.yaml")
    args = parser.parse_args(argv)
    changed = write(args.params)
    print(f"live plots: {DVC_YAML} {'written' if changed else 'unchanged'}")


if __name__ == "__main__":
    main()
