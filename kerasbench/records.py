"""The results schema: every record a stage writes and every reader reads, typed, in one module.

A training process writes a TrainResult (metrics/train/<c>-<s>.json, or the repeat stage's file), its
environment (a mapping: kerasbench/measure.py `run_environment`) and its epochs (HISTORY_COLUMNS, one
row per epoch); an evaluation writes an EvalResult, its environment and its timed passes
(INFERENCE_COLUMNS). kerasbench/paths.py says where each file lives. `write()` turns a record into the
JSON file; `read()` turns a file back into the record, checking that every number is a number or null
(null: not measured, not reached) and naming the file and key when one is not. Keys a file lacks (it was
written by an older version) read as null; keys it has beyond these are ignored.

A Run is everything one training process and the evaluation of its model left: `read_run()` reads it
from a results tree (a folder or a git revision, kerasbench/results.py), `load()` every run that
params.yaml plans.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, fields
from pathlib import Path

import pandas as pd

from kerasbench import paths
from kerasbench.files import write_json
from kerasbench.results import Directory, ResultsError, Tree, numeric, read_csv, read_json, read_params

Number = typing.Optional[float]   # an int where the value counts something; null where not measured


@dataclass(frozen=True)
class TrainTime:
    import_s: Number = None            # importing the framework
    context_s: Number = None           # its context on the device and one tiny op
    build_s: Number = None             # model build and compile
    fit_setup_s: Number = None         # from fit() to the first epoch
    first_epoch_s: Number = None       # tracing and compilation included
    steady_epoch_s: Number = None      # median of epochs 2..N
    steady_epoch_min_s: Number = None
    steady_epoch_max_s: Number = None
    fit_s: Number = None               # the whole fit, scoring for a target taken out


@dataclass(frozen=True)
class Throughput:
    steady_images_per_s: Number = None
    first_epoch_images_per_s: Number = None


@dataclass(frozen=True)
class Memory:
    rss_after_import_mib: Number = None
    rss_after_build_mib: Number = None
    rss_peak_fit_mib: Number = None    # sampled during fit
    rss_peak_os_mib: Number = None     # the kernel's peak for the process (ru_maxrss)
    build_increase_mib: Number = None
    fit_increase_mib: Number = None
    gpu_peak_mib: Number = None        # the framework allocator's peak; null on a CPU


@dataclass(frozen=True)
class Final:
    loss: Number = None
    accuracy: Number = None


@dataclass(frozen=True)
class Target:
    accuracy: Number = None            # train.target_accuracy
    reached: Number = None             # 1 or 0
    epochs_to_target: Number = None
    seconds_to_target: Number = None   # epoch times up to the first epoch at the target
    scoring_s: Number = None


@dataclass(frozen=True)
class CompileCache:
    warm: Number = None
    supported: Number = None
    cold_first_epoch_s: Number = None
    warm_first_epoch_s: Number = None


@dataclass(frozen=True)
class TrainResult:
    """The numbers of one training process (metrics/train/<c>-<s>.json)."""
    synthetic: Number = None
    epochs: Number = None
    batch_size: Number = None
    train_images: Number = None
    jit_compile: Number = None
    deterministic: Number = None
    gpu: Number = None
    time: TrainTime = TrainTime()
    throughput: Throughput = Throughput()
    memory: Memory = Memory()
    final: Final = Final()
    interference: typing.Optional[dict] = None   # kerasbench/interference.py summarize()
    energy: typing.Optional[dict] = None         # kerasbench/energy.py summary(); null on a CPU
    target: typing.Optional[Target] = None       # with train.target_accuracy
    compile_cache: typing.Optional[CompileCache] = None   # with train.compile_cache


@dataclass(frozen=True)
class Scores:
    accuracy: Number = None
    precision_weighted: Number = None
    recall_weighted: Number = None
    f1_weighted: Number = None
    precision_macro: Number = None
    recall_macro: Number = None
    f1_macro: Number = None


@dataclass(frozen=True)
class Inference:
    predict_images_per_s: Number = None       # median over the timed predict() passes
    predict_images_per_s_min: Number = None
    predict_images_per_s_max: Number = None
    forward_images_per_s: Number = None       # median over the forward passes on device
    predict_pass_s: Number = None
    first_predict_s: Number = None            # the first call, tracing included
    batch_size: Number = None
    repeats: Number = None


@dataclass(frozen=True)
class EvalResult:
    """The numbers of one evaluation (metrics/eval/<c>-<s>.json)."""
    synthetic: Number = None
    gpu: Number = None
    train: Scores = Scores()
    test: Scores = Scores()
    inference: Inference = Inference()
    interference: typing.Optional[dict] = None


# Per-epoch columns of the history file: the ones every reader needs (a file written by an older
# kerasbench or by hand may hold no more), then every series a reader may plot, with its label and unit
# (kerasbench/report/ and the live log show each one that a file holds).
HISTORY_COLUMNS = ("epoch", "epoch_s")
EPOCH_SERIES = {
    "epoch_s": ("epoch time", "s"),
    "images_per_s": ("training throughput", "images/s"),
    "loss": ("training loss", ""),
    "accuracy": ("training accuracy", ""),
    "test_accuracy": ("test accuracy (with a target)", ""),
    "energy_j": ("GPU energy", "J"),
}
INFERENCE_COLUMNS = ("pass", "kind", "seconds", "images_per_s")
CONFUSION_COLUMNS = ("actual", "predicted")
PER_CLASS_COLUMNS = ("class", "precision", "recall", "f1", "support")


def dump(record) -> dict:
    """The record as the JSON mapping its file holds (keys in the order above)."""
    return dataclasses.asdict(record)


def write(path: Path | str, record) -> None:
    write_json(path, dump(record))


def parse(cls, doc: dict, where: str, prefix: str = ""):
    """The record of type `cls` from a JSON mapping; ResultsError naming the file and key if a value is wrong."""
    hints = typing.get_type_hints(cls)
    values = {}
    for f in fields(cls):
        key, value = prefix + f.name, doc.get(f.name)
        kind = _record_type(hints[f.name])
        if value is None:
            values[f.name] = None if kind is None or _optional(hints[f.name]) else kind()
        elif kind is not None:
            if not isinstance(value, dict):
                raise ResultsError(f"{where}: '{key}' must be a mapping, got {value!r}")
            values[f.name] = parse(kind, value, where, key + ".")
        elif hints[f.name] is Number:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ResultsError(f"{where}: '{key}' must be a number or null, got {value!r}")
            values[f.name] = value
        elif not isinstance(value, dict):
            raise ResultsError(f"{where}: '{key}' must be a mapping or null, got {value!r}")
        else:
            values[f.name] = value
    return cls(**values)


def _record_type(hint) -> type | None:
    for candidate in (hint, *typing.get_args(hint)):
        if dataclasses.is_dataclass(candidate):
            return candidate
    return None


def _optional(hint) -> bool:
    return type(None) in typing.get_args(hint)


def read(tree: Tree, path: str, cls):
    """The record in one file of a results tree, or None when the file is not there."""
    doc = read_json(tree, path)
    return None if doc is None else parse(cls, doc, path)


def read_file(path: Path | str, cls):
    """The record in a file on disk (ResultsError when it is missing or malformed)."""
    found = read(Directory(Path(path).parent), Path(path).name, cls)
    if found is None:
        raise ResultsError(f"{path}: missing")
    return found


# ---------------------------------------------------------------- runs in a results tree

@dataclass(frozen=True)
class Run:
    """The files of one training process and of the evaluation of its model (None where absent); the
    environments and the test set's plots only where asked for (repeat 0, the report)."""
    framework: str
    seed: int
    repeat: int
    train: TrainResult
    history: pd.DataFrame
    eval: EvalResult | None = None
    inference: pd.DataFrame | None = None
    round: int = 0    # which result tree of a side it came from (compare's rounds); 0 elsewhere
    env: dict | None = None
    eval_env: dict | None = None
    confusion: pd.DataFrame | None = None
    per_class: pd.DataFrame | None = None

    @property
    def name(self) -> str:
        return paths.run_name(self.framework, self.seed, self.repeat)

    def file(self, role: str) -> str:
        """The path of one of its files (paths.TRAIN, paths.HISTORY, ...), e.g. for a message."""
        return paths.run_files(self.framework, self.seed, self.repeat)[role]


