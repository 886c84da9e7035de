"""The report's answers to "what does Keras cost?" and "how long until the model is good?".

Three tables, each shown only when its data exists: each Keras contender against the baseline it
declares (kerasbench/contenders/), the same model in its
backend's own code (native contenders), the time to a target test accuracy, and the first epoch
with a cold and a warm persistent compilation cache.
"""
from __future__ import annotations

import pandas as pd

from kerasbench import stats, verdict
from kerasbench.report import environment as envs
from kerasbench.report.load import Results
from kerasbench.report.numbers import KerasCost, Table, samples_of
from kerasbench.report.text import DASH, cell, decimals, fmt, markdown_table
from kerasbench.samples import FIGURES


def cost_sentence(cost: KerasCost, factor: float) -> str:
    """'`+` 0.62× [0.55, 0.70]' and the like: the Keras contender's figure over its baseline's, and the verdict."""
    c = cost.comparison
    iv = c.interval
    shown = f"{c.ratio:.2f}×" + (f" [{iv.low:.2f}, {iv.high:.2f}]" if iv is not None and iv.bounded else "")
    seen = f", {verdict.seen(c.mde)}" if c.mark in (stats.SAME, stats.SMALL, stats.UNDECIDED) else ""
    words = {stats.WORSE: "Keras is worse beyond the factor", stats.BETTER: "Keras is better beyond the factor",
             stats.SAME: f"the same within {factor:.2f}×", stats.SMALL: f"different, under {factor:.2f}×",
             stats.UNDECIDED: "undecided"}
    return f"`{c.mark}` {shown} ({words.get(c.mark, c.mark)}{seen})"


def keras_cost_table(costs: list[KerasCost], timing: Table, factor: float) -> str | None:
    """Per pair: Keras / baseline for steady throughput (< 1: Keras is slower) and first epoch (> 1: slower)."""
    if not costs:
        return None
    rows = {}
    for cost in costs:
        row = rows.setdefault((cost.backend, cost.keras, cost.native),
                              {"backend": cost.backend, "Keras": cost.keras, "baseline": cost.native})
        places = 0 if FIGURES[cost.figure].unit == "images/s" else 2
        label = FIGURES[cost.figure].label
        row[f"{label}, Keras"] = cell(timing[cost.keras][cost.figure], places)
        row[f"{label}, baseline"] = cell(timing[cost.native][cost.figure], places)
        row[f"{label}: Keras / baseline"] = cost_sentence(cost, factor)
    return markdown_table(pd.DataFrame(list(rows.values())), text_columns=3)


def target_table(results: Results, timing: Table, frameworks: list[str]) -> str | None:
    """Median time to the target accuracy over the runs that reached it, and how many did."""
    frame = results.samples
    if not (frame["figure"] == "seconds_to_target").any():
        return None
    target = next(r.train.target.accuracy for r in results.timed if r.train.target)
    rows = []
    for fw in frameworks:
        runs = samples_of(frame, fw, "seconds_to_target")
        epochs = [r.train.target.epochs_to_target if r.train.target else None
                  for r in results.timed if r.framework == fw]
        reached = [e for e in epochs if e is not None]
        rows.append({"contender": fw, "target test accuracy": f"{target:.1%}",
                     "runs that reached it": f"{runs.notna().sum()} of {len(runs)}",
                     "time to target (s)": cell(timing[fw]["seconds_to_target"], decimals([runs.median()])),
                     "epochs to target (median)": fmt(pd.Series(reached, dtype=float).median(), 0) if reached else
                     "not reached"})
    return markdown_table(pd.DataFrame(rows), text_columns=2)


def cache_table(results: Results, timing: Table, frameworks: list[str]) -> str | None:
    """First epoch with an emptied and with a filled persistent compilation cache, or why there is none."""
    modes = {(r.env.get("compile_cache") or {}).get("mode") for r in results.runs}
    if modes <= {None, "off"}:
        return None
    rows = []
    for fw in frameworks:
        env = next(r.env for r in results.runs if r.framework == fw).get("compile_cache") or {}
        cold, warm = timing[fw]["cold_first_epoch_s"], timing[fw]["warm_first_epoch_s"]
        why = env.get("why_not")
        rows.append({"contender": fw, "jit_compile (effective)": envs.per_contender(results.runs, [fw],
                                                                                     envs.jit_label)[fw],
                     "cache mode": env.get("mode") or DASH,
                     "first epoch, cold cache (s)": "no persistent cache: " + why if why else cell(cold, 2),
                     "first epoch, warm cache (s)": DASH if why else cell(warm, 2)})
    return markdown_table(pd.DataFrame(rows), text_columns=3)
