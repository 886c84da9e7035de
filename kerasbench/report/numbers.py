"""The report's numbers: a kerasbench.stats Summary per contender and figure, the pairwise comparisons
between contenders, and metrics/summary.json. No formatting here (markdown.py), no files (stages/report.py)."""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import pandas as pd

from kerasbench import contenders, judge, stats, verdict
from kerasbench.judge import test_figure
from kerasbench.report.load import Results, synthetic_flags
from kerasbench.samples import FIGURES, select

# Figures in metrics/summary.json (numbers only, for `dvc metrics diff` and `dvc exp show`).
KEY_FIGURES = ("fit_s", "first_epoch_s", "steady_epoch_s", "steady_images_per_s", "predict_images_per_s",
               "forward_images_per_s", "rss_peak_mib", "gpu_peak_mib", "build_increase_mib", "fit_increase_mib",
               "seconds_to_target", "cold_first_epoch_s", "warm_first_epoch_s", "steady_epoch_j", "images_per_joule")
KEY_SCORES = ("train_accuracy", "train_f1_weighted", "test_accuracy", "test_f1_weighted", "test_f1_macro")
PAIRWISE = ("steady_images_per_s", "first_epoch_s")

Table = dict[str, dict[str, stats.Summary]]   # contender -> figure -> Summary


def summaries(frame: pd.DataFrame, frameworks: list[str], columns: list[str] | None = None) -> Table:
    """Summaries of a tidy table (framework, figure, value) for every registered figure, or of a
    wide one (framework + `columns`); a figure without samples gets an empty Summary (n = 0)."""
    if columns is not None:
        frame = frame.melt(id_vars="framework", value_vars=columns, var_name="figure")
    grouped = {key: group["value"] for key, group in frame.groupby(["framework", "figure"])}
    figures = list(FIGURES) if columns is None else columns
    return {fw: {f: stats.summarize(grouped.get((fw, f), [])) for f in figures} for fw in frameworks}


def samples_of(frame: pd.DataFrame, framework: str, figure: str) -> pd.Series:
    return select(frame, framework, figure)["value"]


@dataclass(frozen=True)
class Pair:
    """Contender a against b for one figure: how many times faster a is (< 1: slower), and the test."""
    figure: str
    a: str
    b: str
    comparison: stats.Comparison   # a as head, b as base

    @property
    def speedup(self) -> float:
        return stats.improvement(self.comparison.ratio, self.comparison.better)


def priors(frame: pd.DataFrame, frameworks: list[str]) -> dict[str, verdict.Prior]:
    """The empirical-Bayes priors of the report's comparisons: over every contender and figure measured."""
    return judge.priors((figure, select(frame, fw, figure)) for fw in frameworks for figure in FIGURES)


def pairwise(frame: pd.DataFrame, frameworks: list[str], figures=PAIRWISE, factor: float = stats.FACTOR) -> list[Pair]:
    """Every pair of contenders with samples, for each figure; the faster one first."""
    pairs, prior = [], priors(frame, frameworks)
    for figure in figures:
        measured = [fw for fw in frameworks if samples_of(frame, fw, figure).notna().any()]
        for a, b in itertools.combinations(measured, 2):
            pair = Pair(figure, a, b, test_figure(select(frame, b, figure), select(frame, a, figure), figure, prior,
                                                  factor=factor))
            if pair.speedup < 1:
                pair = Pair(figure, b, a, test_figure(select(frame, a, figure), select(frame, b, figure), figure,
                                                      prior, factor=factor))
            pairs.append(pair)
    return pairs


@dataclass(frozen=True)
class KerasCost:
    """A Keras contender against the baseline it declares (the same model without Keras), for one figure."""
    backend: str
    keras: str
    native: str
    figure: str
    comparison: stats.Comparison   # native as base, Keras as head: ratio = Keras median / native median


def keras_costs(frame: pd.DataFrame, frameworks: list[str], figures=PAIRWISE,
                factor: float = stats.FACTOR) -> list[KerasCost]:
    """For each Keras contender in `frameworks` whose declared baseline is there too, with samples for the figure."""
    out, prior = [], priors(frame, frameworks)
    for keras, native in contenders.baselines(frameworks):
        for figure in figures:
            a, b = select(frame, native.name, figure), select(frame, keras.name, figure)
            if a["value"].notna().any() and b["value"].notna().any():
                out.append(KerasCost(keras.backend, keras.name, native.name, figure,
                                     test_figure(a, b, figure, prior, factor=factor)))
    return out


def _entry(s: stats.Summary) -> dict[str, float | int]:
    return {"median": s.median, "ci_low": s.ci_low, "ci_high": s.ci_high, "n": s.n}


def summary_json(results: Results, timing: Table, quality: Table) -> dict:
    """Per contender: run counts and flags, then {median, ci_low, ci_high, n} per key figure (measured ones only)."""
    out = {}
    for fw, figures in timing.items():
        own = [r for r in results.runs if r.framework == fw]
        entry = {"seeds": len(own), "repeats": results.repeats,
                 "synthetic": int(any(any(synthetic_flags(r).values()) for r in own)),
                 "jit_compile": int(all(bool(r.train.jit_compile) for r in own)),
                 "deterministic": int(all(bool(r.env.get("deterministic", r.train.deterministic)) for r in own)),
                 "gpu": int(any(r.env.get("device") == "gpu" for r in own))}
        for key in KEY_FIGURES:
            if key in figures and figures[key].n:
                entry[key] = _entry(figures[key])
        for key in KEY_SCORES:
            if key in quality[fw] and quality[fw][key].n:
                entry[key] = _entry(quality[fw][key])
        out[fw] = entry
    return out

