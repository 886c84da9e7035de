"""Reading the results the report needs: every file of every planned run, or one error naming the missing ones.

For each contender x seed in params.yaml, every file of repeat 0 and, for repeats 1..R-1 (R is
params' `repeats`), each repeat's training and evaluation files (kerasbench/paths.py says where,
kerasbench/records.py reads them). Results of contenders or seeds no longer listed are ignored.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from kerasbench import paths, records, samples
from kerasbench.params import Params
from kerasbench.records import Run
from kerasbench.results import ResultsError, Tree, get, read_json

# Per-run quality scores (from the evaluation records): shown as median (min–max) over seeds.
SCORES = {
    "train_accuracy": lambda e: e.train.accuracy, "train_f1_weighted": lambda e: e.train.f1_weighted,
    "train_f1_macro": lambda e: e.train.f1_macro, "test_accuracy": lambda e: e.test.accuracy,
    "test_f1_weighted": lambda e: e.test.f1_weighted, "test_f1_macro": lambda e: e.test.f1_macro,
    "test_precision_weighted": lambda e: e.test.precision_weighted,
    "test_recall_weighted": lambda e: e.test.recall_weighted,
}


class ReportError(ResultsError):
    """A result file is missing or malformed; the message names it."""


@dataclass(frozen=True)
class Results:
    runs: list[Run]                 # repeat 0 of each contender x seed, with its environments and plots
    timed: list[Run]                # one per training process (repeats included)
    samples: pd.DataFrame           # kerasbench/samples.py's tidy table
    repeats: int                    # training processes per contender x seed


def result_paths(framework: str, seed: int, repeats: int = 1) -> list[str]:
    """Every file the report reads for one contender x seed (e.g. to copy a run's results elsewhere)."""
    return [path for k in range(repeats) for path in paths.read_files(framework, seed, k, k == 0).values()]


def auto_repeats(tree: Tree) -> int:
    """With `repeats: auto`: the processes per contender and seed that the repeat stage ran (its order.json)."""
    order = read_json(tree, paths.ORDER)
    if not order or not isinstance(order.get("repeats"), int) or order["repeats"] < 1:
        raise ReportError(f"{paths.ORDER}: missing or without a repeat count "
                          "(repeats: auto; run the repeat stage first, e.g. `dvc repro`)")
    return order["repeats"]


def load(p: Params, tree: Tree) -> Results:
    """Every planned run, in params' order; every missing file named at once."""
    repeats = p.repeats if not p.auto else auto_repeats(tree)
    planned = [(fw, seed, k) for fw in p.frameworks for seed in p.seeds for k in range(repeats)]
    missing = sorted(path for key in planned for path in records.missing_files(tree, [key], key[2] == 0))
    if missing:
        raise ReportError(f"{len(missing)} result file(s) missing for frameworks x seeds in params.yaml "
                          f"(run the pipeline first, e.g. `dvc repro`): {', '.join(missing)}")
    timed = []
    for key in planned:
        run = records.read_run(tree, *key, everything=key[2] == 0)
        if run is None:   # checked for every file up front; a file that vanished since is still named
            raise ReportError(f"{paths.run_files(*key)[paths.TRAIN]}: missing")
        timed.append(run)
    return Results([r for r in timed if r.repeat == 0], timed, samples.table(timed), repeats)


def scores(runs: list[Run]) -> pd.DataFrame:
    """Accuracy, precision, recall and F1 per contender x seed (NaN where not recorded)."""
    def value(run: Run, score) -> float:
        number = score(run.eval) if run.eval is not None else None
        return math.nan if number is None else float(number)
    rows = [{"framework": r.framework, "seed": r.seed, **{k: value(r, s) for k, s in SCORES.items()}} for r in runs]
    return pd.DataFrame(rows)


def histories(timed: list[Run]) -> pd.DataFrame:
    """Every timed process's epoch rows in one frame, with a `framework` column."""
    return pd.concat([r.history.assign(framework=r.framework) for r in timed])


def synthetic_flags(run: Run) -> dict[str, bool]:
    return {"train": bool(run.train.synthetic), "eval": bool(run.eval is not None and run.eval.synthetic),
            "env": bool(get(run.env or {}, "data.synthetic"))}