def read_run(tree: Tree, framework: str, seed: int, repeat: int, everything: bool = False) -> Run | None:
    """One run's files; None when its train metrics or history are missing (its evaluation may be).
    `everything`: the environments, confusion and per-class tables too (repeat 0)."""
    files = paths.run_files(framework, seed, repeat)
    train = read(tree, files[paths.TRAIN], TrainResult)
    history = numeric(read_csv(tree, files[paths.HISTORY], HISTORY_COLUMNS), HISTORY_COLUMNS, files[paths.HISTORY])
    if train is None or history is None:
        return None
    inference = numeric(read_csv(tree, files[paths.INFERENCE], INFERENCE_COLUMNS),
                        ("pass", "seconds", "images_per_s"), files[paths.INFERENCE])
    run = Run(framework, seed, repeat, train, history, read(tree, files[paths.EVAL], EvalResult), inference)
    if not everything:
        return run
    return dataclasses.replace(run, env=read_json(tree, files[paths.ENV]),
                               eval_env=read_json(tree, files[paths.EVAL_ENV]),
                               confusion=read_csv(tree, files[paths.CONFUSION], CONFUSION_COLUMNS),
                               per_class=read_csv(tree, files[paths.PER_CLASS], PER_CLASS_COLUMNS))


def missing_files(tree: Tree, wanted, everything: bool = False) -> list[str]:
    """The files of these (framework, seed, repeat) runs that the tree lacks."""
    return [path for fw, seed, k in wanted for path in paths.read_files(fw, seed, k, everything).values()
            if tree.read_text(path) is None]


def discover(tree: Tree) -> list[tuple[str, int, int]]:
    """Every (framework, seed, repeat) whose train metrics the tree holds."""
    found = [paths.parse_train_file(folder, name) for folder in (paths.TRAINED, paths.REPEATS)
             for name in tree.names(folder)]
    return sorted(f for f in found if f)


def planned(params: dict) -> tuple[list[str] | None, list[int] | None, int | None]:
    """Contenders, seeds and repeats that params.yaml asks for (None: not said, take what is there)."""
    frameworks, seeds, repeats = params.get("frameworks"), params.get("seeds"), params.get("repeats")
    return (list(frameworks) if isinstance(frameworks, list) else None,
            list(seeds) if isinstance(seeds, list) else None,
            repeats if isinstance(repeats, int) and repeats >= 1 else None)


def load(tree: Tree, round_no: int = 0) -> list[Run]:
    """The runs params.yaml asks for that the tree holds (stale contenders' files are ignored), in params'
    order; `round_no` labels them (compare's rounds)."""
    frameworks, seeds, repeats = planned(read_params(tree))
    wanted = [(fw, seed, k) for fw, seed, k in discover(tree)
              if (frameworks is None or fw in frameworks) and (seeds is None or seed in seeds)
              and (repeats is None or k < repeats)]
    runs = [dataclasses.replace(run, round=round_no) for run in (read_run(tree, *key) for key in wanted)
            if run is not None]
    if frameworks is not None:
        runs.sort(key=lambda r: (frameworks.index(r.framework), r.seed, r.repeat))
    return runs
