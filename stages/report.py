"""The report stage: every contender's results in one Markdown page with PNG figures.

    python -m stages.report reports/ metrics/summary.json

Reads params.yaml (from the current directory) for the contenders and seeds to report,
then exactly these files for each contender x seed (files of contenders no longer listed
are ignored; a missing one is an error that names it):

    metrics/train/<fw>-<seed>.json, metrics/train/<fw>-<seed>.env.json, metrics/eval/<fw>-<seed>.json,
    plots/history/<fw>-<seed>.csv, plots/confusion/<fw>-<seed>.csv, plots/per_class/<fw>-<seed>.csv

Writes <out_dir>/report.md with PNG figures beside it, and <out_summary>: per contender the
median, min, max and count over seeds of each key figure (numbers only, for `dvc metrics`).
Everything is computed and rendered in memory first, then written file by file through
kerasbench/files.py, report.md last: a failed run leaves no half-written output.
"""
from __future__ import annotations

import argparse
import io
import itertools
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import ConfusionMatrixDisplay, confusion_matrix  # noqa: E402

from kerasbench import files  # noqa: E402
from kerasbench.params import Params, load_or_exit  # noqa: E402

DASH = "—"


class ReportError(RuntimeError):
    """A result file is missing or malformed; the message names it."""


@dataclass(frozen=True)
class Figure:
    header: str          # Markdown column header, with its unit
    decimals: int | None  # None: about three significant digits
    scale: float = 1.0   # applied in the report only (fractions shown as %)
    key: bool = False    # in metrics/summary.json and in the spread comparison


# Every number the report shows, per run (contender x seed). Order = column order.
FIGURES = {
    "build_increase_mib": Figure("memory increase at build (MiB)", 0, key=True),
    "fit_s": Figure("training time, fit (s)", None, key=True),
    "steady_fit_s": Figure("fit at steady pace (s)", None),
    "one_off_s": Figure("one-off cost (s)", None),
    "fit_increase_mib": Figure("memory increase during fit (MiB)", 0, key=True),
    "train_accuracy": Figure("train accuracy (%)", 1, 100, key=True),
    "train_f1_weighted": Figure("train F1 (weighted)", 3, key=True),
    "test_accuracy": Figure("test accuracy (%)", 1, 100, key=True),
    "test_f1_weighted": Figure("test F1 (weighted)", 3, key=True),
    "first_epoch_s": Figure("first epoch (s)", None, key=True),
    "steady_epoch_s": Figure("steady epoch (s)", None, key=True),
    "first_epoch_images_per_s": Figure("first epoch (images/s)", 0),
    "steady_images_per_s": Figure("steady training (images/s)", 0, key=True),
    "inference_images_per_s": Figure("inference (images/s)", 0, key=True),
    "first_predict_s": Figure("first predict call (s)", None),
    "rss_peak_mib": Figure("process peak RSS (MiB)", 0, key=True),
    "rss_peak_fit_mib": Figure("peak RSS during fit (MiB)", 0),
    "gpu_peak_mib": Figure("GPU peak (MiB)", 0, key=True),
    "test_precision_weighted": Figure("test precision (weighted)", 3),
    "test_recall_weighted": Figure("test recall (weighted)", 3),
    "train_f1_macro": Figure("train F1 (macro)", 3),
    "test_f1_macro": Figure("test F1 (macro)", 3, key=True),
}
HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "epoch_s")
CONFUSION_COLUMNS = ("actual", "predicted")
PER_CLASS_COLUMNS = ("class", "precision", "recall", "f1", "support")


# ---------------------------------------------------------------- reading results

@dataclass(frozen=True)
class Run:
    """The results of one contender trained and evaluated with one seed."""
    framework: str
    seed: int
    train: dict
    env: dict
    eval: dict
    history: pd.DataFrame
    confusion: pd.DataFrame
    per_class: pd.DataFrame


def result_paths(framework: str, seed: int, metrics: Path, plots: Path) -> dict[str, Path]:
    name = f"{framework}-{seed}"
    return {
        "train": metrics / "train" / f"{name}.json",
        "env": metrics / "train" / f"{name}.env.json",
        "eval": metrics / "eval" / f"{name}.json",
        "history": plots / "history" / f"{name}.csv",
        "confusion": plots / "confusion" / f"{name}.csv",
        "per_class": plots / "per_class" / f"{name}.csv",
    }


