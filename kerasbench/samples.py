"""Every timing and memory sample of a results tree in one tidy table, and the registry of figures.

A run is one fresh training process and the fresh evaluation process that scores its model
(kerasbench/records.py reads it: contender c, seed s, repeat k, and round i when compare pools several
result trees of one configuration, see kerasbench/diff.py). `table()` turns runs into rows (COLUMNS):
one per run for per-run figures (first epoch, import, fit, memory), one per steady epoch (epochs 2..N),
one per timed inference pass. A value that the run recorded as null (not reached, not measured) is a NaN
row; a section a run's files do not have at all (no target, no compile cache, no evaluation) gives no
row. `disturbed` says whether the process that produced the sample (training, or evaluation for
inference figures) was disturbed by the rest of the machine (kerasbench/interference.py).

FIGURES is the registry: what a figure is called, its unit, whether lower or higher is better, and
how to take its samples from a run. Adding a per-run figure is one line, e.g.

    "save_s": Figure("model save", "s", "lower", per_run(lambda t: t.time.save_s)),

(and its field in records.TrainTime); a per-epoch series is one entry in records.EPOCH_SERIES with
`steady` set, which gives its figure here without a line of its own.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterable

import pandas as pd

from kerasbench import interference, paths, records
from kerasbench.records import Run
from kerasbench.results import ResultsError, Tree
from kerasbench.stats import Better

COLUMNS = ["framework", "round", "seed", "repeat", "figure", "value", "disturbed"]
PROCESS = ["round", "seed", "repeat"]   # the columns that name a sample's training process


Extract = Callable[[Run], list[float]]


def per_run(value: Callable, source: str = "train") -> Extract:
    """One value per run from its training record (or, source 'eval', its evaluation record), e.g.
    `per_run(lambda t: t.time.fit_s)`; no value where the record or its section is absent, NaN where null."""
    def extract(run: Run) -> list[float]:
        record = run.train if source == "train" else run.eval
        if record is None:
            return []
        try:
            found = value(record)
        except AttributeError:   # a section the record does not have (None): no target, no compile cache
            return []
        return [math.nan if found is None else float(found)]
    return extract


def steady_epochs(run: Run) -> pd.DataFrame:
    return run.history[run.history["epoch"] >= 2]


def epoch_seconds(run: Run) -> list[float]:
    return steady_epochs(run)["epoch_s"].astype(float).tolist()


def epoch_images_per_s(run: Run) -> list[float]:
    if "images_per_s" in run.history.columns:   # recorded per epoch by the clock (kerasbench/measure.py)
        return steady_epochs(run)["images_per_s"].astype(float).tolist()
    images = run.train.train_images
    return [] if images is None else (images / steady_epochs(run)["epoch_s"].astype(float)).tolist()


def epoch_joules(run: Run) -> list[float]:
    """Joules of each steady epoch (NaN where not measured: a CPU, or a GPU without the counter, or 0 J)."""
    joules = steady_epochs(run)["energy_j"].astype(float) if "energy_j" in run.history.columns else []
    return [j if j > 0 else math.nan for j in joules]


def epoch_images_per_joule(run: Run) -> list[float]:
    images = run.train.train_images
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
    fit, epochs = run.train.time.fit_s, run.train.epochs
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
    "first_epoch_s": Figure("first epoch", "s", "lower", per_run(lambda t: t.time.first_epoch_s)),
    "steady_epoch_s": Figure("steady epoch", "s", "lower", epoch_seconds, file=paths.HISTORY),
    "steady_images_per_s": Figure("steady training", "images/s", "higher", epoch_images_per_s, file=paths.HISTORY),
    "fit_s": Figure("training time, fit", "s", "lower", per_run(lambda t: t.time.fit_s)),
    "steady_fit_s": Figure("fit at steady pace", "s", "lower", steady_fit_s, file=paths.HISTORY),
    "one_off_s": Figure("one-off cost", "s", "lower", one_off_s, file=paths.HISTORY, positive=False),
    "import_s": Figure("import", "s", "lower", per_run(lambda t: t.time.import_s)),
    "build_s": Figure("model build and compile", "s", "lower", per_run(lambda t: t.time.build_s)),
    "predict_images_per_s": Figure("predict() throughput", "images/s", "higher", per_pass("predict"), "eval",
                                   paths.INFERENCE),
    "forward_images_per_s": Figure("forward pass on device", "images/s", "higher", per_pass("forward"), "eval",
                                   paths.INFERENCE),
    "first_predict_s": Figure("first predict() call", "s", "lower",
                              per_run(lambda e: e.inference.first_predict_s, "eval"), "eval", paths.EVAL),
    "rss_peak_mib": Figure("process peak RSS", "MiB", "lower", per_run(lambda t: t.memory.rss_peak_os_mib)),
    "rss_peak_fit_mib": Figure("peak RSS during fit", "MiB", "lower", per_run(lambda t: t.memory.rss_peak_fit_mib)),
    "build_increase_mib": Figure("memory increase at build", "MiB", "lower",
                                 per_run(lambda t: t.memory.build_increase_mib)),
    "fit_increase_mib": Figure("memory increase during fit", "MiB", "lower",
                               per_run(lambda t: t.memory.fit_increase_mib)),
    "gpu_peak_mib": Figure("GPU peak", "MiB", "lower", per_run(lambda t: t.memory.gpu_peak_mib)),
    # On an NVIDIA GPU with an energy counter: the whole GPU's energy per steady epoch (kerasbench/energy.py).
    "steady_epoch_j": Figure("energy per steady epoch", "J", "lower", epoch_joules, file=paths.HISTORY),
    "images_per_joule": Figure("steady training per joule", "images/J", "higher", epoch_images_per_joule,
                               file=paths.HISTORY),
    # With train.target_accuracy (a run that never reached it is a NaN sample).
    "seconds_to_target": Figure("time to target accuracy", "s", "lower", per_run(lambda t: t.target.seconds_to_target)),
    # With train.compile_cache: the first epoch with the backend's persistent cache empty and filled.
    "cold_first_epoch_s": Figure("first epoch, cold compile cache", "s", "lower",
                                 per_run(lambda t: t.compile_cache.cold_first_epoch_s)),
    "warm_first_epoch_s": Figure("first epoch, warm compile cache", "s", "lower",
                                 per_run(lambda t: t.compile_cache.warm_first_epoch_s)),
}


def disturbance(run: Run, source: str) -> str | None:
    """Why the run's training (source 'train') or evaluation ('eval') process was disturbed, or None."""
    record = run.train if source == "train" else run.eval
    return interference.disturbed(record.interference if record is not None else None)


