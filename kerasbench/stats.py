"""Statistics of benchmark samples, written once for the report and for `kerasbench compare`.

Every function here is pure: samples in (any iterable of floats; NaN = not measured, dropped),
numbers out. The rules follow airspeed velocity (asv):

- A sample set is summarised by its median with a 99% confidence interval from order
  statistics: the interval [x_(r), x_(n+1-r)] of the sorted samples covers the true median with
  probability 1 - 2 * P(B <= r - 1), B ~ Binomial(n, 1/2), for any continuous distribution; r is
  the largest index that keeps this at 99% or more. It needs n >= 8 (the min–max range of n
  samples covers the median with 1 - 2 * 0.5**n, 99.2% for n = 8). With fewer samples no pair of
  order statistics reaches 99%: the interval shown is then the min–max range and `ci_level`
  says how much it really covers (75% for n = 3).
- The spread is also given as min–max and as the 20–80% quantile band (benchopt's choice).
- Head against base is judged by kerasbench/verdict.py: the interval of the ratio head/base from a
  two-level model of the samples (processes, and samples within them), against the band
  [1/factor, factor] (default factor 1.10). Marks: '+' worse and '-' better beyond the factor,
  '=' the same within it, '~' different but small, '?' undecided; '!' newly failing (values at
  base, none at head), 'x' not comparable. The medians and intervals shown stay those of the
  pooled samples.

"Worse" depends on the figure: for times and memory lower is better, for throughput higher is.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Literal

import numpy as np
from scipy import stats as sps

from kerasbench import verdict

LEVEL = 0.99          # confidence level of the medians' intervals
FACTOR = 1.10         # the band [1/factor, factor]: a change inside it is '=' or '~'
BAND = (0.2, 0.8)     # the quantile band drawn in the figures

Better = Literal["lower", "higher"]
WORSE, BETTER, SAME, SMALL, UNDECIDED = verdict.WORSE, verdict.BETTER, verdict.SAME, verdict.SMALL, verdict.UNDECIDED
FAILING, INCOMPARABLE = "!", "x"
MARKS = {
    WORSE: "worse beyond the factor (the ratio's interval excludes 1, its estimate is outside the band)",
    BETTER: "better beyond the factor",
    SAME: "the same within the factor (the interval lies inside the band)",
    SMALL: "different but small (the interval excludes 1, the estimate is inside the band)",
    UNDECIDED: "undecided (the interval holds 1 and reaches outside the band)",
    FAILING: "newly failing: values at base, none at head",
    INCOMPARABLE: "not comparable (different machine or settings, or no values at base)",
}
DECIDED = (WORSE, BETTER, SAME, SMALL)


def clean(samples: Iterable[float]) -> np.ndarray:
    """The samples as a float array, NaN (not measured) dropped."""
    values = np.asarray(list(samples), dtype=float)
    return values[~np.isnan(values)]


def order_statistic_coverage(n: int, r: int) -> float:
    """Probability that [x_(r), x_(n+1-r)] (1-based, sorted) covers the median of a continuous distribution."""
    return float(1.0 - 2.0 * sps.binom.cdf(r - 1, n, 0.5))


def median_ci(samples: Iterable[float], level: float = LEVEL) -> tuple[float, float, float]:
    """(low, high, coverage) of the confidence interval of the median from order statistics.

    The narrowest symmetric pair of order statistics whose coverage is at least `level`; when even
    min–max covers less (n < 8 for 99%), min–max and its real, lower coverage. NaN for no samples.
    """
    x = np.sort(clean(samples))
    n = x.size
    if n == 0:
        return math.nan, math.nan, math.nan
    # largest r with P(B <= r - 1) <= (1 - level) / 2; binom.ppf gives the smallest k with cdf >= q
    k = int(sps.binom.ppf((1.0 - level) / 2.0, n, 0.5))
    r = k if sps.binom.cdf(k, n, 0.5) > (1.0 - level) / 2.0 else k + 1
    r = max(1, min(r, (n + 1) // 2))
    return float(x[r - 1]), float(x[n - r]), order_statistic_coverage(n, r)


@dataclass(frozen=True)
class Summary:
    """One sample set: median, its confidence interval, and the spread."""
    n: int
    median: float
    ci_low: float
    ci_high: float
    ci_level: float     # the interval's real coverage: >= LEVEL, or less when n is too small
    q_low: float        # 20% quantile
    q_high: float       # 80% quantile
    min: float
    max: float

    @property
    def err(self) -> float:
        """Half the width of the confidence interval: the ± of `median±err`."""
        return (self.ci_high - self.ci_low) / 2.0

    @property
    def ci_complete(self) -> bool:
        """True when the interval reaches the confidence level asked for."""
        return self.n > 0 and self.ci_level >= LEVEL - 1e-12


def summarize(samples: Iterable[float], level: float = LEVEL, band: tuple[float, float] = BAND) -> Summary:
    x = clean(samples)
    if x.size == 0:
        return Summary(0, *([math.nan] * 8))
    low, high, coverage = median_ci(x, level)
    q_low, q_high = np.quantile(x, band)
    return Summary(int(x.size), float(np.median(x)), low, high, coverage, float(q_low), float(q_high),
                   float(x.min()), float(x.max()))


@dataclass(frozen=True)
class Comparison:
    """Head against base for one figure: the sides' summaries, the ratio's interval and the verdict."""
    base: Summary
    head: Summary
    better: Better
    interval: verdict.Interval | None   # None when no interval was made (failing or not comparable)
    mark: str
    factor: float = FACTOR

    @property
    def ratio(self) -> float:
        """head / base: the model's estimate (ratio of geometric means of process means); NaN without one."""
        if self.interval is not None:
            return self.interval.ratio
        return self.head.median / self.base.median if self.base.n and self.head.n and self.base.median else math.nan

    @property
    def significant(self) -> bool:
        """The interval excludes 1 (a change, large or small)."""
        return bool(self.interval and self.interval.excludes_one)

    @property
    def decided(self) -> bool:
        return self.mark in DECIDED

    @property
    def regression(self) -> bool:
        return self.mark in (WORSE, FAILING)

    @property
    def mde(self) -> float:
        return self.interval.mde if self.interval else math.nan


