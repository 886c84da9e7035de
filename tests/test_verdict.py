"""kerasbench/verdict.py on generated samples and intervals whose answer is known."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from kerasbench import repetition, verdict
from kerasbench.verdict import Cell, Interval, Prior


def interval(ratio: float, low: float, high: float) -> Interval:
    return Interval(ratio, low, high, 0.01, 10.0, verdict.ALPHA, 1.05, "made by hand")


# ---------------------------------------------------------------- every verdict

@pytest.mark.parametrize("ratio, low, high, better, mark", [
    (1.00, 0.95, 1.05, "lower", "="),     # inside the band, holds 1
    (1.03, 1.01, 1.05, "lower", "="),     # inside the band, excludes 1: the same within the factor
    (1.50, 1.20, 1.90, "lower", "+"),     # time up by half: worse
    (1.50, 1.20, 1.90, "higher", "-"),    # throughput up by half: better
    (0.60, 0.50, 0.70, "lower", "-"),
    (0.60, 0.50, 0.70, "higher", "+"),
    (1.05, 1.01, 1.15, "lower", "~"),     # excludes 1, estimate inside, interval reaches out
    (1.12, 0.98, 1.30, "lower", "?"),     # holds 1, reaches out: more processes would tell
    (1.00, 0.80, 1.25, "higher", "?"),
    (1.00, math.nan, math.nan, "lower", "?"),   # no interval at all
])
def test_each_verdict_of_a_known_interval(ratio, low, high, better, mark):
    assert verdict.mark(interval(ratio, low, high), better, 1.10) == mark


def test_the_band_is_inclusive():
    assert verdict.mark(interval(1.0, 1 / 1.1, 1.1), "lower", 1.10) == "="


# ---------------------------------------------------------------- cells and the interval

def test_cell_of_known_samples():
    e = math.e
    c = verdict.cell([e, e ** 3, e ** 2, math.nan, e ** 4, e ** 6], ["a", "a", "b", "b", "c", "c"])
    # log process means 2, 2, 5; within: (1 + 1) + 0 + (1 + 1) over 5 - 3 df
    assert (c.processes, c.mean, c.var) == (3, 3.0, pytest.approx(3.0))
    assert (c.within, c.within_df, c.per_process, c.log) == (pytest.approx(2.0), 2, 5 / 3, True)
    single = verdict.cell([4.0])
    assert single.processes == 1 and math.isnan(single.var) and math.isnan(single.within)
    with pytest.raises(ValueError, match="2 samples but 1 process labels"):
        verdict.cell([1.0, 2.0], ["a"])


def test_one_sample_per_process_without_a_prior_is_students_pooled_interval():
    rng = np.random.default_rng(1)
    base, head = np.exp(rng.normal(0, 0.1, 6)), np.exp(rng.normal(0.2, 0.1, 5))
    iv = verdict.interval(verdict.cell(base), verdict.cell(head), alpha=0.05)
    expected = sps.ttest_ind(np.log(head), np.log(base)).confidence_interval(0.95)
    assert (math.log(iv.low), math.log(iv.high)) == pytest.approx((expected.low, expected.high))
    assert iv.df == 9 and iv.ratio == pytest.approx(math.exp(np.log(head).mean() - np.log(base).mean()))


def test_the_process_mean_never_varies_less_than_its_epochs_do():
    """Two processes a side that agree by chance: the spread of epochs within them sets the floor."""
    base = Cell(2, 0.0, 1e-12, 0.04, 38, 20.0)
    head = Cell(2, 0.0, 1e-12, 0.04, 38, 20.0)
    iv = verdict.interval(base, head, alpha=0.05)
    assert iv.se == pytest.approx(math.sqrt(0.04 / 20 * (1 / 2 + 1 / 2)))


def test_mde_of_a_known_standard_error():
    assert verdict.mde(0.1, math.inf, alpha=0.05, power=0.8) == pytest.approx(math.exp((1.959964 + 0.841621) * 0.1))
    assert verdict.mde(0.1, 0.0) == math.inf


def test_mde_is_the_change_found_with_that_power():
    """Simulated: a true ratio equal to the mde of 4 + 4 processes is found in about 80% of trials."""
    rng = np.random.default_rng(11)
    sigma, n, alpha = 0.05, 4, 0.05
    target = verdict.mde(sigma * math.sqrt(2 / n), 2 * n - 2, alpha)   # the mde at the true spread
    found = 0
    for _ in range(2000):
        base, head = np.exp(rng.normal(0, sigma, n)), target * np.exp(rng.normal(0, sigma, n))
        found += verdict.interval(verdict.cell(base), verdict.cell(head), alpha=alpha).low > 1
    assert 0.74 < found / 2000 < 0.86


# ---------------------------------------------------------------- the empirical-Bayes prior

def test_prior_recovers_a_known_scaled_inverse_chi_square():
    rng = np.random.default_rng(4)
    d0, s0, df = 10.0, 0.04, 2
    true = d0 * s0 / rng.chisquare(d0, 4000)
    observed = true * rng.chisquare(df, 4000) / df
    prior = verdict.fit_prior((v, df) for v in observed)
    assert prior.df == pytest.approx(d0, rel=0.25) and prior.s2 == pytest.approx(s0, rel=0.1)


def test_prior_of_equal_variances_is_infinitely_sure_and_of_too_few_is_none():
    rng = np.random.default_rng(6)
    observed = 0.01 * rng.chisquare(8, 500) / 8       # one true variance: chi-square scatter only
    prior = verdict.fit_prior((v, 8) for v in observed)
    assert prior.df > 100 and prior.s2 == pytest.approx(0.01, rel=0.1)
    assert math.isinf(verdict.fit_prior([(0.01, 4)] * 2 + [(0.0100001, 4), (0.0099999, 4)]).df)
    assert verdict.fit_prior([(0.01, 2), (0.02, 2)]) == verdict.NONE
    # repeats of one variance (epoch time and throughput), zero and single-process cells are left out
    assert verdict.fit_prior([(0.01, 2), (0.01, 2), (0.0, 3), (0.5, 0), (0.02, 2)]) == verdict.NONE


def test_moderated_variance_is_the_weighted_mean():
    assert verdict.moderated(0.09, 2, Prior(0.01, 8)) == (pytest.approx((8 * 0.01 + 2 * 0.09) / 10), 10)
    assert verdict.moderated(math.nan, 0, Prior(0.01, 8)) == (0.01, 8)
    assert verdict.moderated(0.09, 2, verdict.NONE) == (0.09, 2)
    assert verdict.moderated(0.09, 2, Prior(0.01, math.inf)) == (0.01, math.inf)


def test_moment_estimates_start_the_fit():
    rng = np.random.default_rng(4)
    true = 10 * 0.04 / rng.chisquare(10, 4000)
    start = verdict.moments(true * rng.chisquare(4, 4000) / 4, np.full(4000, 4.0))
    assert start.df == pytest.approx(10, rel=0.3) and start.s2 == pytest.approx(0.04, rel=0.15)


def test_trigamma_inverse():
    from scipy import special
    for y in (0.01, 0.5, 4.9, 100.0):
        assert float(special.polygamma(1, verdict.trigamma_inverse(y))) == pytest.approx(y, rel=1e-6)


def test_with_a_prior_two_processes_a_side_decide_what_alone_they_cannot():
    """A fourfold change, two processes a side, 5% between processes: alone (2 df, t > 22) the
    interval reaches outside the band only by luck; with the prior of 30 like features it is '+'."""
    rng = np.random.default_rng(8)
    base, head = np.exp(rng.normal(0, 0.05, 2)), 4 * np.exp(rng.normal(0, 0.05, 2))
    others = [(float(np.var(np.log(np.exp(rng.normal(0, 0.05, 2))), ddof=1)), 1) for _ in range(30)]
    prior = verdict.fit_prior(others)
    moderated = verdict.interval(verdict.cell(base), verdict.cell(head), prior)
    assert verdict.mark(moderated, "lower", 1.1) == "+" and moderated.df > 10


def test_a_and_a_with_a_prior_keeps_false_positives_under_alpha():
    """Identical sides, 2 processes a side, priors fitted over 20 features of the same noise: '+'
    or '-' (or any interval excluding 1) at most at the rate alpha promises."""
    rng = np.random.default_rng(9)
    alpha, excluded, trials = 0.05, 0, 600
    for _ in range(trials):
        features = [np.exp(rng.normal(0, 0.05, (2, 2))) for _ in range(20)]
        cells = [verdict.cell(side) for f in features for side in f]
        prior = verdict.fit_prior((c.var, c.df) for c in cells)
        excluded += verdict.interval(cells[0], cells[1], prior, alpha=alpha).excludes_one
    assert excluded / trials <= alpha + 0.02


# ---------------------------------------------------------------- sequential looks

def test_look_alphas_sum_to_alpha():
    assert sum(verdict.look_alpha(0.01, k) for k in range(1, 100_000)) == pytest.approx(0.01, rel=1e-4)
    assert verdict.look_alpha(0.01, 1) == pytest.approx(0.01 * 6 / math.pi ** 2)
    with pytest.raises(ValueError):
        verdict.look_alpha(0.01, 0)


def test_optional_stopping_with_spent_alpha_keeps_the_false_positive_rate():
    """A/A, one process a side per look from 2 up to 30, stopping at the first interval that excludes
    1: with alpha spent over the looks the rate stays under alpha; the same alpha at every look inflates it."""
    rng = np.random.default_rng(12)
    alpha, trials = 0.05, 300
    spent = fixed = 0
    for _ in range(trials):
        base, head = np.exp(rng.normal(0, 0.1, 30)), np.exp(rng.normal(0, 0.1, 30))
        looks = [(verdict.cell(base[:n]), verdict.cell(head[:n])) for n in range(2, 31)]
        spent += any(verdict.interval(b, h, alpha=verdict.look_alpha(alpha, k)).excludes_one
                     for k, (b, h) in enumerate(looks, 1))
        fixed += any(verdict.interval(b, h, alpha=alpha).excludes_one for b, h in looks)
    assert spent / trials <= alpha
    assert fixed / trials > 2 * alpha


# ---------------------------------------------------------------- Kalibera & Jones

def test_variance_components_of_known_two_level_samples():
    rng = np.random.default_rng(13)
    between, within, k, m = 0.05 ** 2, 0.02 ** 2, 400, 10
    paces = rng.normal(0, math.sqrt(between), k)
    values = np.exp(np.repeat(paces, m) + rng.normal(0, math.sqrt(within), k * m))
    got = repetition.components(verdict.cell(values, np.repeat(np.arange(k), m)))
    assert got.between == pytest.approx(between, rel=0.2) and got.within == pytest.approx(within, rel=0.05)
    assert (got.processes, got.per_process) == (k, m)


def test_optimal_samples_per_process():
    # fixed cost 10 s, 1 s a sample, within four times between: sqrt(10 x 4) = 6.3 -> 7
    assert repetition.optimal_per_process(10.0, 1.0, 0.0025, 0.01) == 7
    assert repetition.optimal_per_process(10.0, 1.0, 0.0, 0.01) == 50      # no between-process variance
    assert repetition.optimal_per_process(0.1, 1.0, 1.0, 0.01) == 1        # cheap processes: one sample each
    assert repetition.optimal_per_process(10.0, math.nan, 0.1, 0.01) == 1