def checked(run: Run, key: str, figure: Figure, value: float) -> float:
    """The value, or ResultsError naming the file and the figure when no measurement can give it."""
    if math.isnan(value) or (math.isfinite(value) and (value > 0 or not figure.positive)):
        return value
    where = run.file(figure.file)
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
    return list(zip(*(selection[column].tolist() for column in PROCESS)))   # no frame built: called per figure


def units(selection: pd.DataFrame) -> list:
    """The unit of replication of each sample: its training process, or its round where the selection
    pools several rounds (compare's base, head, head, base). A round's processes ran in one session of
    the machine and share its state (clocks, neighbours, thermal), so a drift between sessions is
    visible only as the spread of round means: with processes as the unit, two sessions that differ
    make every process of one side look unlike every process of the other (CI, 2026-12-03: an identical
    re-run called 1.47x faster, the base's steady epochs 0.714±0.118 s against the head's 0.478±0.022 s,
    as one slow base session would give; tests/test_compare.py builds that case)."""
    if selection["round"].nunique() > 1:
        return list(selection["round"])
    return processes(selection)


def load(tree: Tree, round_no: int = 0) -> tuple[list[Run], pd.DataFrame]:
    """The runs params.yaml asks for that the tree holds (kerasbench/records.py), and their samples."""
    runs = records.load(tree, round_no)
    return runs, table(runs)
