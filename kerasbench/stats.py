"""Statistics of benchmark samples, written once for the report and for `scripts.compare`.

Every function here is pure: samples in (any iterable of floats; NaN = not measured, dropped),
numbers out. The rules follow airspeed velocity (asv):

- A sample set is summarised by its median with a 99% confidence interval from order
  statistics: the interval [x_(r), x_(n+1-r)] of the sorted samples covers the true median with
  probability 1 - 2 * P(B <= r - 1), B ~ Binomial(n, 1/2), for any continuous distribution; r is
  the largest index that keeps this at 99% or more. It needs n >= 8 (the min–max range of n
  samples covers the median with 1 - 2 * 0.5**n, 99.2% for n = 8). With fewer samples no pair of
  order statistics reaches 99%: the interval shown is then the min–max range and `ci_level`
  says how much it really covers (75% for n = 3), and for significance it counts as unbounded.
- The spread is also given as min–max and as the 20–80% quantile band (benchopt's choice).
- Two sample sets A and B differ significantly when

      the smallest two-sided p-value that the exact Mann–Whitney U test can reach for their
      sizes, 2 / C(n_A + n_B, n_A), is below 0.002, and scipy's two-sided Mann–Whitney U test
      gives p < 0.002;

  otherwise (too few samples for such a p) when their 99% confidence intervals do not overlap.
  With the order-statistic intervals above, the second branch never finds a difference: whenever
  the test cannot reach 0.002, one side has fewer than 8 samples and so an unbounded interval.
  In practice: at least 7 + 6 samples (e.g. 7 + 7, 5 + 8, 4 + 10) are needed before any
  difference can be called significant.
- Samples that come in processes (several epochs, or several inference passes, of one training or
  evaluation process) share that process's luck: a slow process is slow in every epoch, so the
  rule above, fed the pooled samples, finds "differences" between two identical runs. When the
  caller says which process each sample came from and a process gave more than one, the test is
  made on the processes instead: one value per process (its median), Student's t-test on their
  logarithms (a ratio, like the factor), p < 0.002. On a log scale one machine's noise is alike on
  both sides, so the variance is pooled (Welch's test, with 3 processes a side, keeps about 2
  degrees of freedom and misses even a fourfold change). It needs two or more processes a side;
  with one, nothing can tell a change from that one process's luck, and nothing is called significant.
  The medians and intervals shown stay those of the pooled samples.
- A difference is only reported as a change ('+' worse, '-' better) when it is significant and
  the ratio of the medians is beyond a minimum effect factor (default 1.10) in that direction.
  Marks: '+' worse, '-' better, '~' no significant change beyond the factor, '!' newly failing
  (values at base, none at head), 'x' not comparable.

"Worse" depends on the figure: for times and memory lower is better, for throughput higher is.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Iterable, Literal

import numpy as np
from scipy import special
from scipy import stats as sps

LEVEL = 0.99          # confidence level of every interval
P_THRESHOLD = 0.002   # asv's significance threshold for the Mann–Whitney U test
FACTOR = 1.10         # minimum effect: a significant change smaller than this is not reported
BAND = (0.2, 0.8)     # the quantile band drawn in the figures

Better = Literal["lower", "higher"]
WORSE, BETTER, SAME, FAILING, INCOMPARABLE = "+", "-", "~", "!", "x"
MARKS = {
    WORSE: "significantly worse, by more than the factor",
    BETTER: "significantly better, by more than the factor",
    SAME: "no significant change beyond the factor",
    FAILING: "newly failing: values at base, none at head",
    INCOMPARABLE: "not comparable (different machine or settings, or no values at base)",
}


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


def min_p_value(n_a: int, n_b: int) -> float:
    """The smallest two-sided p-value the exact Mann–Whitney U test can give for these sample sizes."""
    if n_a == 0 or n_b == 0:
        return 1.0
    return min(1.0, 2.0 / special.comb(n_a + n_b, n_a, exact=True))


@dataclass(frozen=True)
class Test:
    significant: bool
    p_value: float | None   # None when the test could not reach the threshold
    reason: str             # one line, for a reader


def significance(a: Iterable[float], b: Iterable[float], p_threshold: float = P_THRESHOLD,
                 level: float = LEVEL) -> Test:
    """asv's rule (see the module docstring): Mann–Whitney U when it can reach p_threshold, else CIs."""
    x, y = clean(a), clean(b)
    if min_p_value(x.size, y.size) < p_threshold:
        p = float(sps.mannwhitneyu(x, y, alternative="two-sided").pvalue)
        if math.isnan(p):  # every value identical on both sides
            p = 1.0
        return Test(p < p_threshold, p, f"Mann–Whitney U p = {p:.2g} (n = {x.size}, {y.size})")
    sx, sy = summarize(x, level), summarize(y, level)
    if not (sx.ci_complete and sy.ci_complete):
        return Test(False, None, f"too few samples (n = {x.size}, {y.size}) for p < {p_threshold:g} "
                                 f"or {level:.0%} intervals")
    apart = sx.ci_high < sy.ci_low or sy.ci_high < sx.ci_low
    return Test(apart, None, f"{level:.0%} intervals {'do not overlap' if apart else 'overlap'}")


