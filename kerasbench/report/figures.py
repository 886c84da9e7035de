"""The report's PNG figures, rendered in memory (bytes) with matplotlib; nothing is written here.

Bars are medians with 99% confidence intervals of the median as error bars (min–max where there
are too few samples for 99%, see kerasbench/stats.py) and every sample as a dot; curves are
medians over runs with the 20–80% quantile band shaded.
"""
from __future__ import annotations

import io
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd
from sklearn.metrics import ConfusionMatrixDisplay, confusion_matrix

from kerasbench import samples, stats
from kerasbench.report.load import Run, histories
from kerasbench.report.numbers import Table, samples_of


def png(fig) -> bytes:
    """A matplotlib figure as PNG bytes, the figure closed (the report's and the history page's)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _colors(frameworks: list[str]) -> dict[str, tuple]:
    cmap = plt.get_cmap("tab10")
    return {fw: cmap(i % 10) for i, fw in enumerate(frameworks)}


def _short(value: float) -> str:
    if math.isnan(value):
        return ""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"


def _band_curve(ax, frame: pd.DataFrame, x: str, y: str, color, label: str, style: str = "-") -> None:
    """Median of y per x over runs, with the 20–80% band when there are several runs."""
    by_x = frame.groupby(x)[y]
    med = by_x.median()
    ax.plot(med.index, med.to_numpy(), style, marker="o", markersize=3, color=color, label=label)
    if by_x.size().max() > 1:
        low, high = by_x.quantile(stats.BAND[0]), by_x.quantile(stats.BAND[1])
        ax.fill_between(med.index, low.to_numpy(), high.to_numpy(), color=color, alpha=0.15, linewidth=0)


def _integer_epochs(ax, epochs: list[int]) -> None:
    if len(epochs) <= 20:
        ax.set_xticks(epochs)
    else:
        ax.xaxis.get_major_locator().set_params(integer=True)


def training_curves(timed: list[samples.Run], frameworks: list[str]) -> bytes:
    """Loss and accuracy per epoch over every training process of a contender."""
    colors = _colors(frameworks)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    runs = histories(timed)
    for metric, ax in zip(("loss", "accuracy"), axes):
        for fw in frameworks:
            own = runs[runs["framework"] == fw]
            _band_curve(ax, own, "epoch", metric, colors[fw], fw)
            if f"val_{metric}" in own.columns and own[f"val_{metric}"].notna().any():
                _band_curve(ax, own, "epoch", f"val_{metric}", colors[fw], f"{fw} (validation)", "--")
        ax.set(xlabel="epoch", ylabel=f"training {metric}", title=f"training {metric} per epoch")
        ax.grid(alpha=0.3)
        _integer_epochs(ax, sorted(runs["epoch"].astype(int).unique()))
    axes[1].legend(fontsize=8, loc="best")
    fig.tight_layout()
    return png(fig)


def epoch_times(timed: list[samples.Run], frameworks: list[str]) -> bytes:
    """Seconds per epoch, epoch by epoch: the first epoch's one-off cost and whether the steady state is steady."""
    colors = _colors(frameworks)
    fig, ax = plt.subplots(figsize=(10, 4.5))
    runs = histories(timed)
    for fw in frameworks:
        _band_curve(ax, runs[runs["framework"] == fw], "epoch", "epoch_s", colors[fw], fw)
    ax.set(xlabel="epoch", ylabel="seconds (lower is better)", ylim=(0, None),
           title="epoch time, epoch by epoch: median over training processes, 20–80% band")
    ax.grid(alpha=0.3)
    _integer_epochs(ax, sorted(runs["epoch"].astype(int).unique()))
    ax.legend(fontsize=8)
    fig.tight_layout()
    return png(fig)


def _bars(ax, frame: pd.DataFrame, table: Table, groups: list[tuple[str, str]], labels: list[str],
          ylabel: str) -> None:
    """Grouped bars of medians with confidence-interval error bars, and every sample as a dot."""
    frameworks = list(table)
    x = np.arange(len(frameworks))
    width = 0.8 / len(groups)
    rng = np.random.default_rng(0)
    for i, (figure, name) in enumerate(groups):
        s = [table[fw].get(figure, stats.summarize([])) for fw in frameworks]
        med = np.array([v.median for v in s], dtype=float)
        err = np.array([[v.median - v.ci_low for v in s], [v.ci_high - v.median for v in s]], dtype=float)
        pos = x + (i - (len(groups) - 1) / 2) * width
        bars = ax.bar(pos, np.nan_to_num(med), width, label=name)
        shown = ~np.isnan(med)
        ax.errorbar(pos[shown], med[shown], yerr=err[:, shown], fmt="none", ecolor="black", capsize=4,
                    elinewidth=1.2, zorder=4)
        for p, fw in zip(pos, frameworks):
            values = samples_of(frame, fw, figure).dropna().to_numpy()
            ax.scatter(p + rng.uniform(-0.25, 0.25, values.size) * width, values, s=6, color="black",
                       alpha=0.35, zorder=3, linewidths=0)
        ax.bar_label(bars, labels=[_short(v) for v in med], fontsize=8, padding=2)
    ax.set_xticks(x, labels, fontsize=9)
    ax.yaxis.set_major_formatter(matplotlib.ticker.StrMethodFormatter("{x:,.0f}" if ax.get_ylim()[1] > 1000
                                                                      else "{x:g}"))
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    ax.margins(y=0.15)
    if len(groups) > 1:
        ax.legend(fontsize=8)


