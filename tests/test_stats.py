"""kerasbench/stats.py on generated samples whose answer is known."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from kerasbench import stats


def lognormal(rng: np.random.Generator, n: int, median: float, sigma: float = 0.1) -> np.ndarray:
    """Timing-like samples: positive, right-skewed, with a known median."""
    return median * np.exp(rng.normal(0.0, sigma, n))


# ---------------------------------------------------------------- one sample set

def test_summary_of_known_samples():
    s = stats.summarize([5.0, 1.0, 4.0, 2.0, 3.0, math.nan])
    assert s.n == 5 and s.median == 3.0 and (s.min, s.max) == (1.0, 5.0)
    assert (s.q_low, s.q_high) == pytest.approx((1.8, 4.2))  # linear interpolation, numpy's default
    # five samples cannot give a 99% interval: min–max, covering 1 - 2 / 2**5 of the time
    assert (s.ci_low, s.ci_high) == (1.0, 5.0)
    assert s.ci_level == pytest.approx(1 - 2 / 32) and not s.ci_complete
    assert s.err == 2.0


def test_empty_summary_is_all_nan():
    s = stats.summarize([math.nan])
    assert s.n == 0 and math.isnan(s.median) and math.isnan(s.ci_low) and not s.ci_complete


@pytest.mark.parametrize("n", [8, 9, 10, 13, 20, 27, 45, 100])
def test_median_ci_matches_scipy_quantile_test(n):
    """scipy's exact quantile test inverts to the same order-statistic interval."""
    x = np.random.default_rng(n).exponential(2.0, n)
    low, high, coverage = stats.median_ci(x)
    expected = sps.quantile_test(x, q=np.median(x), p=0.5).confidence_interval(0.99)
    assert (low, high) == (expected.low, expected.high)
    assert 0.99 <= coverage < 1.0


def test_eight_samples_is_the_smallest_99_percent_interval():
    assert not stats.summarize(range(7)).ci_complete
    s = stats.summarize(range(8))
    assert s.ci_complete and (s.ci_low, s.ci_high) == (0, 7) and s.ci_level == pytest.approx(1 - 2 / 256)


@pytest.mark.parametrize("n, draw, true_median", [
    (10, lambda rng, n: rng.normal(5.0, 1.0, n), 5.0),
    (25, lambda rng, n: rng.exponential(1.0, n), math.log(2)),
    (60, lambda rng, n: lognormal(rng, n, 3.0, 0.5), 3.0),
])
def test_ci_covers_the_true_median_at_least_99_percent(n, draw, true_median):
    rng = np.random.default_rng(12345)
    trials = 4000
    hits = 0
    for _ in range(trials):
        low, high, _ = stats.median_ci(draw(rng, n))
        hits += low <= true_median <= high
    # exact intervals are conservative: coverage >= 99% (binomial noise of 4,000 trials: ~0.16%)
    assert hits / trials >= 0.985
    # ... but not trivially so: they do miss now and then (a min-max interval would almost never miss at n = 60)
    assert hits < trials or n == 10


def test_ci_narrows_as_samples_grow():
    rng = np.random.default_rng(0)
    widths = [stats.summarize(lognormal(rng, n, 10.0)).err for n in (10, 40, 160, 640)]
    assert widths == sorted(widths, reverse=True)
    assert widths[-1] < 0.25 * widths[0]


# ---------------------------------------------------------------- head against base (kerasbench/verdict.py)

def test_equal_distributions_are_never_called_different_in_100_trials():
    rng = np.random.default_rng(2024)
    marks = [stats.compare(lognormal(rng, n, 10.0, 0.2), lognormal(rng, n, 10.0, 0.2)).mark
             for n in (8, 10, 20, 30, 50) for _ in range(20)]
    assert len(marks) == 100 and not {"+", "-"} & set(marks)
    assert marks.count("=") + marks.count("?") >= 99


@pytest.mark.parametrize("better, mark", [("lower", "+"), ("higher", "-")])
def test_a_one_and_a_half_shift_with_8_samples_is_found_every_time(better, mark):
    rng = np.random.default_rng(99)
    for _ in range(100):
        base, head = lognormal(rng, 8, 10.0), lognormal(rng, 8, 15.0)
        result = stats.compare(base, head, better=better)
        assert result.mark == mark, result
        assert result.ratio == pytest.approx(1.5, rel=0.2)
        assert result.interval.low > 1


def test_direction_decides_worse_and_better():
    base, head = [10.0 + i / 10 for i in range(10)], [20.0 + i / 10 for i in range(10)]
    slower = stats.compare(base, head, better="lower")     # time doubled: worse
    faster = stats.compare(head, base, better="lower")     # time halved: better
    more = stats.compare(base, head, better="higher")      # throughput doubled: better
    assert (slower.mark, faster.mark, more.mark) == ("+", "-", "-")
    assert slower.regression and not faster.regression
    geometric = math.exp(np.mean(np.log(head)) - np.mean(np.log(base)))
    assert slower.ratio == pytest.approx(geometric)
    assert stats.improvement(slower.ratio, "lower") == pytest.approx(1 / geometric)


