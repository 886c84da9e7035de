"""The report's first lines: the answer a reader came for, in a few sentences, and the caveats that change it.

Every number in these sentences is formatted by the same function, from the same summary or comparison,
as the table further down the page that holds it (steady images/s as in Speed, the ratios as in "Which
contender is faster" and "What Keras costs", the process peak as in Memory, test accuracy as in the
article's second table), so the two can never disagree. Pure functions: nothing here reads or writes files.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from kerasbench import stats
from kerasbench.report import environment as envs
from kerasbench.report import interference
from kerasbench.report.costs import cost_sentence
from kerasbench.report.load import Results, synthetic_flags
from kerasbench.report.numbers import KerasCost, Pair, Table
from kerasbench.report.text import fmt

SPEED = "steady_images_per_s"
ACCURACY_AGREES = 0.02   # contenders' median test accuracies within 2 percentage points "agree"
WORDS = {stats.BETTER: "faster beyond {f}×", stats.WORSE: "faster beyond {f}×", stats.SAME: "the same within {f}×",
         stats.SMALL: "faster by less than {f}×", stats.UNDECIDED: "undecided"}


@dataclass(frozen=True)
class Answer:
    sentences: list[str]
    caveats: list[str]
    relative: dict[str, tuple[float, float, float]]   # contender -> (ratio to the fastest, low, high)


def measured(table: Table, figure: str) -> list[str]:
    return [fw for fw in table
            if figure in table[fw] and table[fw][figure].n and not math.isnan(table[fw][figure].median)]


def ranking(timing: Table) -> list[str]:
    """Contenders with a steady throughput, fastest (highest median) first; ties keep the params' order."""
    return sorted(measured(timing, SPEED), key=lambda fw: -timing[fw][SPEED].median)


def pair_of(pairs: list[Pair], a: str, b: str) -> Pair | None:
    return next((p for p in pairs if p.figure == SPEED and {p.a, p.b} == {a, b}), None)


def relative(order: list[str], pairs: list[Pair]) -> dict[str, tuple[float, float, float]]:
    """Each contender's steady throughput over the fastest's, with the interval of that ratio (the pairwise
    comparison's, inverted: the fastest is its head); the fastest itself is 1 with no interval."""
    out = {order[0]: (1.0, 1.0, 1.0)} if order else {}
    for fw in order[1:]:
        pair = pair_of(pairs, order[0], fw)
        iv = pair.comparison.interval if pair else None
        if pair is None or iv is None:
            continue
        low, high = (iv.low, iv.high) if iv.bounded else (math.nan, math.nan)
        if pair.a == order[0]:   # the comparison's ratio is the fastest's over this one's
            out[fw] = (1 / iv.ratio, 1 / high, 1 / low)
        else:                    # the estimate put this one ahead although its median is lower
            out[fw] = (iv.ratio, low, high)
    return out


def ranking_sentence(order: list[str], timing: Table, pairs: list[Pair], factor: float) -> str:
    """'Ranking by steady images/s, each against the next: a 6,464 (`-` 1.32×, faster beyond 1.10×) · b 4,900 ...'"""
    parts = []
    for fw, following in zip(order, order[1:] + [None]):
        shown = f"{fw} {fmt(timing[fw][SPEED].median, 0)}"
        pair = pair_of(pairs, fw, following) if following else None
        if pair is not None:
            words = WORDS.get(pair.comparison.mark, pair.comparison.mark).format(f=f"{factor:.2f}")
            shown += f" (`{pair.comparison.mark}` {pair.speedup:.2f}×, {words})"
        parts.append(shown)
    return "Ranking by steady images/s, each against the next: " + " · ".join(parts) + "."


def keras_sentence(costs: list[KerasCost], factor: float) -> str | None:
    steady = [c for c in costs if c.figure == SPEED]
    if not steady:
        return None
    each = [f"on {c.backend}, {c.keras} / {c.native} {cost_sentence(c, factor)}" for c in steady]
    return "What Keras costs, its steady throughput over the baseline's (below 1×: Keras is slower): " + \
        "; ".join(each) + "."


