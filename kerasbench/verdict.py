"""Head against base for one figure: a two-level model of the samples, the ratio's interval, its verdict.

Samples come in processes (several steady epochs, or inference passes, of one fresh process; or one
value per process for per-run figures). A slow process is slow throughout, so the unit of
replication is the process, never the epoch (Kalibera & Jones, "Rigorous benchmarking in
reasonable time", ISMM 2013). On the log scale (a ratio is a difference there, and one machine's
noise is alike for fast and slow contenders):

    log x_pj = mu + b_p + e_pj,   b_p ~ N(0, between),   e_pj ~ N(0, within)

A side is summarised by its `Cell`: the mean of its process means, their sample variance (on
k - 1 degrees of freedom) and the pooled within-process variance. Head against base:

- d = mean_head - mean_base, the log of the ratio (the ratio of geometric means of process means);
- its variance from the two sides' pooled variance of process means (k_b + k_h - 2 df), moderated
  by an empirical-Bayes prior fitted over every cell of the same comparison (`fit_prior`: Smyth's
  limma, "many features, few replicates", moment estimates of a scaled inverse-chi-square prior
  d0, s0^2): s~^2 = (d0 s0^2 + nu s^2) / (d0 + nu) on nu + d0 df. A contender measured with two
  processes a side borrows the spread the other figures and contenders showed on this machine;
- never below within / m (a process mean of m epochs cannot vary less than its epochs do);
- the interval exp(d +- t * se), level 1 - alpha; with no prior and one process a side there is
  no variance to tell a change from a process's luck: the interval is unbounded (`?`).

Verdicts, off the interval [low, high] of head/base and the band [1/factor, factor]:

    '='  the same within the factor: the interval lies inside the band (excluding 1 or not)
    '+'  worse beyond the factor: the interval excludes 1 and the estimate lies outside the band
    '-'  better beyond the factor (the same, the other way)
    '~'  different but small: the interval excludes 1, the estimate lies inside the band, the interval does not
    '?'  undecided: the interval holds 1 and reaches outside the band

Beside every verdict, `mde`: the smallest ratio this comparison would have detected with
probability `power` at its sizes, spread and level, exp((t_{1-alpha/2} + t_{power}) se).

Sequential looks (`look_alpha`): a run that adds rounds until it decides spends alpha over its
looks, alpha_k = alpha * 6 / (pi^2 k^2) at look k (sum over k = alpha): the intervals hold at every
look at once (a union bound, an anytime-valid confidence sequence), so stopping when they first
decide does not inflate the false-positive rate.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import numpy as np
from scipy import optimize, special
from scipy import stats as sps

ALPHA = 0.002    # two-sided: 99.8% intervals for the ratio (asv's p < 0.002)
POWER = 0.80     # the power of the smallest detectable change
WORSE, BETTER, SAME, SMALL, UNDECIDED = "+", "-", "=", "~", "?"


@dataclass(frozen=True)
class Cell:
    """One side of one figure: its processes summarised on the log scale (or the raw one, `log=False`)."""
    processes: int
    mean: float          # mean of the process means
    var: float           # sample variance of the process means (NaN with one process)
    within: float        # pooled variance of samples around their process's mean (NaN: one sample each)
    within_df: int
    per_process: float   # mean number of samples per process
    log: bool = True

    @property
    def df(self) -> int:
        return self.processes - 1


def cell(values: Iterable[float], processes: Iterable | None = None, log: bool | None = None) -> Cell:
    """The cell of one side's samples, `processes` naming each sample's process (None: one sample each).
    NaN samples are dropped. `log` None: log scale when every value is positive."""
    x = np.asarray(list(values), dtype=float)
    labels = list(range(x.size)) if processes is None else list(processes)
    if len(labels) != x.size:
        raise ValueError(f"{x.size} samples but {len(labels)} process labels")
    keep = ~np.isnan(x)
    x, labels = x[keep], [label for label, k in zip(labels, keep) if k]
    if log is None:
        log = bool(x.size) and bool((x > 0).all())
    y = np.log(x) if log else x
    groups: dict = {}
    for label, value in zip(labels, y):
        groups.setdefault(label, []).append(value)
    means = np.array([np.mean(g) for g in groups.values()])
    k = means.size
    if k == 0:
        return Cell(0, math.nan, math.nan, math.nan, 0, 0.0, log)
    squares = sum(float(((np.asarray(g) - np.mean(g)) ** 2).sum()) for g in groups.values())
    within_df = x.size - k
    return Cell(k, float(means.mean()), float(means.var(ddof=1)) if k > 1 else math.nan,
                squares / within_df if within_df else math.nan, within_df, x.size / k, log)


# ---------------------------------------------------------------- the empirical-Bayes prior

@dataclass(frozen=True)
class Prior:
    """A scaled inverse-chi-square prior on the variance of process means: s2 on df (0: no prior)."""
    s2: float = math.nan
    df: float = 0.0


NONE = Prior()
DF_MAX = 1e4   # prior df beyond this: infinite


def trigamma_inverse(y: float) -> float:
    """x with trigamma(x) = y (y > 0), by Newton's method on 1 / trigamma, which is nearly linear."""
    if y > 1e7:
        return 1.0 / math.sqrt(y)
    if y < 1e-6:
        return 1.0 / y
    x = 0.5 + 1.0 / y
    for _ in range(50):
        tri = float(special.polygamma(1, x))
        step = tri * (1.0 - tri / y) / float(special.polygamma(2, x))
        x += step
        if -step / x < 1e-8:
            break
    return x