def _read_json(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ReportError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(doc, dict):
        raise ReportError(f"{path}: expected a JSON object")
    return doc


def _read_csv(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ReportError(f"{path}: not a readable CSV file ({err})") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ReportError(f"{path}: missing column(s) {', '.join(missing)}; expected {','.join(columns)}")
    if frame.empty:
        raise ReportError(f"{path}: no rows")
    return frame


def load_runs(p: Params, metrics: Path, plots: Path) -> list[Run]:
    """The runs of params' frameworks x seeds, in that order; every missing file named at once."""
    wanted = [(fw, seed, result_paths(fw, seed, metrics, plots)) for fw in p.frameworks for seed in p.seeds]
    missing = [str(path) for _, _, paths in wanted for path in paths.values() if not path.is_file()]
    if missing:
        raise ReportError(f"{len(missing)} result file(s) missing for frameworks x seeds in params.yaml "
                          f"(run the train and evaluate stages first, e.g. `dvc repro`): {', '.join(missing)}")
    return [Run(fw, seed, _read_json(paths["train"]), _read_json(paths["env"]), _read_json(paths["eval"]),
                _read_csv(paths["history"], HISTORY_COLUMNS), _read_csv(paths["confusion"], CONFUSION_COLUMNS),
                _read_csv(paths["per_class"], PER_CLASS_COLUMNS))
            for fw, seed, paths in wanted]


def _get(doc: dict, dotted: str, where: str, *, required: bool = True):
    value = doc
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            if not required:
                return None
            raise ReportError(f"{where}: missing key '{dotted}'")
        value = value[part]
    return value


def _number(doc: dict, dotted: str, where: str) -> float:
    """A number from a metrics file; null (not measured) becomes NaN."""
    value = _get(doc, dotted, where)
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ReportError(f"{where}: '{dotted}' must be a number or null, got {value!r}")
    return float(value)


def run_values(run: Run) -> dict[str, float]:
    """Every figure of FIGURES for one run (NaN where not measured)."""
    t = lambda key: _number(run.train, key, f"metrics/train/{run.framework}-{run.seed}.json")  # noqa: E731
    e = lambda key: _number(run.eval, key, f"metrics/eval/{run.framework}-{run.seed}.json")  # noqa: E731
    steady_fit = t("time.steady_epoch_s") * t("epochs")
    values = {
        "build_increase_mib": t("memory.build_increase_mib"),
        "fit_s": t("time.fit_s"),
        "steady_fit_s": steady_fit,
        "one_off_s": t("time.fit_s") - steady_fit,
        "fit_increase_mib": t("memory.fit_increase_mib"),
        "first_epoch_s": t("time.first_epoch_s"),
        "steady_epoch_s": t("time.steady_epoch_s"),
        "first_epoch_images_per_s": t("throughput.first_epoch_images_per_s"),
        "steady_images_per_s": t("throughput.steady_images_per_s"),
        "inference_images_per_s": e("inference.predict_images_per_s"),
        "first_predict_s": e("inference.first_predict_s"),
        "rss_peak_mib": t("memory.rss_peak_os_mib"),
        "rss_peak_fit_mib": t("memory.rss_peak_fit_mib"),
        "gpu_peak_mib": t("memory.gpu_peak_mib"),
        "train_accuracy": e("train.accuracy"),
        "train_f1_weighted": e("train.f1_weighted"),
        "train_f1_macro": e("train.f1_macro"),
        "test_accuracy": e("test.accuracy"),
        "test_f1_weighted": e("test.f1_weighted"),
        "test_f1_macro": e("test.f1_macro"),
        "test_precision_weighted": e("test.precision_weighted"),
        "test_recall_weighted": e("test.recall_weighted"),
    }
    return values


# ---------------------------------------------------------------- statistics

def per_run_table(runs: list[Run]) -> pd.DataFrame:
    rows = [{"framework": r.framework, "seed": r.seed, **run_values(r)} for r in runs]
    return pd.DataFrame(rows)[["framework", "seed", *FIGURES]]


def spread(values: pd.DataFrame, frameworks: list[str]) -> pd.DataFrame:
    """Median, min, max and count over seeds: columns are (figure, statistic)."""
    stats = values.drop(columns="seed").groupby("framework").agg(["median", "min", "max", "count"])
    return stats.reindex(frameworks)


def separated(stats: pd.DataFrame, a: str, b: str, figure: str) -> bool:
    """True when the min-max ranges of two contenders do not overlap."""
    lo_a, hi_a = stats.loc[a, (figure, "min")], stats.loc[a, (figure, "max")]
    lo_b, hi_b = stats.loc[b, (figure, "min")], stats.loc[b, (figure, "max")]
    if any(math.isnan(x) for x in (lo_a, hi_a, lo_b, hi_b)):
        return False
    return hi_a < lo_b or hi_b < lo_a


def summary(stats: pd.DataFrame, runs: list[Run]) -> dict:
    """metrics/summary.json: numbers only; figures never measured (e.g. no GPU) are left out."""
    out = {}
    for fw in stats.index:
        own = [r for r in runs if r.framework == fw]
        entry = {"seeds": len(own),
                 "synthetic": int(any(any(_synthetic_flags(r).values()) for r in own)),
                 "jit_compile": int(all(bool(r.train.get("jit_compile")) for r in own))}
        for figure, spec in FIGURES.items():
            n = int(stats.loc[fw, (figure, "count")])
            if spec.key and n:
                entry[figure] = {s: float(stats.loc[fw, (figure, s)]) for s in ("median", "min", "max")}
                entry[figure]["n"] = n
        out[fw] = entry
    return out


# ---------------------------------------------------------------- formatting

def _decimals(values) -> int:
    """About three significant digits for the smallest of these values."""
    finite = [abs(v) for v in values if v is not None and not math.isnan(v) and v != 0]
    smallest = min(finite, default=1.0)
    return 1 if smallest >= 10 else 2 if smallest >= 1 else 3


def _fmt(value: float, decimals: int | None, scale: float = 1.0) -> str:
    """Thousands separators; decimals=None picks them from the value itself (for seconds)."""
    if value is None or math.isnan(value):
        return DASH
    value *= scale
    return f"{value:,.{_decimals([value]) if decimals is None else decimals}f}"


def cell(stats: pd.DataFrame, fw: str, figure: str) -> str:
    """'median' for one seed, 'median (min–max)' for several; one number of decimals per column."""
    spec = FIGURES[figure]
    decimals = _decimals(stats[(figure, "median")]) if spec.decimals is None else spec.decimals
    med, lo, hi, n = (stats.loc[fw, (figure, s)] for s in ("median", "min", "max", "count"))
    text = _fmt(med, decimals, spec.scale)
    if n > 1:
        text += f" ({_fmt(lo, decimals, spec.scale)}–{_fmt(hi, decimals, spec.scale)})"
    return text


def markdown_table(frame: pd.DataFrame, text_columns: int = 1) -> str:
    """pandas/tabulate Markdown, cells kept as given: the first `text_columns` left-aligned, numbers right."""
    align = ["left" if i < text_columns else "right" for i in range(len(frame.columns))]
    return frame.to_markdown(index=False, colalign=align, disable_numparse=True)


def figure_table(stats: pd.DataFrame, figures: list[str], jit: dict[str, str] | None = None) -> str:
    rows = []
    for fw in stats.index:
        row = {"contender": fw}
        if jit is not None:
            row["jit_compile"] = jit[fw]
        row.update({FIGURES[f].header: cell(stats, fw, f) for f in figures})
        rows.append(row)
    return markdown_table(pd.DataFrame(rows), text_columns=1 if jit is None else 2)


def _synthetic_flags(run: Run) -> dict[str, bool]:
    return {"train": bool(run.train.get("synthetic")), "eval": bool(run.eval.get("synthetic")),
            "env": bool(_get(run.env, "data.synthetic", "env", required=False))}


def jit_labels(runs: list[Run]) -> dict[str, str]:
    """Effective jit_compile per contender, e.g. 'on (default)'; 'mixed' if seeds disagree."""
    labels = {}
    for r in runs:
        jit = r.env.get("jit_compile") or {}
        effective = jit.get("effective", r.train.get("jit_compile"))
        text = ("on" if effective else "off") + (" (default)" if jit.get("param") == "default" else "")
        labels[r.framework] = text if labels.get(r.framework, text) == text else "mixed"
    return labels


def contender_label(fw: str, jit: dict[str, str]) -> str:
    return f"{fw}\njit {jit[fw].split(' ')[0]}"


# ---------------------------------------------------------------- figures (PNG bytes)

def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _colors(frameworks: list[str]) -> dict[str, tuple]:
    cmap = plt.get_cmap("tab10")
    return {fw: cmap(i % 10) for i, fw in enumerate(frameworks)}


def plot_training_curves(runs: list[Run], frameworks: list[str]) -> bytes:
    """Loss and accuracy per epoch: median over seeds, shaded min–max when several seeds."""
    colors = _colors(frameworks)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    has_val = all("val_loss" in r.history.columns for r in runs)
    for metric, ax in zip(("loss", "accuracy"), axes):
        for fw in frameworks:
            seeds = pd.concat([r.history.assign(seed=r.seed) for r in runs if r.framework == fw])
            for column, style in ((metric, "-"), (f"val_{metric}", "--")):
                if column not in seeds.columns or (column != metric and not has_val):
                    continue
                by_epoch = seeds.groupby("epoch")[column].agg(["median", "min", "max"])
                label = fw if column == metric else f"{fw} (validation)"
                ax.plot(by_epoch.index, by_epoch["median"], style, marker="o", markersize=3,
                        color=colors[fw], label=label)
                if seeds["seed"].nunique() > 1:
                    ax.fill_between(by_epoch.index, by_epoch["min"], by_epoch["max"], color=colors[fw], alpha=0.15)
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"training {metric}")
        ax.set_title(f"training {metric} per epoch")
        ax.grid(alpha=0.3)
        epochs = sorted({int(e) for r in runs for e in r.history["epoch"]})
        if len(epochs) <= 20:
            ax.set_xticks(epochs)
        else:
            ax.xaxis.get_major_locator().set_params(integer=True)
    axes[1].legend(fontsize=8, loc="best")
    fig.tight_layout()
    return _png(fig)


def _bars(ax, stats: pd.DataFrame, groups: list[tuple[str, str]], labels: list[str], ylabel: str) -> None:
    """Grouped bars of medians, min–max error bars where there are several seeds."""
    x = np.arange(len(stats.index))
    width = 0.8 / len(groups)
    for i, (figure, name) in enumerate(groups):
        med = stats[(figure, "median")].to_numpy(float)
        err = np.vstack([med - stats[(figure, "min")].to_numpy(float), stats[(figure, "max")].to_numpy(float) - med])
        several = (stats[(figure, "count")] > 1).any()
        bars = ax.bar(x + (i - (len(groups) - 1) / 2) * width, np.nan_to_num(med), width, label=name,
                      yerr=np.nan_to_num(err) if several else None, capsize=4)
        decimals = FIGURES[figure].decimals
        decimals = _decimals(med) if decimals is None else decimals
        ax.bar_label(bars, labels=[_fmt(v, decimals) for v in med], fontsize=8, padding=2)
    ax.set_xticks(x, labels, fontsize=9)
    ax.yaxis.set_major_formatter(matplotlib.ticker.StrMethodFormatter("{x:,.0f}" if ax.get_ylim()[1] > 1000
                                                                      else "{x:g}"))
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    ax.margins(y=0.15)
    if len(groups) > 1:
        ax.legend(fontsize=8)


def plot_epoch_time(stats: pd.DataFrame, jit: dict[str, str]) -> bytes:
    labels = [contender_label(fw, jit) for fw in stats.index]
    fig, axes = plt.subplots(2, 1, figsize=(max(8, 2.0 * len(labels)), 8.5))
    _bars(axes[0], stats, [("first_epoch_s", "first epoch"), ("steady_epoch_s", "steady epoch (median of 2..N)")],
          labels, "seconds per epoch (lower is better)")
    axes[0].set_title("epoch time: first (with compilation) vs steady state")
    _bars(axes[1], stats, [("steady_images_per_s", "training, steady"), ("inference_images_per_s", "inference")],
          labels, "images per second (higher is better)")
    axes[1].set_title("throughput")
    fig.tight_layout()
    return _png(fig)


def plot_memory(stats: pd.DataFrame, jit: dict[str, str], gpu: bool) -> bytes:
    labels = [contender_label(fw, jit) for fw in stats.index]
    panels = [("process memory (RSS)", [("rss_peak_mib", "process peak"), ("build_increase_mib", "increase at build"),
                                        ("fit_increase_mib", "increase during fit")])]
    if gpu:
        panels.append(("GPU memory", [("gpu_peak_mib", "GPU peak")]))
    fig, axes = plt.subplots(len(panels), 1, figsize=(max(8, 2.0 * len(labels)), 4.3 * len(panels)),
                             squeeze=False)
    for ax, (title, groups) in zip(axes[:, 0], panels):
        _bars(ax, stats, groups, labels, "MiB (lower is better)")
        ax.set_title(title)
    fig.tight_layout()
    return _png(fig)


def plot_confusion(runs: list[Run], frameworks: list[str], classes: list[str]) -> bytes:
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
            ax=ax, cmap="Blues", colorbar=False, values_format=".0f", xticks_rotation=45,
            text_kw={"fontsize": 7})
        ax.images[-1].set_clim(0, 100)
        seeds = f"{len(own)} seeds" if len(own) > 1 else "1 seed"
        ax.set_title(f"{fw} ({int(counts.sum()):,} predictions, {seeds})", fontsize=10)
        ax.set_xlabel("predicted")
        ax.set_ylabel("actual")
        ax.tick_params(labelsize=8)
    for ax in list(axes.flat)[len(frameworks):]:
        ax.axis("off")
    fig.suptitle("confusion matrices on the test set: % of each actual class", fontsize=12)
    fig.tight_layout()
    return _png(fig)