def memory_sentence(timing: Table) -> str | None:
    found = measured(timing, "rss_peak_mib")
    if not found:
        return None
    by_peak = sorted(found, key=lambda fw: timing[fw]["rss_peak_mib"].median)
    smallest, largest = (fmt(timing[fw]["rss_peak_mib"].median, 0) for fw in (by_peak[0], by_peak[-1]))
    if smallest == largest:
        return f"Process peak memory: {smallest} MiB for every contender."
    return f"Smallest process peak: {by_peak[0]}, {smallest} MiB (largest: {by_peak[-1]}, {largest} MiB)."


def accuracy_sentence(quality: Table) -> str | None:
    found = measured(quality, "test_accuracy")
    if not found:
        return None
    by_acc = sorted(found, key=lambda fw: quality[fw]["test_accuracy"].median)
    low, high = by_acc[0], by_acc[-1]
    lo, hi = quality[low]["test_accuracy"].median, quality[high]["test_accuracy"].median
    if len(found) == 1 or fmt(lo, 1, 100) == fmt(hi, 1, 100):
        return f"Test accuracy: {fmt(lo, 1, 100)}% ({', '.join(found) if len(found) < 4 else 'every contender'})."
    if hi - lo <= ACCURACY_AGREES + 1e-12:
        return (f"Test accuracy agrees across contenders (medians within {ACCURACY_AGREES * 100:.0f} points): "
                f"{fmt(lo, 1, 100)}% ({low}) to {fmt(hi, 1, 100)}% ({high}).")
    return (f"Test accuracy differs across contenders by {(hi - lo) * 100:.1f} points: {fmt(lo, 1, 100)}% ({low}) "
            f"to {fmt(hi, 1, 100)}% ({high}).")


def caveats(results: Results, frameworks: list[str], processes: int) -> list[str]:
    """One line per circumstance that changes the answer, only when it applies."""
    runs, out = results.runs, []
    if any(any(synthetic_flags(r).values()) for r in runs):
        out.append("**Synthetic data**: accuracy says nothing about CIFAR-10; speed and memory hold for this "
                   "data size.")
    trained, evaluated = envs.training_devices(runs, frameworks), envs.eval_devices(runs, frameworks)
    if len(set(trained.values()) | set(evaluated.values())) > 1 or any("mixed: " in v for v in trained.values()):
        out.append("**Mixed devices**: the contenders did not all run on the same device; their speeds are not "
                   "comparable (see the banner below).")
    jit = envs.per_contender(runs, frameworks, envs.jit_state)
    if len(set(jit.values())) > 1:
        groups: dict[str, list[str]] = {}
        for fw, state in jit.items():
            groups.setdefault(state, []).append(fw)
        shown = "; ".join(f"{state}: {', '.join(fws)}" for state, fws in groups.items())
        out.append(f"**Mixed effective jit_compile** ({shown}): compiled against uncompiled training.")
    disturbed = interference.disturbed_processes(results.timed)
    if disturbed:
        out.append(f"**Disturbed processes**: {len(disturbed)} timed processes shared the machine with other work "
                   "(see Interference).")
    if processes == 1:
        out.append("**One training process per contender**: the intervals hold only epoch-to-epoch spread; add "
                   "seeds or repeats before trusting a ranking.")
    return out


def answer(results: Results, frameworks: list[str], timing: Table, quality: Table, pairs: list[Pair],
           costs: list[KerasCost], processes: int, factor: float = stats.FACTOR) -> Answer:
    order = ranking(timing)
    sentences = []
    if order:
        fastest = order[0]
        device = envs.training_devices(results.runs, frameworks)[fastest]
        speed = fmt(timing[fastest][SPEED].median, 0)
        lead = f"**{fastest}** trained fastest at steady pace on {device}: {speed} images/s"
        pair = pair_of(pairs, fastest, order[-1]) if len(order) > 1 else None
        if pair is not None and pair.a == fastest:
            lead += f", {pair.speedup:.2f}× the slowest ({order[-1]})"
        sentences += [lead + ".", ranking_sentence(order, timing, pairs, factor)]
    sentences += [s for s in (keras_sentence(costs, factor), memory_sentence(timing), accuracy_sentence(quality)) if s]
    return Answer(sentences, caveats(results, frameworks, processes), relative(order, pairs))