def test_a_real_change_within_the_factor_is_small_and_a_tight_one_the_same():
    base = np.linspace(10.0, 10.1, 30)
    result = stats.compare(base, base * 1.05, factor=1.10)
    assert result.significant and result.mark == "="          # the interval lies inside [1/1.1, 1.1]
    assert stats.compare(base, base * 1.05, factor=1.02).mark == "+"
    rng = np.random.default_rng(5)
    noisy = stats.compare(lognormal(rng, 40, 10.0, 0.1), lognormal(rng, 40, 10.6, 0.1), factor=1.10)
    assert noisy.mark == "~" and noisy.significant and noisy.interval.high > 1.10


def test_three_processes_a_side_decide_a_tenfold_change_and_one_a_side_decides_nothing():
    result = stats.compare([1.0, 1.1, 1.2], [10.0, 11.0, 12.0])
    assert result.mark == "+" and result.interval.df == 4
    alone = stats.compare([1.0], [10.0])
    assert alone.mark == "?" and math.isinf(alone.mde) and not alone.significant
    assert alone.interval.reason == "1 + 1 processes: too few to tell a change from one process's luck"


def test_failing_and_incomparable():
    assert stats.compare([1.0, 2.0], [math.nan]).mark == "!"
    assert stats.compare([1.0, 2.0], []).regression
    assert stats.compare([], [1.0]).mark == "x"
    assert stats.compare([1.0] * 10, [5.0] * 10, comparable=False).mark == "x"


def test_identical_constant_samples_are_the_same():
    result = stats.compare([2.0] * 10, [2.0] * 10)
    assert result.mark == "=" and result.ratio == 1.0 and not result.significant and result.mde == 1.0


def test_bad_arguments():
    with pytest.raises(ValueError, match="better"):
        stats.compare([1.0], [1.0], better="faster")
    for factor in (0.9, 1.0):
        with pytest.raises(ValueError, match="factor"):
            stats.compare([1.0], [1.0], factor=factor)


# ---------------------------------------------------------------- samples that come in processes

def clustered_samples(rng: np.random.Generator, processes: int, per_process: int, median: float,
                      between: float, within: float) -> tuple[np.ndarray, list[int]]:
    """Epoch-like samples: each process has its own pace (between), its samples jitter around it (within)."""
    paces = median * np.exp(rng.normal(0.0, between, processes))
    values = np.concatenate([pace * np.exp(rng.normal(0.0, within, per_process)) for pace in paces])
    return values, [p for p in range(processes) for _ in range(per_process)]


def test_identical_runs_whose_processes_differ_are_not_called_different():
    """Equal contenders, 3 processes x 9 epochs a side, processes 5% apart, epochs 1%: the pooled
    epochs look different often; modelled by process, the interval excludes 1 at most about 0.2% of the time."""
    rng = np.random.default_rng(7)
    pooled = per_process = 0
    for _ in range(300):
        base, base_labels = clustered_samples(rng, 3, 9, 10.0, between=0.05, within=0.01)
        head, head_labels = clustered_samples(rng, 3, 9, 10.0, between=0.05, within=0.01)
        pooled += stats.compare(base, head).significant
        per_process += stats.compare(base, head, base_processes=base_labels, head_processes=head_labels).significant
    assert pooled >= 100          # pooled: a third of the trials or more
    assert per_process <= 3


def test_one_process_a_side_without_a_prior_is_undecided():
    rng = np.random.default_rng(0)
    base, labels = clustered_samples(rng, 1, 20, 10.0, between=0.0, within=0.01)
    head, _ = clustered_samples(rng, 1, 20, 20.0, between=0.0, within=0.01)
    result = stats.compare(base, head, base_processes=labels, head_processes=labels)
    assert result.mark == "?" and not result.significant and result.ratio > 1.9
    assert stats.compare(base, head).mark == "+"     # without the labels the pooled epochs would say '+'


@pytest.mark.parametrize("better, mark", [("lower", "+"), ("higher", "-")])
def test_a_fourfold_change_with_three_processes_a_side_is_found(better, mark):
    rng = np.random.default_rng(3)
    base, labels = clustered_samples(rng, 3, 3, 0.2, between=0.05, within=0.05)
    head, _ = clustered_samples(rng, 3, 3, 0.8, between=0.05, within=0.05)
    result = stats.compare(base, head, better=better, base_processes=labels, head_processes=labels)
    assert result.mark == mark and result.interval.low > 2
    assert result.interval.reason.startswith("t on log process means, 3 + 3 processes, 4 df")


def test_process_means_with_no_spread():
    labels = [0, 0, 1, 1]
    same = stats.compare([2.0, 2.0, 2.0, 2.0], [2.0, 2.0, 2.0, 2.0], base_processes=labels, head_processes=labels)
    apart = stats.compare([2.0, 2.0, 2.0, 2.0], [3.0, 3.0, 3.0, 3.0], base_processes=labels, head_processes=labels)
    assert same.mark == "=" and apart.mark == "+" and apart.interval.low == pytest.approx(1.5)


def test_non_positive_values_are_compared_on_their_own_scale():
    """one-off cost can be negative: no logarithm, the interval of the mean difference over the base mean."""
    result = stats.compare([-1.0, 1.0, 0.0, 2.0], [9.0, 11.0, 10.0, 12.0])
    assert not result.interval.reason.startswith("t on log") and result.ratio == pytest.approx(10.5 / 0.5)
    assert result.mark == "+"