def process_medians(samples: Iterable[float], processes: Iterable) -> np.ndarray:
    """One value per process: the median of its samples (NaN samples dropped), in first-seen order."""
    values = np.asarray(list(samples), dtype=float)
    labels = list(processes)
    if len(labels) != values.size:
        raise ValueError(f"{values.size} samples but {len(labels)} process labels")
    groups: dict = {}
    for label, value in zip(labels, values):
        if not math.isnan(value):
            groups.setdefault(label, []).append(value)
    return np.array([np.median(v) for v in groups.values()], dtype=float)


def clustered(samples: Iterable[float], processes: Iterable | None) -> bool:
    """True when some process gave more than one (non-NaN) sample."""
    if processes is None:
        return False
    values = np.asarray(list(samples), dtype=float)
    kept = [label for label, value in zip(processes, values) if not math.isnan(value)]
    return len(set(kept)) < len(kept)


def process_significance(a: Iterable[float], a_processes: Iterable, b: Iterable[float], b_processes: Iterable,
                         p_threshold: float = P_THRESHOLD) -> Test:
    """Student's t-test on the (log) per-process medians of two clustered sample sets (module docstring)."""
    x, y = process_medians(a, a_processes), process_medians(b, b_processes)
    if x.size < 2 or y.size < 2:
        return Test(False, None, f"{x.size} and {y.size} process(es): too few to tell a change from a "
                                 "process's luck")
    if (x > 0).all() and (y > 0).all():
        x, y = np.log(x), np.log(y)
    if np.ptp(x) == 0 and np.ptp(y) == 0:   # no spread at all: t is undefined
        p = 1.0 if x[0] == y[0] else 0.0
    else:
        with warnings.catch_warnings():   # nearly equal values: scipy warns, and its p is still right
            warnings.simplefilter("ignore", RuntimeWarning)
            p = float(sps.ttest_ind(x, y).pvalue)
    return Test(p < p_threshold, p, f"t-test on process medians p = {p:.2g} ({x.size}, {y.size} processes)")


@dataclass(frozen=True)
class Comparison:
    """Head against base for one figure: ratio head/base of the medians, and asv's mark."""
    base: Summary
    head: Summary
    better: Better
    ratio: float        # head median / base median (NaN when either side has no value)
    test: Test | None   # None when no test was made (failing or not comparable)
    mark: str

    @property
    def significant(self) -> bool:
        return bool(self.test and self.test.significant)

    @property
    def regression(self) -> bool:
        return self.mark in (WORSE, FAILING)


def improvement(ratio: float, better: Better) -> float:
    """How many times better head is than base (> 1 better, < 1 worse), whatever the direction."""
    if ratio == 0 or math.isnan(ratio):
        return math.nan
    return 1.0 / ratio if better == "lower" else ratio


def compare(base: Iterable[float], head: Iterable[float], better: Better = "lower", factor: float = FACTOR,
            comparable: bool = True, p_threshold: float = P_THRESHOLD, level: float = LEVEL,
            base_processes: Iterable | None = None, head_processes: Iterable | None = None) -> Comparison:
    """Compare head with base; `comparable=False` (different machine or settings) gives 'x'.

    `base_processes`/`head_processes`: the process each sample came from (any hashable labels, one
    per sample). Given, and with several samples from one process, the test is on the processes."""
    if better not in ("lower", "higher"):
        raise ValueError(f"better must be 'lower' or 'higher', got {better!r}")
    if factor < 1:
        raise ValueError(f"factor must be at least 1, got {factor}")
    base, head = list(base), list(head)
    x, y = clean(base), clean(head)
    sb, sh = summarize(x, level), summarize(y, level)
    ratio = sh.median / sb.median if sb.n and sh.n and sb.median != 0 else math.nan
    if not comparable or sb.n == 0:
        return Comparison(sb, sh, better, ratio, None, INCOMPARABLE)
    if sh.n == 0:
        return Comparison(sb, sh, better, ratio, None, FAILING)
    if clustered(base, base_processes) or clustered(head, head_processes):
        test = process_significance(base, base_processes if base_processes is not None else range(len(base)),
                                    head, head_processes if head_processes is not None else range(len(head)),
                                    p_threshold)
    else:
        test = significance(x, y, p_threshold, level)
    gain = improvement(ratio, better)
    mark = SAME
    if test.significant and gain < 1.0 / factor:
        mark = WORSE
    elif test.significant and gain > factor:
        mark = BETTER
    return Comparison(sb, sh, better, ratio, test, mark)