def fit_prior(cells: Iterable[tuple[float, float]]) -> Prior:
    """The prior (d0, s0^2) of the variances of many features, each given as (variance, df).

    Smyth's model (limma, 2004): a feature's true variance is s0^2 d0 / chi^2_{d0}, so its sample
    variance over s0^2 follows an F(df, d0) distribution. limma's moment estimates start a maximum
    likelihood fit of that F distribution, which is far steadier when the features have one or two
    df each (a log chi-square of 1 df varies by 4.9). Pairs with df < 1 or a variance that is not
    positive and finite are left out, and so are repeats of one variance (steady epoch time and
    throughput are one variance on the log scale). Fewer than three left: no prior. d0 at the top of
    its range (features no more different than sampling makes them) is taken as infinite."""
    seen, pairs = set(), []
    for var, df in cells:
        if df >= 1 and math.isfinite(var) and var > 0 and (key := (round(math.log(var), 9), df)) not in seen:
            seen.add(key)
            pairs.append((var, df))
    if len(pairs) < 3:
        return NONE
    s2, d = np.array(pairs).T
    start = moments(s2, d)
    x0 = [math.log(start.s2), math.log(min(max(start.df, 1.0), 100.0))]

    def minus_log_likelihood(p: np.ndarray) -> float:
        return -float((sps.f.logpdf(s2 / math.exp(p[0]), d, math.exp(p[1])) - p[0]).sum())

    fit = optimize.minimize(minus_log_likelihood, x0, method="Nelder-Mead",
                            bounds=[(x0[0] - 20, x0[0] + 20), (math.log(0.2), math.log(DF_MAX))])
    d0 = math.exp(fit.x[1])
    return Prior(math.exp(fit.x[0]), math.inf if d0 > 0.99 * DF_MAX else d0)


def moments(s2: np.ndarray, d: np.ndarray) -> Prior:
    """limma's moment estimates of d0 and s0^2 (fitFDist without covariates)."""
    e = np.log(s2) - special.digamma(d / 2) + np.log(d / 2)
    mean = float(e.mean())
    excess = float(e.var(ddof=1)) - float(special.polygamma(1, d / 2).mean())
    if excess <= 0:
        return Prior(math.exp(mean), math.inf)
    d0 = 2.0 * trigamma_inverse(excess)
    return Prior(math.exp(mean + float(special.digamma(d0 / 2)) - math.log(d0 / 2)), d0)


def moderated(var: float, df: float, prior: Prior) -> tuple[float, float]:
    """(variance, df) after shrinking toward the prior; NaN, 0 when there is neither."""
    if prior.df == 0 or not math.isfinite(prior.s2):
        return (var, df) if df > 0 else (math.nan, 0.0)
    if math.isinf(prior.df):
        return prior.s2, math.inf
    if df == 0:
        return prior.s2, prior.df
    return (prior.df * prior.s2 + df * var) / (prior.df + df), prior.df + df


# ---------------------------------------------------------------- the interval and the verdict

