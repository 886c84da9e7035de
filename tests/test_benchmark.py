"""kerasbench/cli/benchmark.py and kerasbench/cli/bare_fit.py: the harness against a bare model.fit, for real."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.helpers import write_data

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.e2e
@pytest.mark.quiet
def test_benchmark_measures_harness_and_bare_fit(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (2048, 32, 32, 3), dtype=np.uint8)  # epochs long enough to stand out of the noise
    y = (np.arange(2048) % 10).astype(np.uint8)
    write_data(tmp_path, x, y, x[:64], y[:64])
    done = subprocess.run([sys.executable, "-m", "kerasbench", "benchmark",
                           "--frameworks", "keras3_torch", "torch_native",
                           "--batch-sizes", "64", "--epochs", "3", "--data", str(tmp_path / "data.npz"),
                           "--out", str(tmp_path / "out")], cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "skipped (no bare model.fit without Keras): torch_native" in done.stdout
    table = pd.read_csv(tmp_path / "out" / "benchmark.csv")
    assert list(table["framework"]) == ["keras3_torch"] and list(table["batch_size"]) == [64]
    row = table.iloc[0]
    assert row["harness_images_per_s"] > 0 and row["bare_images_per_s"] > 0
    assert row["ratio"] == pytest.approx(row["harness_images_per_s"] / row["bare_images_per_s"])
    assert (tmp_path / "out" / "benchmark.md").read_text().startswith("| framework")
