"""The report stage: every contender's results in one Markdown page with PNG figures.

    python -m stages.report reports/ metrics/summary.json [metrics/headline.json]

Reads params.yaml (from the current directory) for the contenders, seeds and repeats to report,
then every result file of those runs (kerasbench/report/load.py lists them; files of contenders no
longer listed are ignored; missing ones are named in one error). Writes <out_dir>/report.md with
PNG figures beside it, and <out_summary>: per contender the median, the 99% confidence interval
and the number of samples of each key figure, and <out_headline>: the few figures a reader
compares first, one median per contender (numbers only, for `dvc metrics` and `dvc exp show`). Beside
report.md: index.html (the same page, self-contained, for a browser) and epochs.csv (every
process's epochs, the overlay plot of dvc.yaml). A failed run leaves no half-written output
(kerasbench/report/build.py).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kerasbench import guard, plan
from kerasbench.params import load_or_exit
from kerasbench.report.build import build
from kerasbench.results import ResultsError

PARAMS = ("frameworks", "seeds", "repeats", "train", "evaluate")   # its `params:` in dvc.yaml (tests/test_lint.py)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stages.report", description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, help="folder for report.md and its PNG figures, e.g. reports/")
    parser.add_argument("out_summary", type=Path, help="summary metrics JSON, e.g. metrics/summary.json")
    parser.add_argument("out_headline", type=Path, nargs="?", help="headline metrics JSON, e.g. metrics/headline.json")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--results", type=Path, default=Path("."),
                        help="folder holding metrics/ and plots/ (default: the current directory)")
    args = parser.parse_args(argv)
    guard.start([p for p in (args.out_dir / "report.md", args.out_summary, args.out_headline) if p], "report")
    p = plan.settings(load_or_exit(args.params), "report", PARAMS)
    try:
        report = build(p, args.out_dir, args.out_summary, args.results, args.out_headline)
    except ResultsError as err:
        sys.exit(f"error: report: {err}")
    print(f"report: wrote {report} and {args.out_summary} ({len(p.frameworks)} contender(s) x {len(p.seeds)} "
          f"seed(s) x {p.repeats} training process(es))")
    return 0


if __name__ == "__main__":
    guard.run(main)
