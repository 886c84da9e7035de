"""Where every result file of a run lives, in one place.

A run is one training process and the evaluation of its model: contender c, seed s, repeat k.
Repeat 0 is the pipeline's `train@c-s` and `evaluate@c-s` stages (their outputs are declared in
dvc.yaml with these same paths; tests/test_paths.py checks that they agree); repeats 1.. are the
repeat stage's, all in one folder. Every other module asks here.
"""
from __future__ import annotations

import re

REPEATS = "metrics/repeats"
SUMMARY = "metrics/summary.json"
# Keys of run_files(): what each file holds.
TRAIN, ENV, HISTORY = "train", "env", "history"                     # training: numbers, environment, epochs
EVAL, EVAL_ENV, INFERENCE = "eval", "eval_env", "inference"         # evaluation: numbers, environment, passes
CONFUSION, PER_CLASS = "confusion", "per_class"                     # repeat 0 only: the plots of the test set


def run_files(framework: str, seed: int, repeat: int = 0) -> dict[str, str]:
    """Every file of one run, by what it holds."""
    name = f"{framework}-{seed}"
    if repeat == 0:
        return {TRAIN: f"metrics/train/{name}.json", ENV: f"metrics/train/{name}.env.json",
                HISTORY: f"plots/history/{name}.csv", EVAL: f"metrics/eval/{name}.json",
                EVAL_ENV: f"metrics/eval/{name}.env.json", INFERENCE: f"plots/inference/{name}.csv",
                CONFUSION: f"plots/confusion/{name}.csv", PER_CLASS: f"plots/per_class/{name}.csv"}
    stem = f"{REPEATS}/{name}-r{repeat}"
    return {TRAIN: f"{stem}.json", ENV: f"{stem}.env.json", HISTORY: f"{stem}.csv", EVAL: f"{stem}.eval.json",
            EVAL_ENV: f"{stem}.eval.env.json", INFERENCE: f"{stem}.inference.csv"}


def run_name(framework: str, seed: int, repeat: int = 0) -> str:
    return f"{framework}-{seed}" + (f"-r{repeat}" if repeat else "")


_TRAINED = re.compile(r"^(?P<framework>[A-Za-z0-9_]+)-(?P<seed>\d+)\.json$")
_REPEATED = re.compile(r"^(?P<framework>[A-Za-z0-9_]+)-(?P<seed>\d+)-r(?P<repeat>\d+)\.json$")


def parse_train_file(folder: str, filename: str) -> tuple[str, int, int] | None:
    """(framework, seed, repeat) of a training metrics file found in metrics/train or metrics/repeats."""
    if folder == REPEATS:
        found = _REPEATED.match(filename)
        return (found["framework"], int(found["seed"]), int(found["repeat"])) if found else None
    found = _TRAINED.match(filename)
    return (found["framework"], int(found["seed"]), 0) if found else None
