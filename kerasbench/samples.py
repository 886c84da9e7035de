"""Every timing and memory sample of a results tree in one tidy table, and the registry of figures.

A run is one fresh training process and the fresh evaluation process that scores its model:
contender c, seed s, repeat k (and round i when compare pools several result trees of one
configuration, see kerasbench/diff.py). Its files (kerasbench/paths.py):

    repeat 0 (train@c-s, evaluate@c-s)     metrics/train/c-s.json, plots/history/c-s.csv,
                                           metrics/eval/c-s.json, plots/inference/c-s.csv
    repeats 1..R-1 (the repeat stage)      metrics/repeats/c-s-rk.json, metrics/repeats/c-s-rk.csv,
                                           metrics/repeats/c-s-rk.eval.json, metrics/repeats/c-s-rk.inference.csv

Every repeat has the same schema (results from before repeats were evaluated have no eval files
for k >= 1: their runs give no inference samples). `table()` turns runs into rows (COLUMNS): one
per run for per-run figures (first epoch, import, fit, memory), one per steady epoch (epochs 2..N),
one per timed inference pass. A value that the run recorded as null (not reached, not measured) is a NaN row; a
figure a run's files do not have at all gives no row. `disturbed` says whether the process that
produced the sample (training, or evaluation for inference figures) was disturbed by the rest of
the machine (kerasbench/interference.py).

FIGURES is the registry: what a figure is called, its unit, whether lower or higher is better, and
how to take its samples from a run. Adding a per-run figure is one line, e.g.

    "save_s": Figure("model save", "s", "lower", per_run("time.save_s")),
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable, Iterable

import pandas as pd

from kerasbench import interference, paths
from kerasbench.results import MISSING, ResultsError, Tree, get, read_csv, read_json, read_params
from kerasbench.stats import Better

HISTORY_COLUMNS = ("epoch", "epoch_s")
INFERENCE_COLUMNS = ("pass", "kind", "seconds", "images_per_s")
COLUMNS = ["framework", "round", "seed", "repeat", "figure", "value", "disturbed"]
PROCESS = ["round", "seed", "repeat"]   # the columns that name a sample's training process


@dataclass(frozen=True)
class Run:
    """The files of one training process and of the evaluation of its model (None where absent)."""
    framework: str
    seed: int
    repeat: int
    train: dict
    history: pd.DataFrame
    eval: dict | None = None
    inference: pd.DataFrame | None = None
    round: int = 0    # which result tree of a side it came from (compare's rounds); 0 elsewhere

    @property
    def name(self) -> str:
        return paths.run_name(self.framework, self.seed, self.repeat)


Extract = Callable[[Run], list[float]]


def lookup(doc: dict | None, dotted: str, where: str) -> float | None:
    """A number by dotted key: None when the key is absent, NaN when it is null; anything else is an error."""
    value = get(doc or {}, dotted, MISSING)
    if value is MISSING:
        return None
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ResultsError(f"{where}: '{dotted}' must be a number or null, got {value!r}")
    return float(value)


def per_run(dotted: str, source: str = "train") -> Extract:
    """One value per run from its train (or, repeat 0 only, eval) metrics."""
    def extract(run: Run) -> list[float]:
        doc = run.train if source == "train" else run.eval
        if doc is None:
            return []
        value = lookup(doc, dotted, run_paths(run.framework, run.seed, run.repeat)[source])
        return [] if value is None else [value]
    return extract


def steady_epochs(run: Run) -> pd.DataFrame:
    return run.history[run.history["epoch"] >= 2]


def epoch_seconds(run: Run) -> list[float]:
    return steady_epochs(run)["epoch_s"].astype(float).tolist()


def epoch_images_per_s(run: Run) -> list[float]:
    images = lookup(run.train, "train_images", run_paths(run.framework, run.seed, run.repeat)["train"])
    return [] if images is None else (images / steady_epochs(run)["epoch_s"].astype(float)).tolist()


def epoch_joules(run: Run) -> list[float]:
    """Joules of each steady epoch (NaN where not measured: a CPU, or a GPU without the counter, or 0 J)."""
    joules = steady_epochs(run)["energy_j"].astype(float) if "energy_j" in run.history.columns else []
    return [j if j > 0 else math.nan for j in joules]


def epoch_images_per_joule(run: Run) -> list[float]:
    images = lookup(run.train, "train_images", run_paths(run.framework, run.seed, run.repeat)["train"])
    return [] if images is None else [images / j for j in epoch_joules(run)]


def per_pass(kind: str) -> Extract:
    """images/s of each timed inference pass of one kind (`predict` or `forward`)."""
    def extract(run: Run) -> list[float]:
        if run.inference is None:
            return []
        return run.inference.loc[run.inference["kind"] == kind, "images_per_s"].astype(float).tolist()
    return extract


def _fit_parts(run: Run) -> tuple[float, float] | None:
    """(steady pace fit time, one-off cost): epochs x this run's median steady epoch, and fit minus that."""
    where = run_paths(run.framework, run.seed, run.repeat)["train"]
    fit, epochs = lookup(run.train, "time.fit_s", where), lookup(run.train, "epochs", where)
    steady = epoch_seconds(run)
    if fit is None or epochs is None:
        return None
    steady_fit = epochs * pd.Series(steady).median() if steady else math.nan
    return steady_fit, fit - steady_fit


