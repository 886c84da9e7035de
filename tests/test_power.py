"""kerasbench/cli/power.py on generated processes with a known answer."""
from __future__ import annotations

import numpy as np

from kerasbench import stats
from kerasbench.cli.power import detection_rate, draw, needed


def fake_processes(n_processes: int, epochs: int, between: float, within: float, seed: int = 0) -> list[np.ndarray]:
    """Per-epoch seconds around 10 s: each process has its own pace (between) and epoch jitter (within)."""
    rng = np.random.default_rng(seed)
    return [10.0 * np.exp(rng.normal(0, between)) * np.exp(rng.normal(0, within, epochs)) for _ in range(n_processes)]


def test_quiet_processes_need_three_per_side_and_one_is_never_enough():
    """Steady epochs are modelled by process: one process a side can never tell a change;
    with these quiet processes (0.5% apart), 3 a side find a 10% change (4 degrees of freedom)."""
    runs = fake_processes(6, epochs=9, between=0.005, within=0.01)
    assert detection_rate(runs, 1, 1.5, "lower", trials=50, rng=np.random.default_rng(0)) == 0
    assert needed(runs, 1.10, "lower", max_n=6, trials=100, detect=0.95) == 3


def test_noisy_processes_need_more_and_a_smaller_difference_needs_more_still():
    runs = fake_processes(6, epochs=9, between=0.08, within=0.02)
    ten = needed(runs, 1.10, "lower", max_n=12, trials=100, detect=0.95)
    assert ten is not None and ten > 1
    assert (needed(runs, 1.03, "lower", max_n=12, trials=100, detect=0.95) or 99) >= ten


def test_no_difference_is_found_about_never():
    runs = fake_processes(6, epochs=9, between=0.005, within=0.03)
    rate = detection_rate(runs, 3, 1.0, "lower", trials=200, rng=np.random.default_rng(1))
    assert rate <= 0.03


def test_equal_processes_that_differ_between_themselves_are_not_told_apart():
    """Epochs of one process share its pace (5% between processes, 1% within): pooled, equal
    contenders would be 'significantly' different far more often than p < 0.002 promises; tested
    on the processes, as kerasbench does, they about never are."""
    runs = fake_processes(6, epochs=9, between=0.05, within=0.01)
    rng, pooled, tested = np.random.default_rng(1), 0, 0
    for _ in range(200):
        (base, base_processes), (head, head_processes) = draw(runs, 3, rng), draw(runs, 3, rng)
        pooled += stats.compare(base, head).significant
        tested += stats.compare(base, head, base_processes=base_processes, head_processes=head_processes).significant
    assert pooled / 200 > 0.05
    assert tested / 200 <= 0.01


def test_one_value_per_process_is_decided_by_its_processes():
    """A per-run figure (first epoch), 0.1% apart: two processes a side already find a 1.5× change
    (the old Mann–Whitney rule needed 7 + 6); one a side never can."""
    runs = fake_processes(6, epochs=1, between=0.001, within=0.0)
    assert detection_rate(runs, 1, 1.5, "lower", trials=20, rng=np.random.default_rng(0)) == 0
    assert detection_rate(runs, 2, 1.5, "lower", trials=20, rng=np.random.default_rng(0)) >= 0.9
