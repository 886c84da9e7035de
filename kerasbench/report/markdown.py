"""The report page: numbers formatted into Markdown tables, put into the Jinja2 template report.md.j2."""
from __future__ import annotations

from pathlib import Path

import jinja2
import pandas as pd

from kerasbench import stats, verdict
from kerasbench.params import Params
from kerasbench.records import CONFUSION_COLUMNS, Run
from kerasbench.report import costs as answers
from kerasbench.report import environment as envs
from kerasbench.report import interference, variance
from kerasbench.report.answer import Answer
from kerasbench.report.load import Results
from kerasbench.report.numbers import Pair, Table
from kerasbench.report.text import DASH, cell, decimals, escape, fmt, markdown_table, score_cell
from kerasbench.samples import FIGURES

UNIT_DECIMALS = {"MiB": 0, "images/s": 0}   # other units: about three significant digits
SCORE_FORMAT = {  # header, decimals, scale (fractions shown as %)
    "train_accuracy": ("train accuracy (%)", 1, 100), "train_f1_weighted": ("train F1 (weighted)", 3, 1),
    "test_accuracy": ("test accuracy (%)", 1, 100), "test_f1_weighted": ("test F1 (weighted)", 3, 1),
    "test_precision_weighted": ("test precision (weighted)", 3, 1),
    "test_recall_weighted": ("test recall (weighted)", 3, 1),
    "train_f1_macro": ("train F1 (macro)", 3, 1), "test_f1_macro": ("test F1 (macro)", 3, 1),
}
CHART_ALT = {"relative_speed.png": "Steady training throughput of each contender relative to the fastest, with "
                                   "the comparison's interval",
             "keras_cost.png": "What Keras costs on each backend: Keras' steady throughput over its baseline's"}
TEMPLATE = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent), autoescape=False,
                              trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                              undefined=jinja2.StrictUndefined).get_template("report.md.j2")


# ---------------------------------------------------------------- tables

def figure_table(table: Table, figures: list[str], labels: dict[str, dict[str, str]]) -> str:
    """One row per contender: its label columns (device, jit_compile, ...), then one `cell` per figure."""
    places = {f: UNIT_DECIMALS.get(FIGURES[f].unit, decimals([table[fw][f].median for fw in table]))
              for f in figures}
    rows = [{"contender": fw, **{name: column[fw] for name, column in labels.items()},
             **{FIGURES[f].header: cell(table[fw][f], places[f]) for f in figures}} for fw in table]
    return markdown_table(pd.DataFrame(rows), text_columns=1 + len(labels))


def score_table(table: Table, keys: list[str]) -> str:
    rows = [{"contender": fw, **{SCORE_FORMAT[k][0]: score_cell(table[fw][k], *SCORE_FORMAT[k][1:]) for k in keys}}
            for fw in table]
    return markdown_table(pd.DataFrame(rows))


def verdict_text(c: stats.Comparison) -> str:
    """The interval, and for '=', '~' and '?' the smallest change the comparison could have seen."""
    iv = c.interval
    if iv is None:
        return DASH
    shown = f"ratio {iv.ratio:.2f}" + (f" [{iv.low:.2f}, {iv.high:.2f}]" if iv.bounded else ", no interval")
    if c.mark in (stats.SAME, stats.SMALL, stats.UNDECIDED):
        shown += f"; {verdict.seen(c.mde)}"
    return f"{shown} ({iv.reason})"


def pair_sentence(pair: Pair, factor: float) -> str:
    """`+`/`-`, `=`, `~` or `?` in words (kerasbench/verdict.py)."""
    mark, times = pair.comparison.mark, f"{pair.speedup:.2f}×"
    if mark in (stats.WORSE, stats.BETTER):
        return f"`{mark}` {pair.a} is {times} faster than {pair.b}"
    if mark == stats.SMALL:
        return f"`~` {pair.a} is {times} faster than {pair.b}, a difference under {factor:.2f}×"
    if mark == stats.SAME:
        return f"`=` the same within {factor:.2f}× ({pair.a} {times} by the estimate)"
    return f"`?` undecided ({pair.a} {times} faster by the estimate; more processes would tell)"


