"""Reading the results the report needs: every file of every planned run, or one error naming the missing ones.

For each contender x seed in params.yaml, every file of repeat 0 and, for repeats 1..R-1 (R is
params' `repeats`), each repeat's training and evaluation files (kerasbench/paths.py says where).
Results of contenders or seeds no longer listed are ignored.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from kerasbench import paths, samples
from kerasbench.params import Params
from kerasbench.results import ResultsError, Tree, get, read_csv, read_json

HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "epoch_s")
CONFUSION_COLUMNS = ("actual", "predicted")
PER_CLASS_COLUMNS = ("class", "precision", "recall", "f1", "support")

# Per-run quality scores (from the eval metrics): shown as median (min–max) over seeds.
SCORES = {
    "train_accuracy": "train.accuracy", "train_f1_weighted": "train.f1_weighted", "train_f1_macro": "train.f1_macro",
    "test_accuracy": "test.accuracy", "test_f1_weighted": "test.f1_weighted", "test_f1_macro": "test.f1_macro",
    "test_precision_weighted": "test.precision_weighted", "test_recall_weighted": "test.recall_weighted",
}


class ReportError(ResultsError):
    """A result file is missing or malformed; the message names it."""


@dataclass(frozen=True)
class Run:
    """Everything one contender x seed produced in its train (repeat 0) and evaluate stages."""
    framework: str
    seed: int
    train: dict
    env: dict
    eval: dict
    eval_env: dict
    history: pd.DataFrame
    confusion: pd.DataFrame
    per_class: pd.DataFrame

    @property
    def name(self) -> str:
        return f"{self.framework}-{self.seed}"


@dataclass(frozen=True)
class Results:
    runs: list[Run]                 # one per contender x seed
    timed: list[samples.Run]        # one per training process (repeats included)
    samples: pd.DataFrame           # kerasbench/samples.py's tidy table
    repeats: int                    # training processes per contender x seed


def report_paths(framework: str, seed: int) -> dict[str, str]:
    """The files the report reads of repeat 0 besides the samples (kerasbench/paths.py)."""
    files = paths.run_files(framework, seed, 0)
    return {key: files[key] for key in (paths.ENV, paths.EVAL_ENV, paths.CONFUSION, paths.PER_CLASS)}


def result_paths(framework: str, seed: int, repeats: int = 1) -> list[str]:
    """Every file the report reads for one contender x seed (e.g. to copy a run's results elsewhere)."""
    return ([path for k in range(repeats) for path in samples.run_paths(framework, seed, k).values()]
            + list(report_paths(framework, seed).values()))


def _required(value, path: str):
    if value is None:  # checked for every file up front; a file that vanished since is still named
        raise ReportError(f"{path}: missing")
    return value


def auto_repeats(tree: Tree) -> int:
    """With `repeats: auto`: the processes per contender and seed that the repeat stage ran (its order.json)."""
    order = read_json(tree, f"{paths.REPEATS}/order.json")
    if not order or not isinstance(order.get("repeats"), int) or order["repeats"] < 1:
        raise ReportError(f"{paths.REPEATS}/order.json: missing or without a repeat count "
                          "(repeats: auto; run the repeat stage first, e.g. `dvc repro`)")
    return order["repeats"]


def load(p: Params, tree: Tree) -> Results:
    """Every planned run, in params' order; every missing file named at once."""
    repeats = p.repeats if not p.auto else auto_repeats(tree)
    planned = [(fw, seed, k) for fw in p.frameworks for seed in p.seeds for k in range(repeats)]
    extra = [path for fw in p.frameworks for seed in p.seeds for path in report_paths(fw, seed).values()]
    missing = samples.missing_files(tree, planned) + [path for path in extra if tree.read_text(path) is None]
    if missing:
        raise ReportError(f"{len(missing)} result file(s) missing for frameworks x seeds in params.yaml "
                          f"(run the pipeline first, e.g. `dvc repro`): {', '.join(sorted(missing))}")
    timed = [_required(samples.read_run(tree, *key), samples.run_paths(*key)["train"]) for key in planned]
    runs = []
    for fw in p.frameworks:
        for seed in p.seeds:
            paths, first = report_paths(fw, seed), samples.run_paths(fw, seed, 0)
            runs.append(Run(fw, seed, read_json(tree, first["train"]), read_json(tree, paths["env"]),
                            read_json(tree, first["eval"]), read_json(tree, paths["eval_env"]),
                            samples.numeric(read_csv(tree, first["history"], HISTORY_COLUMNS), HISTORY_COLUMNS,
                                            first["history"]),
                            read_csv(tree, paths["confusion"], CONFUSION_COLUMNS),
                            read_csv(tree, paths["per_class"], PER_CLASS_COLUMNS)))
    return Results(runs, timed, samples.table(timed), repeats)


def scores(runs: list[Run]) -> pd.DataFrame:
    """Accuracy, precision, recall and F1 per contender x seed (NaN where not recorded)."""
    def value(run: Run, dotted: str) -> float:
        number = samples.lookup(run.eval, dotted, paths.run_files(run.framework, run.seed)[paths.EVAL])
        return math.nan if number is None else number
    rows = [{"framework": r.framework, "seed": r.seed, **{k: value(r, d) for k, d in SCORES.items()}} for r in runs]
    return pd.DataFrame(rows)


def histories(timed: list[samples.Run]) -> pd.DataFrame:
    """Every timed process's epoch rows in one frame, with a `framework` column."""
    return pd.concat([r.history.assign(framework=r.framework) for r in timed])


def synthetic_flags(run: Run) -> dict[str, bool]:
    return {"train": bool(run.train.get("synthetic")), "eval": bool(run.eval.get("synthetic")),
            "env": bool(get(run.env, "data.synthetic"))}
