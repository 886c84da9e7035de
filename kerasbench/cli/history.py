"""Every contender's headline figures across the commits of a branch, as one offline HTML page.

    kerasbench history [BRANCH] [--out .kerasbench/history.html] [--experiments] [--factor 1.10] [--repo .]

Reads the results each commit recorded in git (metrics/ and plots/, tracked with cache: false) along
BRANCH's first-parent line (default HEAD), oldest first; a commit whose results did not change adds no
point. --experiments adds each DVC experiment after the commit it was based on. For each figure: a chart of
every contender's median and 99% interval at each point, and a table with the commit's short hash and
subject. A step is a change beyond the factor between a point and the nearest earlier one on the same
machine, by `kerasbench compare`'s rule; points on another machine are marked not comparable
(kerasbench/history.py says why this rule and what it cannot see). Prints one line per step.

Exit status: 0, also with steps; 2 for bad input (not a repository, an unknown branch, no results).
"""
from __future__ import annotations

import math
import sys
import time
from pathlib import Path

from kerasbench import cli, history, stats
from kerasbench import history_page as page
from kerasbench.files import write_text
from kerasbench.results import ResultsError, git


def main(argv: list[str] | None = None) -> int:
    parser = cli.parser("history", __doc__)
    parser.add_argument("branch", nargs="?", default="HEAD", help="a branch, tag or commit (default: HEAD)")
    parser.add_argument("--out", type=Path, default=Path(".kerasbench/history.html"),
                        help="the page to write (default .kerasbench/history.html: not a DVC output, ignored by git)")
    parser.add_argument("--experiments", action="store_true", help="add DVC experiments after their base commits")
    parser.add_argument("--factor", type=float, default=stats.FACTOR, help="a step is a change beyond this factor")
    parser.add_argument("--repo", type=Path, default=Path("."), help="the repository (default: the current directory)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        if not (math.isfinite(args.factor) and args.factor > 1):
            raise ResultsError(f"--factor must be a finite number above 1, got {args.factor}")
        if not args.repo.is_dir():
            raise ResultsError(f"--repo {args.repo}: no such folder")
        repo = Path(git(args.repo, "rev-parse", "--show-toplevel").stdout.strip())
        if git(repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{args.branch}^{{commit}}",
               check=False).returncode:
            raise ResultsError(f"{args.branch}: no such branch, tag or commit in {repo}")
        found = history.series(repo, args.branch, factor=args.factor, with_experiments=args.experiments)
        if not found.points:
            raise ResultsError(f"no commit on {args.branch} recorded results (metrics/train/<contender>-<seed>.json)")
        write_text(args.out, page.page(found, args.branch, args.factor))
    except ResultsError as err:
        print(f"history: error: {err}", file=sys.stderr)
        return 2
    for row in found.table[found.table["step"]].itertuples():
        print(f"step at {row.label}: {row.contender} {row.figure} {row.mark} (against {row.compared_with})")
    print(f"history: {len(found.points)} commits with results -> {args.out} ({time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