@dataclass(frozen=True)
class Interval:
    """head / base: estimate and interval (NaN bounds: unbounded), with its standard error and df."""
    ratio: float
    low: float
    high: float
    se: float          # of d (log scale), or of the relative difference (raw scale)
    df: float
    alpha: float
    mde: float         # smallest ratio (>= 1) detectable with POWER; inf when nothing can be
    reason: str

    @property
    def bounded(self) -> bool:
        return math.isfinite(self.low) and math.isfinite(self.high)

    @property
    def excludes_one(self) -> bool:
        return self.bounded and (self.low > 1 or self.high < 1)


def quantile(p: float, df: float) -> float:
    return float(sps.norm.ppf(p) if math.isinf(df) else sps.t.ppf(p, df))


def mde(se: float, df: float, alpha: float = ALPHA, power: float = POWER, log: bool = True) -> float:
    """The smallest ratio (>= 1) that a two-sided test at `alpha` finds with probability `power`."""
    if not (df > 0 and math.isfinite(se)):
        return math.inf
    delta = (quantile(1 - alpha / 2, df) + quantile(power, df)) * se
    return math.exp(delta) if log else 1.0 + delta


def seen(mde_ratio: float) -> str:
    """The smallest detectable change in words, as every table prints it beside '=', '~' and '?'."""
    if math.isinf(mde_ratio) or math.isnan(mde_ratio):
        return "could not have seen any change"
    if mde_ratio > 100:
        return "could only have seen > 100×"
    return f"could only have seen ≥ {mde_ratio:.2f}×"


def pooled(base: Cell, head: Cell) -> tuple[float, float]:
    """(variance, df) of process means pooled over the two sides (NaN, 0 with one process each)."""
    df = base.df + head.df
    if df <= 0:
        return math.nan, 0.0
    return (max(base.df, 0) * np.nan_to_num(base.var) + max(head.df, 0) * np.nan_to_num(head.var)) / df, float(df)


def floor(base: Cell, head: Cell) -> float:
    """within / m pooled over the sides: the least a process mean can vary (0 when unknown)."""
    df = base.within_df + head.within_df
    if df == 0:
        return 0.0
    within = (base.within_df * np.nan_to_num(base.within) + head.within_df * np.nan_to_num(head.within)) / df
    return float(within / max(base.per_process, head.per_process))


def interval(base: Cell, head: Cell, prior: Prior = NONE, alpha: float = ALPHA, power: float = POWER) -> Interval:
    """The interval of head/base at level 1 - alpha (module docstring)."""
    log = base.log and head.log
    raw, raw_df = pooled(base, head)
    var, df = moderated(raw, raw_df, prior)
    d = head.mean - base.mean
    ratio = math.exp(d) if log else (head.mean / base.mean if base.mean else math.nan)
    sizes = f"{base.processes} + {head.processes} processes"
    if df == 0:
        return Interval(ratio, math.nan, math.nan, math.nan, 0.0, alpha, math.inf,
                        f"{sizes}: too few to tell a change from one process's luck")
    var = max(var, floor(base, head))
    se = math.sqrt(var * (1 / base.processes + 1 / head.processes))
    scale = 1.0 if log else abs(base.mean) or math.nan
    half = quantile(1 - alpha / 2, df) * se / scale
    low, high = (math.exp(d - half), math.exp(d + half)) if log else (ratio - half, ratio + half)
    shrunk = f", moderated with {prior.df:.3g} prior df" if prior.df else ""
    return Interval(ratio, low, high, se / scale, df, alpha, mde(se / scale, df, alpha, power, log),
                    f"t on {'log ' if log else ''}process means, {sizes}, {df:.3g} df{shrunk}")


def mark(iv: Interval, better: str, factor: float) -> str:
    """The verdict of an interval against the band [1/factor, factor] (module docstring)."""
    if not iv.bounded:
        return UNDECIDED
    if 1 / factor <= iv.low and iv.high <= factor:
        return SAME
    if not iv.excludes_one:
        return UNDECIDED
    if 1 / factor <= iv.ratio <= factor:
        return SMALL
    worse = iv.ratio > 1 if better == "lower" else iv.ratio < 1
    return WORSE if worse else BETTER


def look_alpha(alpha: float, look: int) -> float:
    """The alpha of look k (1, 2, ...) of a sequential run: alpha * 6 / (pi^2 k^2), summing to alpha."""
    if look < 1:
        raise ValueError(f"looks count from 1, got {look}")
    return alpha * 6.0 / (math.pi ** 2 * look ** 2)
