"""The comparisons a run must decide, and which of them are still undecided.

Used by `kerasbench compare --until-decided` (kerasbench/adaptive.py: the figures of interest) and by
the pipeline's `repeats: auto` (stages/repeat.py: each Keras contender against the baseline it
declares, and each pair of neighbours in the ranking by steady throughput).
"""
from __future__ import annotations

import math

from kerasbench import contenders, judge, samples, stats, verdict

INTEREST = ("steady_images_per_s", "first_epoch_s")


def interest_pairs(frame, frameworks: list[str]) -> list[tuple[str, str]]:
    """(base, head) pairs the pipeline's `repeats: auto` decides: each Keras contender against the baseline
    it declares, and each pair of neighbours in the ranking by median steady throughput."""
    pairs = [(native.name, keras.name) for keras, native in contenders.baselines(frameworks)]
    speed = {fw: samples.select(frame, fw, "steady_images_per_s")["value"].median() for fw in frameworks}
    ranked = sorted((fw for fw in frameworks if not math.isnan(speed[fw])), key=lambda fw: -speed[fw])
    pairs += [(b, a) for a, b in zip(ranked, ranked[1:]) if (a, b) not in pairs and (b, a) not in pairs]
    return pairs


def pending(frame, frameworks: list[str], factor: float, alpha: float) -> list[str]:
    """The comparisons of interest (interest_pairs x INTEREST) not yet decided, in words."""
    priors = judge.priors((key, samples.select(frame, fw, key)) for fw in frameworks for key in samples.FIGURES)
    out = []
    for base, head in interest_pairs(frame, frameworks):
        for key in INTEREST:
            c = judge.test_figure(samples.select(frame, base, key), samples.select(frame, head, key), key, priors,
                                    factor=factor, alpha=alpha)
            if c.mark not in (*stats.DECIDED, stats.FAILING, stats.INCOMPARABLE):
                out.append(f"{head} vs {base} {samples.FIGURES[key].label} ({c.mark}, {verdict.seen(c.mde)})")
    return out
