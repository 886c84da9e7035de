"""scripts/power.py on generated processes with a known answer."""
from __future__ import annotations

import numpy as np

from scripts.power import detection_rate, needed


def fake_processes(n_processes: int, epochs: int, between: float, within: float, seed: int = 0) -> list[np.ndarray]:
    """Per-epoch seconds around 10 s: each process has its own pace (between) and epoch jitter (within)."""
    rng = np.random.default_rng(seed)
    return [10.0 * np.exp(rng.normal(0, between)) * np.exp(rng.normal(0, within, epochs)) for _ in range(n_processes)]


def test_quiet_processes_need_one_per_side():
    runs = fake_processes(6, epochs=9, between=0.005, within=0.01)
    assert needed(runs, 1.10, "lower", max_n=4, trials=100, detect=0.95) == 1


def test_noisy_processes_need_more_and_a_smaller_difference_needs_more_still():
    runs = fake_processes(6, epochs=9, between=0.08, within=0.02)
    ten = needed(runs, 1.10, "lower", max_n=12, trials=100, detect=0.95)
    assert ten is not None and ten > 1
    assert (needed(runs, 1.03, "lower", max_n=12, trials=100, detect=0.95) or 99) >= ten


def test_no_difference_is_found_about_never():
    runs = fake_processes(6, epochs=9, between=0.005, within=0.03)
    rate = detection_rate(runs, 3, 1.0, "lower", trials=200, rng=np.random.default_rng(1))
    assert rate <= 0.03


def test_pooled_epochs_overstate_confidence_when_processes_differ():
    """Epochs of one process share its pace: with spread between processes, equal contenders are
    'significantly' different more often than p < 0.002 promises. This is why repeats are fresh
    processes and why a change must also pass the minimum effect factor."""
    runs = fake_processes(6, epochs=9, between=0.05, within=0.01)
    assert detection_rate(runs, 2, 1.0, "lower", trials=200, rng=np.random.default_rng(1)) > 0.05


def test_one_value_per_process_cannot_reach_p_0_002_with_few_processes():
    """A per-run figure (first epoch) with 6 processes per side: 2/C(12, 6) = 0.002 is not below 0.002."""
    runs = fake_processes(6, epochs=1, between=0.001, within=0.0)
    assert detection_rate(runs, 6, 1.5, "lower", trials=20, rng=np.random.default_rng(0)) == 0
    assert detection_rate(runs, 9, 1.5, "lower", trials=20, rng=np.random.default_rng(0)) >= 0.9