# ---------------------------------------------------------------- the Markdown page

def _same_or_each(rows: dict[str, dict[str, str]], frameworks: list[str]) -> str:
    """A property table: one value column when every contender agrees, else one column each."""
    frame = pd.DataFrame(rows).T.reindex(columns=frameworks).fillna(DASH)
    if (frame.nunique(axis=1) <= 1).all():
        frame = frame.iloc[:, :1].set_axis(["all contenders"], axis=1)
    return markdown_table(frame.rename_axis("").reset_index(), text_columns=len(frame.columns) + 1)


def environment_section(runs: list[Run], frameworks: list[str]) -> list[str]:
    def text(run: Run, dotted: str) -> str:
        value = _get(run.env, dotted, "env", required=False)
        return DASH if value in (None, "", []) else str(value)

    def gpus(run: Run) -> str:
        listed = run.env.get("gpus") or []
        return "; ".join(f"{g.get('name')} ({g.get('memory_total_mib')} MiB, driver {g.get('driver')}, "
                         f"CUDA {g.get('cuda')})" for g in listed) or "none"

    first = {fw: next(r for r in runs if r.framework == fw) for fw in frameworks}  # its first seed's env

    def each(value) -> dict[str, str]:
        return {fw: value(run) for fw, run in first.items()}

    machine = {
        "platform": each(lambda r: text(r, "platform")),
        "CPU": each(lambda r: text(r, "cpu.model")),
        "cores (logical / physical)": each(lambda r: f"{text(r, 'cpu.logical_cores')} / "
                                                     f"{text(r, 'cpu.physical_cores')}"),
        "memory (GiB)": each(lambda r: text(r, "memory_total_gib")),
        "GPUs": each(gpus),
        "python": each(lambda r: text(r, "python")),
        "data source": each(lambda r: text(r, "data.source")),
        "data MD5": each(lambda r: text(r, "data.md5")),
        "data SHA-256": each(lambda r: text(r, "data.sha256")),
        "git commit": each(lambda r: text(r, "git_commit")),
    }
    contenders = pd.DataFrame([{
        "contender": fw,
        "keras module": f"{text(r, 'keras_module')} {text(r, 'keras_version')}",
        "backend": f"{text(r, 'backend')} {text(r, 'backend_version')}",
        "device": text(r, "device"),
        "jit_compile (param → effective)": f"{text(r, 'jit_compile.param')} → {text(r, 'jit_compile.effective')}",
    } for fw, r in first.items()])
    packages = sorted({p for r in runs for p in (r.env.get("packages") or {})})
    versions = {p: each(lambda r, p=p: str((r.env.get("packages") or {}).get(p) or "not installed"))
                for p in packages}
    stamps = sorted(str(r.env.get("timestamp")) for r in runs if r.env.get("timestamp"))
    lines = ["## Environment", "",
             "Machine and data (one column when every contender ran on the same; otherwise one each):", "",
             _same_or_each(machine, frameworks), "",
             "Contenders (each trained and evaluated in its own process):", "",
             markdown_table(contenders, text_columns=len(contenders.columns)), ""]
    if versions:
        lines += ["Package versions in each contender's environment:", "", _same_or_each(versions, frameworks), ""]
    if stamps:
        lines += [f"Results recorded from {stamps[0]} to {stamps[-1]}.", ""]
    return lines


