"""Where each contender's spread comes from: the two variance components of its steady epochs, and the
steady epochs per process that buy the most information per second (Kalibera & Jones, ISMM 2013)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from kerasbench import repetition, verdict
from kerasbench.report.load import Results
from kerasbench.report.text import DASH, markdown_table
from kerasbench.samples import processes, select

FIXED = ("import_s", "context_s", "build_s", "fit_setup_s", "first_epoch_s")   # of records.TrainTime


@dataclass(frozen=True)
class Spread:
    contender: str
    components: repetition.Components   # of log steady epoch times
    epoch_s: float                   # median steady epoch
    fixed_s: float                   # median in-process cost besides the steady epochs
    optimal: int                     # steady epochs per process, Kalibera & Jones
    epochs: int | None               # as trained (train.epochs)

    @property
    def between_sd(self) -> float:
        return math.sqrt(self.components.between) if math.isfinite(self.components.between) else math.nan

    @property
    def within_sd(self) -> float:
        return math.sqrt(self.components.within) if math.isfinite(self.components.within) else math.nan


def spreads(results: Results, frameworks: list[str]) -> list[Spread]:
    out = []
    for fw in frameworks:
        steady = select(results.samples, fw, "steady_epoch_s")
        if steady.empty:
            continue
        c = repetition.components(verdict.cell(steady["value"], processes(steady)))
        own = [r for r in results.timed if r.framework == fw]
        fixed = float(np.median([sum(getattr(r.train.time, key) or 0.0 for key in FIXED) for r in own]))
        epoch = float(steady["value"].median())
        epochs = own[0].train.epochs if own else None
        out.append(Spread(fw, c, epoch, fixed, repetition.optimal_per_process(fixed, epoch, c.between, c.within),
                          int(epochs) if epochs else None))
    return out


def _pct(sd: float) -> str:
    return DASH if math.isnan(sd) else f"{sd:.1%}"


def table(found: list[Spread]) -> str | None:
    if not found:
        return None
    rows = [{"contender": s.contender, "processes": s.components.processes,
             "steady epochs per process": f"{s.components.per_process:g}",
             "between processes (SD of log)": _pct(s.between_sd), "within a process (SD of log)": _pct(s.within_sd),
             "fixed cost per process (s)": f"{s.fixed_s:.2f}", "steady epoch (s)": f"{s.epoch_s:.3g}",
             "best steady epochs per process": (DASH if s.components.processes < 2 else
                                                f"{s.optimal}" + (" (or more)" if s.optimal >= 50 else ""))}
            for s in found]
    return markdown_table(pd.DataFrame(rows), text_columns=1)


def summary(found: list[Spread]) -> dict[str, dict[str, float | int]]:
    """Per contender, for metrics/summary.json: both components (as SDs of log epoch times) and the optimum."""
    return {s.contender: {k: v for k, v in {"between_sd": s.between_sd, "within_sd": s.within_sd,
                                             "optimal_steady_epochs": s.optimal}.items()
                          if not (isinstance(v, float) and math.isnan(v))}
            for s in found if s.components.processes >= 2}
