"""metrics/headline.json: the few figures a reader compares first, one number each per contender.

Medians from the same summaries as the report (kerasbench/report/numbers.py): steady training
images/s, the first epoch, the whole fit, the process's peak memory, the GPU peak where there is one,
test accuracy and weighted F1, predict() images/s, and for a Keras contender whose declared baseline
ran too, Keras' steady throughput over the baseline's (below 1: Keras is slower; the estimate of the
report's "What Keras costs" verdict, kerasbench/verdict.py: the ratio of geometric means of process
means). Numbers only, so `dvc exp show` gets one column per contender and figure, and `dvc metrics
diff` shows them first.
"""
from __future__ import annotations

import math

from kerasbench.report.numbers import KerasCost, Table

TIMING = ("steady_images_per_s", "first_epoch_s", "fit_s", "rss_peak_mib", "gpu_peak_mib", "predict_images_per_s")
QUALITY = ("test_accuracy", "test_f1_weighted")


def _value(summary) -> float | None:
    return None if summary is None or summary.n == 0 or math.isnan(summary.median) else float(summary.median)


def headline(timing: Table, quality: Table, costs: list[KerasCost], synthetic: bool) -> dict:
    """{"synthetic": 0|1, "<contender>": {figure: median, ..., "keras_vs_baseline": ratio}}; a figure with
    no samples (the GPU peak on a CPU) is left out rather than written as null."""
    out: dict = {"synthetic": int(synthetic)}
    for fw in timing:
        entry = {key: _value(timing[fw].get(key)) for key in TIMING}
        entry |= {key: _value(quality[fw].get(key)) for key in QUALITY}
        ratio = [c.comparison.ratio for c in costs if c.keras == fw and c.figure == "steady_images_per_s"]
        if ratio and math.isfinite(ratio[0]):
            entry["keras_vs_baseline"] = float(ratio[0])
        out[fw] = {key: value for key, value in entry.items() if value is not None}
    return out
