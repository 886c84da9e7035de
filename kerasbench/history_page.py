"""The history page (`kerasbench history`): one offline HTML page of every contender's headline figures
across commits (kerasbench/history.py), a chart and a table per figure, steps and other machines marked.

Rendered like the report (kerasbench/report/html.py): figures inlined, nothing fetched, every commit subject
escaped as text.
"""
from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")   # before pyplot: no display
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from kerasbench import stats
from kerasbench.history import Series
from kerasbench.report import html
from kerasbench.report.figures import png
from kerasbench.report.text import DASH, escape, fmt, markdown_table
from kerasbench.samples import FIGURES

STEP_WORDS = {stats.WORSE: "worse", stats.BETTER: "better"}


def chart(rows: pd.DataFrame, labels: list[str], figure: str) -> bytes:
    """Each contender's median at each point with its interval; steps as large triangles, another machine hollow."""
    fig, ax = plt.subplots(figsize=(min(16, max(8, 0.18 * len(labels) + 4)), 4.2))
    where = {label: i for i, label in enumerate(labels)}
    cmap = plt.get_cmap("tab10")
    for k, (fw, own) in enumerate(rows.groupby("contender", sort=False)):
        x = own["label"].map(where).to_numpy()
        med = own["median"].to_numpy(dtype=float)
        err = np.array([med - own["ci_low"].to_numpy(dtype=float), own["ci_high"].to_numpy(dtype=float) - med])
        color = cmap(k % 10)
        ax.errorbar(x, med, yerr=np.nan_to_num(err), color=color, marker="o", markersize=3, capsize=2,
                    linewidth=1, label=fw)
        steps, other = own["step"].to_numpy(bool), ~own["comparable"].to_numpy(bool)
        ax.scatter(x[steps], med[steps], s=120, marker="^", facecolors="none", edgecolors="red", linewidths=2,
                   zorder=5)
        ax.scatter(x[other], med[other], s=90, marker="s", facecolors="none", edgecolors="grey", linewidths=1.5,
                   zorder=5)
    spec = FIGURES[figure]
    ax.set_title(f"{spec.header}: median and 99% interval per commit; red triangle: a step, grey square: "
                 "another machine", fontsize=10)
    ax.set_ylabel(f"{spec.unit} ({spec.better} is better)")
    shown = labels if len(labels) <= 40 else labels[::math.ceil(len(labels) / 40)]
    ax.set_xticks([where[label] for label in shown], shown, rotation=90, fontsize=7, fontfamily="monospace")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=4, loc="best")
    fig.tight_layout()
    return png(fig)


def _cell(row) -> str:
    places = 0 if FIGURES[row.figure].unit in ("images/s", "MiB") else 2
    text = f"{fmt(row.median, places)} [{fmt(row.ci_low, places)}–{fmt(row.ci_high, places)}]"
    if row.step:
        text += f" **step `{row.mark}` ({STEP_WORDS[row.mark]})**"
    elif row.mark:
        text += f" `{row.mark}`"
    if not row.comparable:
        text += " (another machine: not comparable)"
    return text


def table(rows: pd.DataFrame, series: Series) -> str:
    contenders = list(dict.fromkeys(rows["contender"]))
    cells = {(r.label, r.contender): _cell(r) for r in rows.itertuples()}
    out = [{"commit": p.label, "subject": escape(p.subject, 80),
            **{fw: cells.get((p.label, fw), DASH) for fw in contenders}} for p in series.points]
    return markdown_table(pd.DataFrame(out), text_columns=2)


def markdown(series: Series, branch: str, factor: float) -> tuple[str, dict[str, bytes]]:
    labels = [p.label for p in series.points]
    data, lines, pngs = series.table, [], {}
    steps = data[data["step"]]
    lines += [f"# kerasbench history: {escape(branch)}", "",
              f"{len(labels)} commits with results, oldest first ({labels[0] if labels else DASH} to "
              f"{labels[-1] if labels else DASH}). Each point is compared with the nearest earlier point on the same "
              f"machine by `kerasbench compare`'s rule (kerasbench/verdict.py, factor {factor:.2f}): a **step** is a "
              "change beyond the factor whose interval excludes 1. Points whose machine fingerprint is not the "
              "series' usual one are marked not comparable.", ""]
    if steps.empty:
        lines += ["No steps.", ""]
    else:
        lines += ["Steps:", ""] + [f"- {r.label} ({escape(r.subject, 80)}): {r.contender}, "
                                   f"{FIGURES[r.figure].header} `{r.mark}` {STEP_WORDS[r.mark]} than at "
                                   f"{r.compared_with}"
                                   for r in steps.itertuples()] + [""]
    other = data[~data["comparable"]][["label", "contender"]].drop_duplicates()
    if not other.empty:
        lines += ["Another machine (not comparable): " + "; ".join(
            f"{r.label} ({r.contender}: {escape(series.machines[(r.label, r.contender)], 300)})"
            for r in other.itertuples()), ""]
    if series.skipped:
        lines += ["Not read: " + "; ".join(escape(s, 300) for s in series.skipped), ""]
    for figure in dict.fromkeys(data["figure"]):
        rows = data[data["figure"] == figure]
        name = f"history_{figure}.png"
        pngs[name] = chart(rows, labels, figure)
        lines += [f"## {FIGURES[figure].header}", "", f"![{FIGURES[figure].header} across commits]({name})", "",
                  table(rows, series), ""]
    return "\n".join(lines), pngs


def page(series: Series, branch: str, factor: float = stats.FACTOR) -> str:
    text, pngs = markdown(series, branch, factor)
    return html.page(text, pngs, title=f"kerasbench history: {branch}")