def data_warnings(runs: list[Run]) -> list[str]:
    flags = {(r.framework, r.seed): _synthetic_flags(r) for r in runs}
    synthetic = [k for k, f in flags.items() if any(f.values())]
    lines = []
    if synthetic:
        lines += ["> **SYNTHETIC DATA.** These results were produced on generated stand-in images, not on CIFAR-10 "
                  "(the `synthetic` flag is set in the results). Accuracy and F1 say nothing about LeNet-5 on "
                  "CIFAR-10; time and memory figures still describe the frameworks, for this data size.", ""]
    if (synthetic and len(synthetic) < len(flags)) or any(len(set(f.values())) > 1 for f in flags.values()):
        mixed = ", ".join(f"{fw}-{seed}" for fw, seed in synthetic)
        lines += [f"> **Warning: mixed data.** Only some results are flagged synthetic ({mixed}); "
                  "rerun the pipeline so that every contender sees the same data.", ""]
    digests = {(r.env.get("data") or {}).get("sha256") for r in runs}
    if len(digests) > 1:
        lines += ["> **Warning: different data.** The contenders' results record different data checksums "
                  f"({', '.join(sorted(str(d) for d in digests))}); they are not comparable.", ""]
    return lines


def differences_section(stats: pd.DataFrame, n_seeds: int) -> list[str]:
    lines = ["## Which differences are larger than the spread", ""]
    if n_seeds < 2:
        return lines + ["Only **one seed** per contender: no spread can be computed, so no difference in this "
                        "report can be told apart from run-to-run noise (on a shared machine timings vary by "
                        "20–30%). Add seeds to `seeds` in params.yaml, e.g. `dvc exp run -S 'seeds=[0,1,2]'`.", ""]
    rows = []
    for f, spec in FIGURES.items():
        if not spec.key or not stats[(f, "count")].gt(0).all():
            continue
        found = []
        for a, b in itertools.combinations(stats.index, 2):
            if separated(stats, a, b, f):
                low, high = sorted((a, b), key=lambda fw: stats.loc[fw, (f, "median")])
                med_low, med_high = stats.loc[low, (f, "median")], stats.loc[high, (f, "median")]
                rel = f" ({(med_low - med_high) / abs(med_high) * 100:+.0f}%)" if med_high else ""
                found.append(f"{low} < {high}{rel}")
        rows.append({"figure": spec.header, "pairs whose ranges do not overlap": "; ".join(found) or "none"})
    return lines + [
        f"How to read this: `a < b (-12%)` says that a's min–max range over its {n_seeds} seeds lies entirely "
        "below b's, and a's median is 12% below b's. Pairs not listed overlap: their difference is within the "
        "spread. Non-overlapping ranges are a rough signal, not a statistical test.", "",
        markdown_table(pd.DataFrame(rows), text_columns=2), ""]


