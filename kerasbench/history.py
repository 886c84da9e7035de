"""Every contender's headline figures along a branch: median and interval at each commit that recorded results,
the steps between them, and the commits that ran on another machine.

A point is a commit whose results (its metrics/ and plots/ folders) differ from the commit before it on the
branch's first-parent line, so a commit that changed only code adds nothing; with `experiments`, each DVC
experiment follows the commit it was based on. Each point's samples are read as `kerasbench compare` reads
them (kerasbench/records.py, through one `git cat-file --batch` process for the whole history).

Steps use the project's own rule, not a change-point method of its own: each point is compared with the
nearest earlier point that ran on the same machine fingerprint (kerasbench/diff.py: CPU, device, GPU and
driver, lock, deterministic, effective jit_compile, ...) by kerasbench/diff.py, and a `+` or `-` there
(a change beyond the factor whose interval excludes 1) is a step. So the history page and a CI diff between
the same two commits can never disagree. A point whose fingerprint is not the series' most common one is
marked not comparable with the rest, and is compared only with earlier points of its own machine. What
this rule cannot see: a drift spread over many commits, each step under the factor (E-Divisive means over
the whole series, as Hunter does, would; it needs a series of medians, not samples, and finds change points
without a band of practical size).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from kerasbench import diff, judge, samples, stats
from kerasbench.results import Objects, ResultsError, Revision, experiments, git

FIGURES = ("steady_images_per_s", "first_epoch_s", "fit_s", "rss_peak_mib", "gpu_peak_mib", "predict_images_per_s")
STEPS = (stats.WORSE, stats.BETTER)


@dataclass(frozen=True)
class Point:
    """One commit (or DVC experiment) that recorded results."""
    sha: str
    subject: str
    label: str    # short hash, or the experiment's name


def points(repo: Path, branch: str, objects: Objects, with_experiments: bool = False) -> list[Point]:
    """The branch's first-parent commits, oldest first, that changed their results (or first recorded them)."""
    log = git(repo, "log", "--first-parent", "--reverse", "--format=%H%x00%s", branch, "--").stdout
    commits = [line.split("\0", 1) for line in log.splitlines() if line]
    out, last = [], None
    for sha, subject in commits:
        found = [objects.get(f"{sha}:{folder}") for folder in ("metrics", "plots")]
        if found[0] is None:
            continue
        identity = tuple(content for _, content in filter(None, found))
        if identity != last:
            out.append(Point(sha, subject, sha[:7]))
        last = identity
    if with_experiments:
        out = _with_experiments(repo, out)
    return out


def _with_experiments(repo: Path, commits: list[Point]) -> list[Point]:
    after: dict[str, list[Point]] = {}
    for name, shas in sorted(experiments(repo).items()):
        for sha in shas:
            parent = git(repo, "rev-parse", f"{sha}^").stdout.strip()
            after.setdefault(parent, []).append(Point(sha, f"DVC experiment {name} (based on {parent[:7]})", name))
    return [p for point in commits for p in [point, *after.get(point.sha, [])]]


@dataclass
class Series:
    """The history: one row per point, contender and figure (median, ci_low, ci_high, n, mark against the
    point it was compared with, compared_with, step, comparable), and the machine of each point."""
    points: list[Point]
    table: pd.DataFrame
    machines: dict[tuple[str, str], str]   # (label, contender) -> its fingerprint, in words
    skipped: list[str]                       # points that could not be read, with why


def compare(base: dict, head: dict, contenders: list[str], factor: float) -> dict[tuple[str, str], str]:
    """The verdict of each (contender, figure) both points measured, as kerasbench/diff.py judges it: one
    empirical-Bayes prior fitted over every comparison of the pair, then each figure's test."""
    keys = [key for key in head if key[0] in contenders and key in base]
    prior = judge.priors((key[1], selection) for key in keys for selection in (base[key], head[key]))
    return {key: judge.test_figure(base[key], head[key], key[1], prior, factor=factor).mark for key in keys}


def _machine(prints: dict[str, set[str]]) -> str:
    return "; ".join(f"{key}: {' / '.join(sorted(values))}" for key, values in sorted(prints.items()))


def series(repo: Path, branch: str = "HEAD", figures=FIGURES, factor: float = stats.FACTOR,
           with_experiments: bool = False) -> Series:
    objects = Objects(repo)
    try:
        return _series(repo, branch, figures, factor, with_experiments, objects)
    finally:
        objects.close()


def _series(repo, branch, figures, factor, with_experiments, objects) -> Series:
    loaded, machines, skipped, kept = {}, {}, [], []
    for point in points(repo, branch, objects, with_experiments):
        tree = Revision(repo, point.sha, point.label, objects)
        try:
            runs, frame = samples.load(tree)
        except ResultsError as err:
            skipped.append(f"{point.label}: {err}")
            continue
        if not runs:
            continue
        frame = frame[frame["figure"].isin(figures)]
        loaded[point.label] = (runs, dict(tuple(frame.groupby(["framework", "figure"], sort=False))))
        for fw, prints in diff.fingerprints(tree, runs).items():
            machines[(point.label, fw)] = _machine(prints)
        kept.append(point)
    reference = {fw: Counter(m for (_, f), m in machines.items() if f == fw).most_common(1)[0][0]
                 for fw in {f for _, f in machines}}
    rows, previous = [], {}   # previous: (contender, machine) -> the last point's label on that machine
    for point in kept:
        runs, groups = loaded[point.label]
        contenders = list(dict.fromkeys(r.framework for r in runs))
        before = {fw: previous.get((fw, machines.get((point.label, fw), ""))) for fw in contenders}
        marks = {}
        for base in {b for b in before.values() if b}:   # one comparison per earlier point, as compare makes it
            marks |= {(base, *key): mark for key, mark in
                      compare(loaded[base][1], groups, [fw for fw in contenders if before[fw] == base], factor).items()}
        for fw in contenders:
            machine = machines.get((point.label, fw), "")
            for figure in figures:
                summary = stats.summarize(groups[(fw, figure)]["value"]) if (fw, figure) in groups else None
                if summary is None or summary.n == 0:
                    continue
                mark = marks.get((before[fw], fw, figure), "")
                rows.append({"label": point.label, "sha": point.sha, "subject": point.subject, "contender": fw,
                             "figure": figure, "median": summary.median, "ci_low": summary.ci_low,
                             "ci_high": summary.ci_high, "n": summary.n, "mark": mark,
                             "compared_with": before[fw] or "", "step": mark in STEPS,
                             "comparable": machine == reference[fw]})
            previous[(fw, machine)] = point.label
    return Series(kept, pd.DataFrame(rows, columns=["label", "sha", "subject", "contender", "figure", "median",
                                                    "ci_low", "ci_high", "n", "mark", "compared_with", "step",
                                                    "comparable"]), machines, skipped)
