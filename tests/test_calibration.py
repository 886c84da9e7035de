"""kerasbench/cli/calibrate.py on the committed pool of real processes (results/pool/2026-12-02).

A small version of docs/results/2026-12-02.md's calibration: identical configurations (A/A) are
never called different, and a fourfold slowdown is found with three processes a side far more often
than the rule used before found it.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from kerasbench.cli import calibrate

POOL = Path(__file__).resolve().parents[1] / "results" / "pool" / "2026-12-02"


@pytest.fixture(scope="module")
def verdicts():
    found = calibrate.pool(POOL, limit=12)
    assert {fw: len(runs) for fw, runs in found.items()} == {fw: 12 for fw in calibrate.CONTENDERS}
    return calibrate.resample(found, sizes=[2, 3], ratios=[4.0], trials=20, factor=1.10)


def test_identical_configurations_are_never_called_different(verdicts):
    same = verdicts[verdicts["ratio"] == 1.0]
    assert len(same) == 2 * 20 * 6 and not {"+", "-"} & set(same["new"])
    assert set(same["new"]) <= {"=", "?", "~"} and (same["new"] == "~").mean() <= 0.02


def test_a_fourfold_slowdown_is_found_and_better_than_before(verdicts):
    slower = verdicts[(verdicts["ratio"] == 4.0) & (verdicts["size"] == 3)]
    new, old = (slower["new"] == "+").mean(), (slower["old"] == "+").mean()
    assert new >= 0.9 and new > old + 0.3
    assert not (slower["new"] == "-").any()


def test_rates_table_and_the_mde_beside_undecided(verdicts):
    table = calibrate.rates(verdicts)
    assert list(table["processes a side"]) == [2, 2, 3, 3]
    aa = table[(table["processes a side"] == 3) & (table["head / base"] == "1 (A/A)")].iloc[0]
    assert aa["new +"] == aa["new -"] == 0 and 1.0 < aa["new: median could-have-seen"] < 4.0
    assert "processes a side | head / base" in calibrate.markdown(table, 20, {"x": [1]})