def per_class_table(runs: list[Run], frameworks: list[str], classes: list[str]) -> str:
    frame = pd.concat([r.per_class.assign(framework=r.framework, **{"class": r.per_class["class"].astype(str)})
                       for r in runs])
    f1 = frame.groupby(["class", "framework"])["f1"].median().unstack("framework")
    f1 = f1.reindex(index=classes, columns=frameworks)
    return markdown_table(f1.map(lambda v: _fmt(v, 3)).rename_axis("class").reset_index())


def class_order(runs: list[Run]) -> list[str]:
    classes = list(dict.fromkeys(str(c) for r in runs for c in r.per_class["class"]))
    for r in runs:
        classes += [c for c in pd.unique(r.confusion[list(CONFUSION_COLUMNS)].astype(str).to_numpy().ravel())
                    if c not in classes]
    return classes


def render(p: Params, runs: list[Run]) -> tuple[str, dict[str, bytes], dict]:
    """The Markdown page, its PNG figures by file name, and the summary."""
    frameworks, n_seeds = list(p.frameworks), len(p.seeds)
    values = per_run_table(runs)
    stats = spread(values, frameworks)
    jit = jit_labels(runs)
    gpu = bool(values["gpu_peak_mib"].notna().any())
    classes = class_order(runs)
    epochs = sorted({int(r.train.get("epochs", 0)) for r in runs})
    test_images = sorted({int(r.per_class["support"].sum()) for r in runs})
    cells = "median (min–max) over the seeds" if n_seeds > 1 else "one run (one seed: no spread)"

    pngs = {"training_curves.png": plot_training_curves(runs, frameworks),
            "epoch_time.png": plot_epoch_time(stats, jit),
            "memory.png": plot_memory(stats, jit, gpu),
            "confusion_matrices.png": plot_confusion(runs, frameworks, classes)}

    t = runs[0].train
    settings = pd.DataFrame([
        ("contenders", ", ".join(frameworks)),
        ("seeds", f"{', '.join(map(str, p.seeds))} ({n_seeds} run(s) per contender)"),
        ("epochs", ", ".join(map(str, epochs))),
        ("batch size", str(t.get("batch_size"))),
        ("training images", f"{int(t.get('train_images', 0)):,}"),
        ("test images", ", ".join(f"{n:,}" for n in test_images)),
        ("optimizer, learning rate", f"{p.train.optimizer}, {p.train.learning_rate:g}"),
        ("validation split, shuffle", f"{p.train.validation_split:g}, {p.train.shuffle}"),
        ("jit_compile (param)", str(p.train.jit_compile)),
        ("inference", f"batch size {p.evaluate.batch_size}, median of {p.evaluate.repeats} timed passes"),
    ], columns=["setting", "value"])

    jit_effective = {label.split(" ")[0] for label in jit.values()}
    jit_note = []
    if len(jit_effective) > 1:
        groups = "; ".join(f"{state}: " + ", ".join(fw for fw in frameworks if jit[fw].startswith(state))
                           for state in sorted(jit_effective))
        jit_note = [f"> **jit_compile differs between contenders** ({groups}): these speed figures compare "
                    "compiled (XLA/jit) with uncompiled training. Set `train.jit_compile` to true or false "
                    "to compare like with like.", ""]

    md = ["# kerasbench report", "",
          "LeNet-5 on CIFAR-10, trained and evaluated once per contender and seed, each in its own process.", ""]
    md += data_warnings(runs)
    md += environment_section(runs, frameworks)
    md += ["## Settings", "", markdown_table(settings, text_columns=2), ""]
    if n_seeds == 1:
        md += ["> **One seed per contender**: every figure below is a single run; no spread can be computed.", ""]
    md += ["## Training time and memory (the article's first table)", "",
           f"How to read this: memory columns are increases of this contender's own process memory (resident set "
           f"size), not of the whole machine; the training time is the wall time of `model.fit` including one-off "
           f"tracing/compilation, \"at steady pace\" is epochs × the steady epoch time and the one-off cost is the "
           f"difference. Cells: {cells}.", "",
           figure_table(stats, ["build_increase_mib", "fit_s", "steady_fit_s", "one_off_s", "fit_increase_mib"], jit),
           "",
           "## Accuracy and F1 (the article's second table)", "",
           f"How to read this: scikit-learn's accuracy and F1 averaged over classes weighted by support, on the "
           f"training and the test set. A wide gap between train and test is overfitting. Cells: {cells}.", "",
           figure_table(stats, ["train_accuracy", "train_f1_weighted", "test_accuracy", "test_f1_weighted"]), "",
           "## Speed", ""]
    md += jit_note
    md += [f"How to read this: the first epoch carries tracing, compilation and first allocations; the steady "
           f"epoch is the median of epochs 2..N (— with one epoch). Images/s are training images per second at the "
           f"steady pace and test images per second in `predict`. Compare speeds only between rows with the same "
           f"jit_compile. Cells: {cells}.", "",
           figure_table(stats, ["first_epoch_s", "steady_epoch_s", "first_epoch_images_per_s",
                                "steady_images_per_s", "inference_images_per_s", "first_predict_s"], jit), "",
           "![First vs steady epoch time, and throughput](epoch_time.png)", "",
           "## Memory", "",
           "How to read this: the process peak is the operating system's high-water mark of this contender's "
           "process (getrusage), the fit peak is sampled during `model.fit`"
           + ("; the GPU peak comes from the framework's own allocator statistics." if gpu else
              "; no GPU was used, so there is no GPU peak.") + f" Cells: {cells}.", "",
           figure_table(stats, ["rss_peak_mib", "rss_peak_fit_mib"] + (["gpu_peak_mib"] if gpu else []), jit), "",
           "![Process memory per contender](memory.png)", "",
           "## Quality beyond the article", "",
           f"How to read this: macro F1 weights every class equally, weighted F1 weights classes by their number of "
           f"images (equal on CIFAR-10, so the two differ only a little). Cells: {cells}.", "",
           figure_table(stats, ["test_precision_weighted", "test_recall_weighted", "train_f1_macro", "test_f1_macro"]),
           "",
           f"Per-class F1 on the test set ({'median over seeds' if n_seeds > 1 else 'one seed'}); "
           "how to read this: the weakest classes are the ones a contender confuses most, see the matrices below.", "",
           per_class_table(runs, frameworks, classes), "",
           "![Training loss and accuracy per epoch](training_curves.png)", "",
           "Training curves: median over seeds" + (", shaded from min to max." if n_seeds > 1 else ".")
           + " The curves of different backends start from different initial weights even with the same seed.", "",
           "![Confusion matrices on the test set](confusion_matrices.png)", ""]
    md += differences_section(stats, n_seeds)
    return "\n".join(md), pngs, summary(stats, runs)