def pairwise_table(pairs: list[Pair], factor: float) -> str:
    if not pairs:
        return "Fewer than two contenders with these figures: nothing to compare."
    rows = [{"figure": FIGURES[p.figure].header, "pair": f"{p.a} vs {p.b}", "result": pair_sentence(p, factor),
             "interval": verdict_text(p.comparison)} for p in pairs]
    return markdown_table(pd.DataFrame(rows), text_columns=4)


def same_or_each(rows: dict[str, dict[str, str]], frameworks: list[str]) -> str:
    """A property table: one value column when every contender agrees, else one column each."""
    frame = pd.DataFrame(rows).T.reindex(columns=frameworks).fillna(DASH)
    if (frame.nunique(axis=1) <= 1).all():
        frame = frame.iloc[:, :1].set_axis(["all contenders"], axis=1)
    return markdown_table(frame.rename_axis("").reset_index(), text_columns=len(frame.columns) + 1)


def per_class_table(runs: list[Run], frameworks: list[str], classes: list[str]) -> str:
    frame = pd.concat([r.per_class.assign(framework=r.framework, **{"class": r.per_class["class"].astype(str)})
                       for r in runs])
    f1 = frame.groupby(["class", "framework"])["f1"].median().unstack("framework")
    f1 = f1.reindex(index=classes, columns=frameworks).map(lambda v: fmt(v, 3))
    f1.index = [escape(c, 40) for c in f1.index]   # class names come from the archive: data, never markup
    return markdown_table(f1.rename_axis("class").reset_index())


def class_order(runs: list[Run]) -> list[str]:
    classes = list(dict.fromkeys(str(c) for r in runs for c in r.per_class["class"]))
    for r in runs:
        classes += [c for c in pd.unique(r.confusion[list(CONFUSION_COLUMNS)].astype(str).to_numpy().ravel())
                    if c not in classes]
    return classes


# ---------------------------------------------------------------- the page

def settings_table(p: Params, results: Results) -> str:
    runs = results.runs
    epochs = sorted({int(r.train.epochs or 0) for r in runs})
    test_images = sorted({int(r.per_class["support"].sum()) for r in runs})
    passes = sorted({int(r.eval.inference.repeats) for r in runs if r.eval and r.eval.inference.repeats})
    t = runs[0].train
    rows = [
        ("contenders", ", ".join(p.frameworks)),
        ("seeds", f"{', '.join(map(str, p.seeds))} ({len(p.seeds)} per contender)"),
        ("training processes per contender and seed", f"{results.repeats} (repeat 0 in train, the others in "
                                                       "the repeat stage, interleaved across contenders)"),
        ("epochs", ", ".join(map(str, epochs))),
        ("batch size", str(t.batch_size)),
        ("training images", f"{int(t.train_images or 0):,}"),
        ("test images", ", ".join(f"{n:,}" for n in test_images)),
        ("optimizer, learning rate", f"{p.train.optimizer}, {p.train.learning_rate:g}"),
        ("validation split, shuffle", f"{p.train.validation_split:g}, {p.train.shuffle}"),
        ("jit_compile (param)", str(p.train.jit_compile)),
        ("deterministic (param)", str(p.train.deterministic)),
        ("precision (param)", str(p.train.precision)),
        ("target accuracy (param)", DASH if p.train.target_accuracy is None
         else f"{p.train.target_accuracy:g} (test set scored after every epoch, untimed)"),
        ("compile cache (param)", str(p.train.compile_cache)),
        ("threads (param)", "each framework's default" if p.train.threads == "default" else
         f"{p.train.threads}: pinned to {p.train.threads} CPU(s), {p.train.threads} intra- and inter-op threads"),
        ("inference", f"batch size {p.evaluate.batch_size}, "
                      f"{', '.join(map(str, passes)) or p.evaluate.repeats} timed passes of each kind after a warm-up"),
    ]
    return markdown_table(pd.DataFrame(rows, columns=["setting", "value"]), text_columns=2)


