"""The whole report in memory, then on disk: report.md with its PNG figures, and the summary.

Everything is computed and rendered in memory first, then written file by file through
kerasbench/files.py, report.md last: a failed run leaves no half-written output. Used by the
report stage (stages/report.py) and by the fan-out's collect (one report over many experiments).
"""
from __future__ import annotations

from pathlib import Path

from kerasbench import files
from kerasbench.params import Params
from kerasbench.report import environment, figures, load, markdown, numbers
from kerasbench.results import Directory, Tree


def render(p: Params, results: load.Results) -> tuple[str, dict[str, bytes], dict]:
    """The Markdown page, its PNG figures by file name, and the summary."""
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
    text = markdown.render(p, results, timing, quality, pairs, costs=costs)
    return text, pngs, numbers.summary_json(results, timing, quality)


def build(p: Params, out_dir: Path, out_summary: Path, tree: Tree | Path = Path(".")) -> Path:
    """Read (from a folder or any results tree), render in memory, then write: PNGs, the summary, report.md last."""
    text, pngs, summary = render(p, load.load(p, tree if not isinstance(tree, Path) else Directory(tree)))
    for name, data in pngs.items():
        with files.atomic_path(out_dir / name, ".png") as tmp:
            tmp.write_bytes(data)
    files.write_json(out_summary, summary)
    files.write_text(out_dir / "report.md", text)
    return out_dir / "report.md"
