"""Where every file of the pipeline lives, in one place (dvc.yaml spells the same paths; tests/test_paths.py
checks that they agree, and that no other module spells a result path).

A run is one training process and the evaluation of its model: contender c, seed s, repeat k.
Repeat 0 is the pipeline's `train@c-s` and `evaluate@c-s` stages; repeats 1.. are the repeat stage's,
all in one folder. What each file holds is kerasbench/records.py's.
"""
from __future__ import annotations

import re

RAW, RAW_JSON = "data/raw/cifar-10-binary.tar.gz", "data/raw/cifar-10-binary.json"      # download
DATA, DATA_JSON = "data/prepared/cifar10.npz", "data/prepared/cifar10.json"             # prepare
DOWNLOADS = "data/.downloads"              # a download in progress, resumable (not an output)
TRAINED, EVALUATED = "metrics/train", "metrics/eval"
REPEATS = "metrics/repeats"
ORDER = f"{REPEATS}/order.json"            # the repeat stage's order of runs (and rounds, with repeats: auto)
SUMMARY, HEADLINE = "metrics/summary.json", "metrics/headline.json"
REPORTS = "reports"                        # report.md, index.html, the figures
EPOCHS = "epochs.csv"                      # in REPORTS: every contender's median epochs, the overlay plot
FINGERPRINTS = "results/fingerprints"
MODELS, COMPILE_CACHE = "models", "models/compile-cache"
LIVE = "dvclive"
LIVE_PLOTS = f"{LIVE}/dvc.yaml"              # the live epoch charts (kerasbench/liveplots.py), from params.yaml
LIVE_TEMPLATE = "plots/templates/live.json"  # their Vega-Lite template: one line per contender and seed
# Keys of run_files(): what each file holds.
TRAIN, ENV, HISTORY = "train", "env", "history"                     # training: numbers, environment, epochs
EVAL, EVAL_ENV, INFERENCE = "eval", "eval_env", "inference"         # evaluation: numbers, environment, passes
CONFUSION, PER_CLASS = "confusion", "per_class"                     # repeat 0 only: the plots of the test set
READ = (TRAIN, HISTORY, EVAL, INFERENCE)                            # what every reader of samples reads
READ_REPEAT_0 = (ENV, EVAL_ENV, CONFUSION, PER_CLASS)               # and the report, of repeat 0


def run_name(framework: str, seed: int, repeat: int = 0) -> str:
    return f"{framework}-{seed}" + (f"-r{repeat}" if repeat else "")


def run_files(framework: str, seed: int, repeat: int = 0) -> dict[str, str]:
    """Every file of one run, by what it holds."""
    name = f"{framework}-{seed}"
    if repeat == 0:
        return {TRAIN: f"{TRAINED}/{name}.json", ENV: f"{TRAINED}/{name}.env.json",
                HISTORY: f"plots/history/{name}.csv", EVAL: f"{EVALUATED}/{name}.json",
                EVAL_ENV: f"{EVALUATED}/{name}.env.json", INFERENCE: f"plots/inference/{name}.csv",
                CONFUSION: f"plots/confusion/{name}.csv", PER_CLASS: f"plots/per_class/{name}.csv"}
    return repeat_files(REPEATS, framework, seed, repeat)


def repeat_files(folder: str, framework: str, seed: int, repeat: int) -> dict[str, str]:
    """The files of repeat k >= 1 in `folder` (the repeat stage writes them in a folder of its own first)."""
    stem = f"{folder}/{run_name(framework, seed, repeat)}"
    return {TRAIN: f"{stem}.json", ENV: f"{stem}.env.json", HISTORY: f"{stem}.csv", EVAL: f"{stem}.eval.json",
            EVAL_ENV: f"{stem}.eval.env.json", INFERENCE: f"{stem}.inference.csv"}


def read_files(framework: str, seed: int, repeat: int, everything: bool = False) -> dict[str, str]:
    """The files a reader of results reads of one run: the samples' (READ), and with `everything` repeat 0's
    environments and test-set plots too."""
    files = run_files(framework, seed, repeat)
    return {key: files[key] for key in (*READ, *(READ_REPEAT_0 if everything else ())) if key in files}


def live_dir(framework: str, seed: int) -> str:
    return f"{LIVE}/{framework}-{seed}"


def live_series(framework: str, seed: int, series: str) -> str:
    """The file dvclive writes one per-epoch series into (`step` and the series, tab-separated)."""
    return f"{live_dir(framework, seed)}/plots/metrics/{series}.tsv"


def model_dir(framework: str, seed: int) -> str:
    return f"{MODELS}/{framework}-{seed}"


_TRAINED = re.compile(r"^(?P<framework>[A-Za-z0-9_]+)-(?P<seed>\d+)\.json$")
_REPEATED = re.compile(r"^(?P<framework>[A-Za-z0-9_]+)-(?P<seed>\d+)-r(?P<repeat>\d+)\.json$")


def parse_train_file(folder: str, filename: str) -> tuple[str, int, int] | None:
    """(framework, seed, repeat) of a training metrics file found in metrics/train or metrics/repeats."""
    if folder == REPEATS:
        found = _REPEATED.match(filename)
        return (found["framework"], int(found["seed"]), int(found["repeat"])) if found else None
    found = _TRAINED.match(filename)
    return (found["framework"], int(found["seed"]), 0) if found else None
