"""The Markdown of a comparison (kerasbench/diff.py): the table of verdicts, the legend, the counts and notes."""
from __future__ import annotations

import math

import pandas as pd

from kerasbench import samples, stats, verdict
from kerasbench.diff import CHANGED, Outcome


def _places(*values: float) -> int:
    finite = [abs(v) for v in values if not math.isnan(v) and v != 0]
    smallest = min(finite, default=1.0)
    return 0 if smallest >= 100 else 1 if smallest >= 10 else 2 if smallest >= 1 else 3


def side(s: stats.Summary) -> str:
    """'median±err (n=N)'; † when the interval is min–max (too few samples for 99%)."""
    if s.n == 0:
        return "—"
    places = _places(s.median)
    if s.n == 1:
        return f"{s.median:,.{places}f} (n=1)"
    mark = "" if s.ci_complete else "†"
    return f"{s.median:,.{places}f}±{s.err:,.{places}f}{mark} (n={s.n})"


def ratio_text(c: stats.Comparison) -> str:
    """'1.04 [0.97, 1.12]': head/base and its interval; '—' without one."""
    if math.isnan(c.ratio):
        return "—"
    iv = c.interval
    if iv is None or not iv.bounded:
        return f"{c.ratio:.2f}"
    return f"{c.ratio:.2f} [{iv.low:.2f}, {iv.high:.2f}]"


def mark_text(c: stats.Comparison) -> str:
    """The mark, and beside '=', '~' and '?' the smallest change this comparison could have seen."""
    if c.mark not in (stats.SAME, stats.SMALL, stats.UNDECIDED) or c.interval is None:
        return c.mark
    return f"{c.mark} ({verdict.seen(c.mde)})"


def legend(factor: float, alpha: float) -> str:
    return (f"Marks, read off the {100 * (1 - alpha):.4g}% interval of the ratio head/base against the band "
            f"[1/{factor:.2f}, {factor:.2f}]: `+` worse and `-` better beyond {factor:.2f}×, `=` the same within "
            f"{factor:.2f}×, `~` different but smaller than {factor:.2f}×, `?` undecided (more processes would "
            "tell), `!` newly failing, `x` not comparable. \"could only have seen ≥ r×\": the smallest change "
            f"this comparison would have found with {verdict.POWER:.0%} power. The unit of replication is the "
            "process (steady epochs and inference passes are modelled within their process), or the round on "
            "a side that pools several; the spread is "
            "moderated across the comparison's figures and contenders (kerasbench/verdict.py). Base and head: "
            "median ± half its 99% interval (†: min–max, fewer than 8 samples). Ratio = head / base: above 1 is "
            "slower for times and memory, faster for images/s.")


def markdown(outcome: Outcome, only_changed: bool = False) -> str:
    rows = [r for r in outcome.rows if not only_changed or r.comparison.mark in CHANGED]
    table = pd.DataFrame([{
        "": mark_text(r.comparison) + ("*" if any(r.disturbed) else ""),
        "contender": r.framework,
        "figure": samples.FIGURES[r.figure].header,
        f"base: {outcome.base_label}": side(r.comparison.base),
        f"head: {outcome.head_label}": "failed" if r.comparison.mark == stats.FAILING else side(r.comparison.head),
        "ratio [interval]": ratio_text(r.comparison),
    } for r in rows], columns=["", "contender", "figure", f"base: {outcome.base_label}",
                               f"head: {outcome.head_label}", "ratio [interval]"])
    lines = [table.to_markdown(index=False, colalign=["left", "left", "left", "right", "right", "right"],
                               disable_numparse=True) if rows else "No figure changed." if only_changed
             else "No figures to compare."]
    counts = {mark: sum(r.comparison.mark == mark for r in outcome.rows) for mark in stats.MARKS}
    lines += ["", legend(outcome.factor, outcome.alpha),
              *(["", f"Rounds: base {outcome.base_rounds}, head {outcome.head_rounds}; a side with "
                      "several is summarised by its round means (the round is its unit of replication), so "
                      "machine drift between sessions counts as spread, never as a change."]
                if max(outcome.base_rounds, outcome.head_rounds) > 1 else []),
              *(["", outcome.sequential] if outcome.sequential else []),
              "", "Counted: " + ", ".join(f"{counts[m]} `{m}`" for m in stats.MARKS) + "."]
    if any(any(r.disturbed) for r in outcome.rows):
        lines += ["", "`*`: the samples include processes disturbed by the rest of the machine "
                      "(kerasbench/interference.py; "
                      "`--disturbed drop` leaves them out, `--disturbed refuse` stops): " + "; ".join(
                          f"{side} {', '.join(names)}" for side, names in outcome.disturbed.items()) + "."]
    elif outcome.disturbed_mode == "drop" and outcome.disturbed:
        lines += ["", "Left out (--disturbed drop), disturbed by the rest of the machine: " + "; ".join(
            f"{side} {', '.join(names)}" for side, names in outcome.disturbed.items()) + "."]
    for fw, differ in outcome.notes.items():
        verdict = "compared anyway (--force)" if outcome.forced else "not comparable (`x`; --force compares anyway)"
        lines += ["", f"{fw}: machine or settings differ, {verdict}: {'; '.join(differ)}."]
    if outcome.dropped:
        lines += ["", f"Not in the head's params.yaml, so not compared: {', '.join(outcome.dropped)}."]
    regressions, undecided = outcome.regressions, outcome.undecided
    lines += ["", f"**{len(regressions)} regression(s)**: " + ", ".join(
        f"{r.framework} {samples.FIGURES[r.figure].label} ({r.comparison.mark})" for r in regressions) + "."
        if regressions else "No regression beyond the factor."]
    if undecided:
        lines += ["", f"{len(undecided)} undecided (`?`): " + ", ".join(
            f"{r.framework} {samples.FIGURES[r.figure].label}" for r in undecided)
            + " (`--until-decided` adds rounds until they decide)."]
    return "\n".join(lines) + "\n"