def environment(results: Results, frameworks: list[str]) -> dict[str, object]:
    first = {fw: next(r for r in results.runs if r.framework == fw) for fw in frameworks}  # first seed's env
    packages = sorted({pkg for r in results.runs for pkg in (r.env.get("packages") or {})})
    versions = {escape(pkg): {fw: escape((r.env.get("packages") or {}).get(pkg) or "not installed")
                              for fw, r in first.items()} for pkg in packages}
    contenders = pd.DataFrame(envs.contender_rows(first))
    return {"machine": same_or_each(envs.machine_rows(first), frameworks),
            "contenders": markdown_table(contenders, text_columns=len(contenders.columns)),
            "packages": same_or_each(versions, frameworks) if versions else "",
            "stamps": sorted(escape(r.env.get("timestamp")) for r in results.runs if r.env.get("timestamp"))}


def render(p: Params, results: Results, timing: Table, quality: Table, pairs: list[Pair],
           factor: float = stats.FACTOR, costs: list | None = None, spreads: list | None = None,
           answer: Answer | None = None, charts: list[str] | None = None) -> str:
    frameworks, runs = list(p.frameworks), results.runs
    trained = envs.training_devices(runs, frameworks)
    jit = envs.per_contender(runs, frameworks, envs.jit_label)
    on_train_device = {"device": trained}
    gpu = any(timing[fw]["gpu_peak_mib"].n for fw in frameworks)
    memory_figures = ["rss_peak_mib", "rss_peak_fit_mib"] + (["gpu_peak_mib"] if gpu else [])
    memory_labels = {"device": trained, **({"GPU peak source": envs.per_contender(runs, frameworks, envs.peak_source)}
                                           if gpu else {})}
    n_seeds = len(p.seeds)
    return TEMPLATE.render(
        answer=answer, charts=charts or [], chart_alt=CHART_ALT,
        repeats=results.repeats, n_runs=n_seeds * results.repeats, has_repeats_param=hasattr(p, "repeats"),
        banners=(envs.data_banners(runs) + envs.setting_banners(runs, frameworks)
                 + interference.banners(results.timed, interference.shared_placements({r.name: r.env for r in runs}))),
        interference_table=interference.table(results.timed, frameworks), thresholds=interference.limits(),
        **environment(results, frameworks),
        settings=settings_table(p, results),
        article_table=figure_table(timing, ["build_increase_mib", "fit_s", "steady_fit_s", "one_off_s",
                                            "fit_increase_mib"], {**on_train_device, "jit_compile (effective)": jit}),
        score_cells="median (min–max) over the seeds" if n_seeds > 1 else "one run (one seed: no spread)",
        accuracy_table=score_table(quality, ["train_accuracy", "train_f1_weighted", "test_accuracy",
                                             "test_f1_weighted"]),
        speed_table=figure_table(timing, ["first_epoch_s", "steady_epoch_s", "steady_images_per_s", "import_s",
                                          "build_s"], {**on_train_device, "jit_compile (effective)": jit}),
        jit_meaning=envs.JIT_MEANING,
        level=f"{1 - verdict.ALPHA:.1%}", factor=f"{factor:.2f}",
        pairwise_table=pairwise_table(pairs, factor),
        variance_table=variance.table(spreads or []),
        inference_table=figure_table(timing, ["predict_images_per_s", "forward_images_per_s", "first_predict_s"],
                                     {"device": envs.eval_devices(runs, frameworks)}),
        gpu=gpu, memory_table=figure_table(timing, memory_figures, memory_labels),
        energy_table=(figure_table(timing, ["steady_epoch_j", "images_per_joule"], {"device": trained})
                      if any(timing[fw]["steady_epoch_j"].n for fw in frameworks) else None),   # n counts non-NaN
        quality_table=score_table(quality, ["test_precision_weighted", "test_recall_weighted", "train_f1_macro",
                                            "test_f1_macro"]),
        per_class_note="median over seeds" if n_seeds > 1 else "one seed",
        per_class_table=per_class_table(runs, frameworks, class_order(runs)),
        several_runs=n_seeds * results.repeats > 1,
        keras_cost_table=answers.keras_cost_table(costs or [], timing, factor),
        target_table=answers.target_table(results, timing, frameworks),
        cache_table=answers.cache_table(results, timing, frameworks),
    )