def speed(frame: pd.DataFrame, table: Table, labels: list[str]) -> bytes:
    fig, axes = plt.subplots(2, 1, figsize=(max(8, 2.0 * len(labels)), 8.5))
    _bars(axes[0], frame, table, [("first_epoch_s", "first epoch"), ("steady_epoch_s", "steady epoch (2..N)")],
          labels, "seconds per epoch (lower is better)")
    axes[0].set_title("epoch time: first (with compilation) vs steady state; bars: median, whiskers: 99% CI")
    _bars(axes[1], frame, table, [("steady_images_per_s", "training, steady"),
                                  ("predict_images_per_s", "predict()"), ("forward_images_per_s", "forward pass")],
          labels, "images per second (higher is better)")
    axes[1].set_title("throughput; dots: every sample")
    fig.tight_layout()
    return png(fig)


def memory(frame: pd.DataFrame, table: Table, labels: list[str], gpu: bool) -> bytes:
    panels = [("process memory (RSS)", [("rss_peak_mib", "process peak"), ("build_increase_mib", "increase at build"),
                                        ("fit_increase_mib", "increase during fit")])]
    if gpu:
        panels.append(("GPU memory (peak, as its source reports it)", [("gpu_peak_mib", "GPU peak")]))
    fig, axes = plt.subplots(len(panels), 1, figsize=(max(8, 2.0 * len(labels)), 4.3 * len(panels)), squeeze=False)
    for ax, (title, groups) in zip(axes[:, 0], panels):
        _bars(ax, frame, table, groups, labels, "MiB (lower is better)")
        ax.set_title(title)
    fig.tight_layout()
    return png(fig)


def confusion(runs: list[Run], frameworks: list[str], classes: list[str]) -> bytes:
    """One heatmap per contender: test images summed over seeds, each row in % of its true class."""
    cols = min(3, len(frameworks))
    rows = math.ceil(len(frameworks) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.0 * cols, 5.0 * rows), squeeze=False)
    for ax, fw in zip(axes.flat, frameworks):
        own = [r for r in runs if r.framework == fw]
        counts = sum(confusion_matrix(r.confusion["actual"].astype(str), r.confusion["predicted"].astype(str),
                                      labels=classes) for r in own)
        totals = counts.sum(axis=1, keepdims=True)
        percent = np.divide(100.0 * counts, totals, out=np.zeros(counts.shape), where=totals > 0)
        ConfusionMatrixDisplay(percent, display_labels=classes).plot(
            ax=ax, cmap="Blues", colorbar=False, values_format=".0f", xticks_rotation=45, text_kw={"fontsize": 7})
        ax.images[-1].set_clim(0, 100)
        seeds = f"{len(own)} seeds" if len(own) > 1 else "1 seed"
        ax.set_title(f"{fw} ({int(counts.sum()):,} predictions, {seeds})", fontsize=10)
        ax.set(xlabel="predicted", ylabel="actual")
        ax.tick_params(labelsize=8)
    for ax in list(axes.flat)[len(frameworks):]:
        ax.axis("off")
    fig.suptitle("confusion matrices on the test set: % of each actual class", fontsize=12)
    fig.tight_layout()
    return png(fig)


def _ratio_bars(ax, names: list[str], values: list[tuple[float, float, float]], xlabel: str) -> None:
    """Horizontal bars of ratios, the first name on top, with their intervals (none where NaN) and their value."""
    y = np.arange(len(names))[::-1]
    ratio = np.array([v[0] for v in values], dtype=float)
    low = np.array([v[1] for v in values], dtype=float)
    high = np.array([v[2] for v in values], dtype=float)
    ax.barh(y, ratio, height=0.6, color="#4c72b0")
    shown = np.isfinite(low) & np.isfinite(high)
    ax.errorbar(ratio[shown], y[shown], xerr=[ratio[shown] - low[shown], high[shown] - ratio[shown]], fmt="none",
                ecolor="black", capsize=4, elinewidth=1.2, zorder=4)
    for yi, r, hi in zip(y, ratio, high):
        ax.text((hi if math.isfinite(hi) else r) * 1.01 + 0.01, yi, f"{r:.2f}×", va="center", fontsize=9)
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_yticks(y, names, fontsize=9)
    ax.set_xlabel(xlabel)
    ax.grid(axis="x", alpha=0.3)
    ax.set_xlim(0, max(1.0, float(np.nanmax(np.r_[ratio, high]))) * 1.15)


def relative_speed(relative: dict[str, tuple[float, float, float]]) -> bytes:
    """Each contender's steady throughput over the fastest's, fastest on top, with the pairwise intervals."""
    names = list(relative)
    fig, ax = plt.subplots(figsize=(8, max(3.2, 0.45 * len(names) + 1.6)))
    _ratio_bars(ax, names, [relative[n] for n in names], "steady training throughput relative to the fastest "
                "(1 = the fastest; whiskers: the comparison's interval)")
    ax.set_title("how fast each contender trains, against the fastest", fontsize=11)
    fig.tight_layout()
    return png(fig)


def keras_cost(costs: list, factor: float) -> bytes:
    """Keras contender over its baseline's steady throughput, per backend; the band [1/factor, factor] shaded."""
    steady = [c for c in costs if c.figure == "steady_images_per_s"]
    names = [f"{c.backend}: {c.keras} / {c.native}" for c in steady]
    values = []
    for c in steady:
        iv = c.comparison.interval
        values.append((c.comparison.ratio, *((iv.low, iv.high) if iv is not None else (math.nan, math.nan))))
    fig, ax = plt.subplots(figsize=(8, max(3.2, 0.45 * len(names) + 1.6)))
    ax.axvspan(1 / factor, factor, color="#dddddd", zorder=0, label=f"the same within {factor:.2f}×")
    _ratio_bars(ax, names, values, "Keras' steady throughput over the baseline's (below 1: Keras is slower)")
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title("what Keras costs on each backend", fontsize=11)
    fig.tight_layout()
    return png(fig)
