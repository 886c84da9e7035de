"""Verdicts on the tidy table of kerasbench/samples.py: one selection of samples against another.

Each selection is one contender and figure of one side; its samples are labelled with their unit of
replication (kerasbench/samples.py `units`): the training process (round, seed, repeat), so that
steady epochs and inference passes, several to a process, are modelled within it
(kerasbench/verdict.py); or the round, where a side pools several. The empirical-Bayes prior of a comparison
is fitted per noise family over every selection of it (`priors`).
"""
from __future__ import annotations

from typing import Iterable

import pandas as pd

from kerasbench import stats, verdict
from kerasbench.samples import FIGURES, units


def test_figure(base: pd.DataFrame, head: pd.DataFrame, figure: str, priors: dict[str, verdict.Prior] | None = None,
                **options) -> stats.Comparison:
    """stats.compare of two selections of the table, each sample labelled with its unit (`units`):
    steady epochs and inference passes come several to a process, processes several to a round.
    `priors` (from `priors()`): the empirical-Bayes prior of each noise family."""
    prior = (priors or {}).get(family(figure), verdict.NONE)
    return stats.compare(base["value"], head["value"], better=FIGURES[figure].better,
                         base_processes=units(base), head_processes=units(head), prior=prior, **options)


def family(figure: str) -> str:
    """Which figures share one noise prior: memory (MiB) varies unlike times and rates."""
    return "memory" if FIGURES[figure].unit == "MiB" else "speed"


def cell(selection: pd.DataFrame) -> verdict.Cell:
    """The cell (kerasbench/verdict.py) of one contender's samples of one figure."""
    return verdict.cell(selection["value"], units(selection))


def priors(selections: Iterable[tuple[str, pd.DataFrame]]) -> dict[str, verdict.Prior]:
    """One empirical-Bayes prior per noise family, fitted over every (figure, selection) given: each
    selection one side of one contender and figure of the comparison or report."""
    found: dict[str, list[tuple[float, float]]] = {}
    for figure, selection in selections:
        c = cell(selection)
        if c.log:
            found.setdefault(family(figure), []).append((c.var, c.df))
    return {name: verdict.fit_prior(pairs) for name, pairs in found.items()}