def improvement(ratio: float, better: Better) -> float:
    """How many times better head is than base (> 1 better, < 1 worse), whatever the direction."""
    if ratio == 0 or math.isnan(ratio):
        return math.nan
    return 1.0 / ratio if better == "lower" else ratio


def cells(base: Iterable[float], head: Iterable[float], base_processes: Iterable | None = None,
          head_processes: Iterable | None = None) -> tuple[verdict.Cell, verdict.Cell]:
    """The two sides' cells (kerasbench/verdict.py), on the log scale when every value of both is positive."""
    base, head = list(base), list(head)
    values = clean(base + head)
    log = bool(values.size) and bool((values > 0).all())
    return verdict.cell(base, base_processes, log), verdict.cell(head, head_processes, log)


def compare(base: Iterable[float], head: Iterable[float], better: Better = "lower", factor: float = FACTOR,
            comparable: bool = True, alpha: float = verdict.ALPHA, level: float = LEVEL,
            base_processes: Iterable | None = None, head_processes: Iterable | None = None,
            prior: verdict.Prior = verdict.NONE, power: float = verdict.POWER) -> Comparison:
    """Compare head with base; `comparable=False` (different machine or settings) gives 'x'.

    `base_processes`/`head_processes`: the process each sample came from (any hashable labels, one
    per sample; None: each sample its own process). `prior`: fitted over the comparison's cells
    (verdict.fit_prior). `level` is that of the medians' intervals shown; `alpha` that of the ratio's."""
    if better not in ("lower", "higher"):
        raise ValueError(f"better must be 'lower' or 'higher', got {better!r}")
    if not factor > 1:
        raise ValueError(f"factor must be above 1, got {factor}")
    base, head = list(base), list(head)
    sb, sh = summarize(base, level), summarize(head, level)
    if not comparable or sb.n == 0:
        return Comparison(sb, sh, better, None, INCOMPARABLE, factor)
    if sh.n == 0:
        return Comparison(sb, sh, better, None, FAILING, factor)
    iv = verdict.interval(*cells(base, head, base_processes, head_processes), prior, alpha, power)
    return Comparison(sb, sh, better, iv, verdict.mark(iv, better, factor), factor)
