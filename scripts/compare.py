"""Compare the results of two commits, experiments or the workspace, asv-style.

    python -m scripts.compare BASE [HEAD] [--only-changed] [--factor F] [--metric REGEX] [--force]
                              [--disturbed mark|drop|refuse]

BASE and HEAD are each a git revision (commit, branch, tag, HEAD~1), a DVC experiment name
(matched against the last component of refs/exps/...) or `workspace` (HEAD's default), or several
of them joined by commas: rounds of one configuration, run interleaved with the other side's
(e.g. base, head, head, base), pooled so that machine drift between sessions lands on both sides
(`compare main,main-r2 exp,exp-r2`). Each side's
results are the files it committed (metrics/, plots/; tracked in git with cache: false), for the
contenders and seeds of its own params.yaml. Prints a Markdown table per contender and figure: base
median±err, head median±err, ratio head/base and a mark (see kerasbench/diff.py).

Exit status: 1 when any figure is significantly worse by more than the factor ('+') or newly
failing ('!'); 0 otherwise; 2 for bad input, with a one-line reason on stderr.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kerasbench import diff, stats
from kerasbench.results import WORKSPACE, ResultsError, resolve_side


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line and exit status 2, like every other bad input
        print(f"compare: error: {message}", file=sys.stderr)
        sys.exit(2)


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="python -m scripts.compare", description=__doc__.splitlines()[0])
    parser.add_argument("base", help="git revision, DVC experiment name, or 'workspace'; several, "
                                      "comma-separated, are rounds of one configuration")
    parser.add_argument("head", nargs="?", default=WORKSPACE, help="the same (default: workspace)")
    parser.add_argument("--only-changed", action="store_true", help="only rows marked + - ! x")
    parser.add_argument("--factor", type=float, default=stats.FACTOR,
                        help=f"minimum effect: a significant change smaller than this is '~' (default {stats.FACTOR})")
    parser.add_argument("--metric", metavar="REGEX", help="only figures whose key or name matches (re.search)")
    parser.add_argument("--force", action="store_true", help="compare even where machine or settings differ")
    parser.add_argument("--disturbed", choices=diff.DISTURBED, default="mark",
                        help="processes disturbed by the rest of the machine: mark their rows with * (default), "
                             "drop their samples, or refuse to compare")
    parser.add_argument("--repo", type=Path, default=Path("."), help="the repository (default: the current directory)")
    args = parser.parse_args(argv)
    try:
        outcome = diff.diff(resolve_side(args.base, args.repo), resolve_side(args.head, args.repo),
                                  factor=args.factor, metric=args.metric, force=args.force,
                                  disturbed=args.disturbed)
    except ResultsError as err:
        print(f"compare: error: {err}", file=sys.stderr)
        return 2
    sys.stdout.write(diff.markdown(outcome, only_changed=args.only_changed))
    return 1 if outcome.regressions else 0


if __name__ == "__main__":
    sys.exit(main())