# ---------------------------------------------------------------- entry point

def build(p: Params, out_dir: Path, out_summary: Path, metrics: Path = Path("metrics"),
          plots: Path = Path("plots")) -> Path:
    """Read, render in memory, then write: PNGs, the summary, report.md last."""
    runs = load_runs(p, metrics, plots)
    text, pngs, numbers = render(p, runs)
    for name, data in pngs.items():
        with files.atomic_path(out_dir / name, ".png") as tmp:
            tmp.write_bytes(data)
    files.write_json(out_summary, numbers)
    files.write_text(out_dir / "report.md", text)
    return out_dir / "report.md"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stages.report", description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, help="folder for report.md and its PNG figures, e.g. reports/")
    parser.add_argument("out_summary", type=Path, help="summary metrics JSON, e.g. metrics/summary.json")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--metrics", type=Path, default=Path("metrics"), help="root of train/ and eval/ metrics")
    parser.add_argument("--plots", type=Path, default=Path("plots"), help="root of history/, confusion/, per_class/")
    args = parser.parse_args(argv)
    p = load_or_exit(args.params)
    try:
        report = build(p, args.out_dir, args.out_summary, args.metrics, args.plots)
    except ReportError as err:
        sys.exit(f"error: report: {err}")
    print(f"report: wrote {report} and {args.out_summary} ({len(p.frameworks)} contender(s) x {len(p.seeds)} seed(s))")
    return 0


if __name__ == "__main__":
    sys.exit(main())