def steady_fit_s(run: Run) -> list[float]:
    parts = _fit_parts(run)
    return [] if parts is None else [parts[0]]


def one_off_s(run: Run) -> list[float]:
    parts = _fit_parts(run)
    return [] if parts is None else [parts[1]]


@dataclass(frozen=True)
class Figure:
    label: str
    unit: str
    better: Better
    extract: Extract
    source: str = "train"     # the process whose samples these are: train, or eval (inference)
    file: str = paths.TRAIN   # the file its samples come from (kerasbench/paths.py), for error messages
    positive: bool = True     # a time, size or rate: a recorded value must be finite and above zero

    @property
    def header(self) -> str:
        return f"{self.label} ({self.unit})"


# Order = the order of tables and of compare's rows.
FIGURES: dict[str, Figure] = {
    "first_epoch_s": Figure("first epoch", "s", "lower", per_run("time.first_epoch_s")),
    "steady_epoch_s": Figure("steady epoch", "s", "lower", epoch_seconds, file=paths.HISTORY),
    "steady_images_per_s": Figure("steady training", "images/s", "higher", epoch_images_per_s, file=paths.HISTORY),
    "fit_s": Figure("training time, fit", "s", "lower", per_run("time.fit_s")),
    "steady_fit_s": Figure("fit at steady pace", "s", "lower", steady_fit_s, file=paths.HISTORY),
    "one_off_s": Figure("one-off cost", "s", "lower", one_off_s, file=paths.HISTORY, positive=False),
    "import_s": Figure("import", "s", "lower", per_run("time.import_s")),
    "build_s": Figure("model build and compile", "s", "lower", per_run("time.build_s")),
    "predict_images_per_s": Figure("predict() throughput", "images/s", "higher", per_pass("predict"), "eval",
                                   paths.INFERENCE),
    "forward_images_per_s": Figure("forward pass on device", "images/s", "higher", per_pass("forward"), "eval",
                                   paths.INFERENCE),
    "first_predict_s": Figure("first predict() call", "s", "lower", per_run("inference.first_predict_s", "eval"),
                              "eval", paths.EVAL),
    "rss_peak_mib": Figure("process peak RSS", "MiB", "lower", per_run("memory.rss_peak_os_mib")),
    "rss_peak_fit_mib": Figure("peak RSS during fit", "MiB", "lower", per_run("memory.rss_peak_fit_mib")),
    "build_increase_mib": Figure("memory increase at build", "MiB", "lower", per_run("memory.build_increase_mib")),
    "fit_increase_mib": Figure("memory increase during fit", "MiB", "lower", per_run("memory.fit_increase_mib")),
    "gpu_peak_mib": Figure("GPU peak", "MiB", "lower", per_run("memory.gpu_peak_mib")),
    # On an NVIDIA GPU with an energy counter: the whole GPU's energy per steady epoch (kerasbench/energy.py).
    "steady_epoch_j": Figure("energy per steady epoch", "J", "lower", epoch_joules, file=paths.HISTORY),
    "images_per_joule": Figure("steady training per joule", "images/J", "higher", epoch_images_per_joule,
                               file=paths.HISTORY),
    # With train.target_accuracy (a run that never reached it is a NaN sample).
    "seconds_to_target": Figure("time to target accuracy", "s", "lower", per_run("target.seconds_to_target")),
    # With train.compile_cache: the first epoch with the backend's persistent cache empty and filled.
    "cold_first_epoch_s": Figure("first epoch, cold compile cache", "s", "lower",
                                 per_run("compile_cache.cold_first_epoch_s")),
    "warm_first_epoch_s": Figure("first epoch, warm compile cache", "s", "lower",
                                 per_run("compile_cache.warm_first_epoch_s")),
}


def disturbance(run: Run, source: str) -> str | None:
    """Why the run's training (source 'train') or evaluation ('eval') process was disturbed, or None."""
    doc = run.train if source == "train" else run.eval
    return interference.disturbed((doc or {}).get("interference"))


def checked(run: Run, key: str, figure: Figure, value: float) -> float:
    """The value, or ResultsError naming the file and the figure when no measurement can give it."""
    if math.isnan(value) or (math.isfinite(value) and (value > 0 or not figure.positive)):
        return value
    where = paths.run_files(run.framework, run.seed, run.repeat)[figure.file]
    rule = "positive and finite" if figure.positive else "finite"
    raise ResultsError(f"{where}: {figure.header} is {value!r}; a measured {figure.unit} figure must be {rule} "
                       f"({key})")


