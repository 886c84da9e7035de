"""Where a contender's spread comes from, and how many samples a process should give (Kalibera & Jones,
"Rigorous benchmarking in reasonable time", ISMM 2013): the two variance components of log samples
(between fresh processes, within one) and the optimal number of samples per process for their costs."""
from __future__ import annotations

import math
from dataclasses import dataclass

from kerasbench.verdict import Cell


@dataclass(frozen=True)
class Components:
    """The two variance components of log samples: between processes and within one."""
    between: float
    within: float
    processes: int
    per_process: float


def components(c: Cell) -> Components:
    """Method-of-moments estimates (one-way random effects): within = the pooled within-process
    variance; between = var(process means) - within / m, at least 0."""
    within = c.within if math.isfinite(c.within) else math.nan
    between = c.var - (within / c.per_process if math.isfinite(within) else 0.0)
    return Components(max(between, 0.0) if math.isfinite(between) else math.nan, within, c.processes, c.per_process)


def optimal_per_process(fixed_s: float, sample_s: float, between: float, within: float, most: int = 50) -> int:
    """Kalibera & Jones' optimal samples per process: sqrt((fixed cost / cost per sample) x (within / between)),
    rounded up, at least 1 and at most `most` (a process without between-process variance: `most`)."""
    if not all(math.isfinite(v) for v in (fixed_s, sample_s, within)) or sample_s <= 0:
        return 1
    if not math.isfinite(between) or between <= 0:
        return most
    return int(min(most, max(1, math.ceil(math.sqrt(max(fixed_s, 0.0) / sample_s * within / between)))))
