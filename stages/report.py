"""The report stage: every contender's results in one Markdown page with PNG figures.

    python -m stages.report reports/ metrics/summary.json

Reads params.yaml (from the current directory) for the contenders, seeds and repeats to report,
then every result file of those runs (kerasbench/report/load.py lists them; files of contenders no
longer listed are ignored; missing ones are named in one error). Writes <out_dir>/report.md with
PNG figures beside it, and <out_summary>: per contender the median, the 99% confidence interval
and the number of samples of each key figure (numbers only, for `dvc metrics`).
Everything is computed and rendered in memory first, then written file by file through
kerasbench/files.py, report.md last: a failed run leaves no half-written output.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kerasbench import files
from kerasbench.params import Params, load_or_exit
from kerasbench.report import environment, figures, load, markdown, numbers
from kerasbench.report.load import result_paths  # noqa: F401  (the files the fan-out's collect gathers)
from kerasbench.results import Directory, ResultsError


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


def build(p: Params, out_dir: Path, out_summary: Path, root: Path = Path(".")) -> Path:
    """Read, render in memory, then write: PNGs, the summary, report.md last."""
    text, pngs, summary = render(p, load.load(p, Directory(root)))
    for name, data in pngs.items():
        with files.atomic_path(out_dir / name, ".png") as tmp:
            tmp.write_bytes(data)
    files.write_json(out_summary, summary)
    files.write_text(out_dir / "report.md", text)
    return out_dir / "report.md"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stages.report", description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, help="folder for report.md and its PNG figures, e.g. reports/")
    parser.add_argument("out_summary", type=Path, help="summary metrics JSON, e.g. metrics/summary.json")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--results", type=Path, default=Path("."),
                        help="folder holding metrics/ and plots/ (default: the current directory)")
    args = parser.parse_args(argv)
    p = load_or_exit(args.params)
    try:
        report = build(p, args.out_dir, args.out_summary, args.results)
    except ResultsError as err:
        sys.exit(f"error: report: {err}")
    print(f"report: wrote {report} and {args.out_summary} ({len(p.frameworks)} contender(s) x {len(p.seeds)} "
          f"seed(s) x {p.repeats} training process(es))")
    return 0


if __name__ == "__main__":
    sys.exit(main())