def table(runs: Iterable[Run], figures: dict[str, Figure] | None = None) -> pd.DataFrame:
    """The tidy table: one row per sample, columns framework, round, seed, repeat, figure, value, disturbed."""
    figures = FIGURES if figures is None else figures
    rows = []
    for r in runs:
        noisy = {source: disturbance(r, source) is not None for source in ("train", "eval")}
        rows += [(r.framework, r.round, r.seed, r.repeat, key, checked(r, key, figure, value), noisy[figure.source])
                 for key, figure in figures.items() for value in figure.extract(r)]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    return frame.astype({"round": int, "seed": int, "repeat": int, "value": float, "disturbed": bool})


def select(frame: pd.DataFrame, framework: str, figure: str) -> pd.DataFrame:
    """The rows of one contender and figure."""
    return frame[(frame["framework"] == framework) & (frame["figure"] == figure)]


def processes(selection: pd.DataFrame) -> list[tuple[int, int, int]]:
    """The training process of each sample: (round, seed, repeat)."""
    return list(selection[PROCESS].itertuples(index=False, name=None))


# ---------------------------------------------------------------- reading runs from a tree

def run_paths(framework: str, seed: int, repeat: int) -> dict[str, str]:
    """The files this module reads of one run (kerasbench/paths.py knows where they are)."""
    files = paths.run_files(framework, seed, repeat)
    return {key: files[key] for key in (paths.TRAIN, paths.HISTORY, paths.EVAL, paths.INFERENCE)}


def missing_files(tree: Tree, wanted: Iterable[tuple[str, int, int]]) -> list[str]:
    return [path for fw, seed, k in wanted for path in run_paths(fw, seed, k).values()
            if tree.read_text(path) is None]


def read_run(tree: Tree, framework: str, seed: int, repeat: int) -> Run | None:
    """One run's files; None when its train metrics or history are missing (its evaluation may be)."""
    files = run_paths(framework, seed, repeat)
    train = read_json(tree, files[paths.TRAIN])
    history = numeric(read_csv(tree, files[paths.HISTORY], HISTORY_COLUMNS), HISTORY_COLUMNS, files[paths.HISTORY])
    if train is None or history is None:
        return None
    inference = read_csv(tree, files[paths.INFERENCE], INFERENCE_COLUMNS)
    return Run(framework, seed, repeat, train, history, read_json(tree, files[paths.EVAL]),
               numeric(inference, ("pass", "seconds", "images_per_s"), files[paths.INFERENCE]))


def numeric(frame: pd.DataFrame | None, columns: Iterable[str], where: str) -> pd.DataFrame | None:
    """The frame with these columns as numbers, or ResultsError naming the first cell that is not one."""
    if frame is None:
        return None
    for column in columns:
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = values.isna() & frame[column].notna()
        if bad.any():
            row = int(bad.to_numpy().nonzero()[0][0])
            raise ResultsError(f"{where}: row {row + 1}, column {column}: {frame[column].iloc[row]!r} is not a number")
        frame = frame.assign(**{column: values})
    return frame


def discover(tree: Tree) -> list[tuple[str, int, int]]:
    """Every (framework, seed, repeat) whose train metrics the tree holds."""
    found = [paths.parse_train_file(folder, name) for folder in ("metrics/train", paths.REPEATS)
             for name in tree.names(folder)]
    return sorted(f for f in found if f)


def planned(params: dict) -> tuple[list[str] | None, list[int] | None, int | None]:
    """Contenders, seeds and repeats that params.yaml asks for (None: not said, take what is there)."""
    frameworks, seeds, repeats = params.get("frameworks"), params.get("seeds"), params.get("repeats")
    return (list(frameworks) if isinstance(frameworks, list) else None,
            list(seeds) if isinstance(seeds, list) else None,
            repeats if isinstance(repeats, int) and repeats >= 1 else None)


def load(tree: Tree, round_no: int = 0) -> tuple[list[Run], pd.DataFrame]:
    """The runs params.yaml asks for that the tree holds (stale contenders' files are ignored), and their
    samples; `round_no` labels them (compare's rounds)."""
    frameworks, seeds, repeats = planned(read_params(tree))
    wanted = [(fw, seed, k) for fw, seed, k in discover(tree)
              if (frameworks is None or fw in frameworks) and (seeds is None or seed in seeds)
              and (repeats is None or k < repeats)]
    runs = [replace(run, round=round_no) for run in (read_run(tree, *key) for key in wanted) if run is not None]
    if frameworks is not None:
        runs.sort(key=lambda r: (frameworks.index(r.framework), r.seed, r.repeat))
    return runs, table(runs)
