"""The whole report in memory, then on disk: report.md with its PNG figures, and the summary.

Everything is computed and rendered in memory first, then written file by file through
kerasbench/files.py, report.md last: a failed run leaves no half-written output. Used by the
report stage (stages/report.py) and by the fan-out's collect (one report over many experiments).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from kerasbench import files, records, stats
from kerasbench.params import Params
from kerasbench.report import answer, environment, figures, headline, html, load, markdown, numbers, variance
from kerasbench.results import Directory, Tree


def epochs_table(timed: list, frameworks: list[str]) -> pd.DataFrame:
    """Per contender and epoch, the median over its training processes of every per-epoch series its history
    files hold (records.EPOCH_SERIES): the overlay plots' data (every contender on one chart, dvc.yaml's `plots`)."""
    runs = load.histories(timed).rename(columns={"framework": "contender"})
    columns = [c for c in records.EPOCH_SERIES if c in runs.columns and runs[c].notna().any()]
    table = runs.groupby(["contender", "epoch"], sort=False)[columns].median().reset_index()
    order = {fw: i for i, fw in enumerate(frameworks)}
    return table.sort_values(["contender", "epoch"], key=lambda s: s.map(order) if s.name == "contender" else s)


def render(p: Params, results: load.Results) -> tuple[str, dict[str, bytes], dict, dict]:
    """The Markdown page, its PNG figures by file name, the summary and the headline figures."""
    frameworks = list(p.frameworks)
    timing = numbers.summaries(results.samples, frameworks)
    quality = numbers.summaries(load.scores(results.runs), frameworks, list(load.SCORES))
    pairs = numbers.pairwise(results.samples, frameworks)
    labels = [environment.chart_label(results.runs, fw) for fw in frameworks]
    pngs = {"speed.png": figures.speed(results.samples, timing, labels),
            "epoch_times.png": figures.epoch_times(results.timed, frameworks),
            "memory.png": figures.memory(results.samples, timing, labels,
                                         any(timing[fw]["gpu_peak_mib"].n for fw in frameworks)),
            "training_curves.png": figures.training_curves(results.timed, frameworks),
            "confusion_matrices.png": figures.confusion(results.runs, frameworks, markdown.class_order(results.runs))}
    costs = numbers.keras_costs(results.samples, frameworks)
    found = answer.answer(results, frameworks, timing, quality, pairs, costs, len(p.seeds) * results.repeats)
    if len(found.relative) > 1:
        pngs["relative_speed.png"] = figures.relative_speed(found.relative)
    if any(c.figure == answer.SPEED for c in costs):
        pngs["keras_cost.png"] = figures.keras_cost(costs, stats.FACTOR)
    spreads = variance.spreads(results, frameworks)
    text = markdown.render(p, results, timing, quality, pairs, costs=costs, spreads=spreads, answer=found,
                           charts=[name for name in ("relative_speed.png", "keras_cost.png") if name in pngs])
    summary = numbers.summary_json(results, timing, quality)
    for fw, entry in variance.summary(spreads).items():
        summary[fw]["variance"] = entry
    synthetic = any(entry.get("synthetic") for entry in summary.values())
    return text, pngs, summary, headline.headline(timing, quality, costs, synthetic)


def build(p: Params, out_dir: Path, out_summary: Path, tree: Tree | Path = Path("."),
          out_headline: Path | None = None) -> Path:
    """Read (from a folder or any results tree), render in memory, then write: PNGs, the epochs of every
    process for the overlay plot, the summary and headline, index.html, report.md last."""
    results = load.load(p, tree if not isinstance(tree, Path) else Directory(tree))
    text, pngs, summary, heads = render(p, results)
    epochs, page = epochs_table(results.timed, list(p.frameworks)), html.page(text, pngs)   # all before any write
    for name, data in pngs.items():
        with files.atomic_path(out_dir / name, ".png") as tmp:
            tmp.write_bytes(data)
    with files.atomic_path(out_dir / "epochs.csv", ".csv") as tmp:
        epochs.to_csv(tmp, index=False)
    files.write_json(out_summary, summary)
    if out_headline is not None:
        files.write_json(out_headline, heads)
    files.write_text(out_dir / "index.html", page)
    files.write_text(out_dir / "report.md", text)
    return out_dir / "report.md"
