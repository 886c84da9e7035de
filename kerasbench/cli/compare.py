"""Compare the results of two commits, experiments or the workspace, asv-style.

    kerasbench compare BASE [HEAD] [--only-changed] [--factor F] [--metric REGEX] [--force]
                              [--disturbed mark|drop|refuse] [--fail-on-undecided]
    kerasbench compare BASE HEAD --until-decided [--budget 20m] [--state DIR] [--factor F] [--metric REGEX]

BASE and HEAD are each a git revision (commit, branch, tag, HEAD~1), a DVC experiment name
(matched against the last component of refs/exps/...) or `workspace` (HEAD's default), or several
of them joined by commas: rounds of one configuration, run interleaved with the other side's
(e.g. base, head, head, base), pooled so that machine drift between sessions lands on both sides
(`compare main,main-r2 exp,exp-r2`). Each side's
results are the files it committed (metrics/, plots/; tracked in git with cache: false), for the
contenders and seeds of its own params.yaml. Prints a Markdown table per contender and figure: base
median±err, head median±err, the ratio head/base with its interval and a verdict (kerasbench/verdict.py):
'+' worse or '-' better beyond the factor, '=' the same within it, '~' different but small, '?'
undecided, each undecided or same with the smallest change it could have seen.

--until-decided (kerasbench/adaptive.py): BASE and HEAD are commits or DVC experiments; both are
checked out beside the repository and trained afresh, round after round, in alternation, until
every comparison of interest (steady throughput and first epoch of each contender) is decided or
the budget (total, resumed runs included) would be exceeded. Interrupted, it keeps its finished
rounds in --state (default .kerasbench/until-decided/<base>-<head>/); the same command resumes.

Exit status: 1 when any figure is worse beyond the factor ('+') or newly failing ('!'), or with
--fail-on-undecided when any is undecided ('?'); 0 otherwise; 2 for bad input, with a one-line
reason on stderr; 130 when interrupted.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kerasbench import adaptive, cli, diff, diff_text, stats
from kerasbench.results import WORKSPACE, ResultsError, Revision, resolve, resolve_side


def main(argv: list[str] | None = None) -> int:
    parser = cli.parser("compare", __doc__)
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
    parser.add_argument("--fail-on-undecided", action="store_true", help="exit 1 when any figure is undecided ('?')")
    parser.add_argument("--until-decided", action="store_true",
                        help="train both commits afresh, round after round, until the verdicts decide")
    parser.add_argument("--budget", default="20m", help="--until-decided: total time for its processes (default 20m)")
    parser.add_argument("--state", type=Path, help="--until-decided: folder of its rounds (default "
                                                   ".kerasbench/until-decided/<base>-<head>)")
    parser.add_argument("--max-rounds", type=int, default=100, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        outcome = decided(args) if args.until_decided else diff.diff(
            resolve_side(args.base, args.repo), resolve_side(args.head, args.repo), factor=args.factor,
            metric=args.metric, force=args.force, disturbed=args.disturbed)
    except ResultsError as err:
        print(f"compare: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        kept = f"; its finished rounds are kept in {args.state}, run the same command to resume" if args.state else ""
        print(f"compare: interrupted{kept}", file=sys.stderr)
        return 130
    sys.stdout.write(diff_text.markdown(outcome, only_changed=args.only_changed))
    if outcome.regressions:
        return 1
    return 1 if args.fail_on_undecided and outcome.undecided else 0


def decided(args: argparse.Namespace) -> diff.Outcome:
    """--until-decided: both sides as commits, the budget checked before anything runs."""
    if not (args.factor > 1):
        raise ResultsError(f"--factor must be a finite number above 1 (the smallest change worth a mark), "
                           f"got {args.factor}")
    budget = adaptive.parse_duration(args.budget)
    sides = [resolve(spec, args.repo) for spec in (args.base, args.head)]
    if not all(isinstance(s, Revision) for s in sides):
        raise ResultsError("--until-decided runs both sides afresh: give two commits or DVC experiments, "
                           "not the workspace")
    base, head = sides
    args.state = args.state or base.repo / ".kerasbench" / "until-decided" / f"{base.sha[:7]}-{head.sha[:7]}"
    return adaptive.until_decided(base, head, args.state, budget, args.factor, args.metric,
                                  max_rounds=args.max_rounds, log=lambda line: print(line, file=sys.stderr))


if __name__ == "__main__":
    sys.exit(main())
