"""Two results trees (commits, experiments, the workspace) compared figure by figure.

For every contender and figure of kerasbench/samples.py: base median±err, head median±err (err is
half the width of the 99% confidence interval of the median), the ratio head/base with its interval
and a verdict from kerasbench/verdict.py: '+' worse or '-' better beyond the factor, '=' the same
within it, '~' different but small, '?' undecided (with the smallest change it could have seen),
'!' newly failing (values at base, none at head), 'x' not comparable. The empirical-Bayes prior
of the spread is fitted over every comparable contender and figure of the two sides.

A contender is not comparable when its machine fingerprint differs between the two sides: CPU model,
device, GPU model and driver, the lock file's hash, `deterministic` and the effective `jit_compile`
(read from metrics/train/<c>-<s>.env.json). A value missing on one side counts as differing.
`force` compares anyway and keeps the differences as notes.

Disturbed processes (kerasbench/interference.py: other processes or the hypervisor took more than a
stated share of the CPUs while the process was timed): with `disturbed="mark"` (the default) a row
whose samples include one is marked `*` and counted; "drop" leaves their samples out before testing
(and says how many); "refuse" stops with one line naming them.

Rounds: a side may be several trees, results of one configuration run at different times (e.g. base,
head, head, base). Their samples are pooled and the round becomes the unit of replication
(kerasbench/samples.py `units`), so that a drift of the machine between sessions lands on both sides
and shows up as spread, not as a change. The rounds
of one side must have the same params.yaml and fingerprints.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

import pandas as pd

from kerasbench import judge, paths, records, samples, stats, verdict
from kerasbench.results import ResultsError, Tree, get, read_json, read_params

CHANGED = (stats.WORSE, stats.BETTER, stats.FAILING, stats.INCOMPARABLE)
DISTURBED = ("mark", "drop", "refuse")


def fingerprint(env: dict) -> dict[str, str]:
    """What must match for two results to be compared: machine, lock and settings that change speed."""
    gpus = "; ".join(f"{g.get('name')} (driver {g.get('driver')})" for g in env.get("gpus") or []) or "none"
    values = {"CPU model": get(env, "cpu.model"), "device": env.get("device"), "GPU model and driver": gpus,
              "lock file SHA-256": env.get("lock_sha256"), "deterministic": env.get("deterministic"),
              "jit_compile (effective)": get(env, "jit_compile.effective"),
              "compute dtype": get(env, "precision.compute_dtype"), "compile cache": get(env, "compile_cache.mode")}
    return {key: "unknown" if value is None else str(value) for key, value in values.items()}


def fingerprints(tree: Tree, runs: list[samples.Run]) -> dict[str, dict[str, set[str]]]:
    """Per contender, every value each fingerprint key takes over its seeds' environment files."""
    out: dict[str, dict[str, set[str]]] = {}
    for run in runs:
        if run.repeat:
            continue
        env = read_json(tree, paths.run_files(run.framework, run.seed)[paths.ENV]) or {}
        for key, value in fingerprint(env).items():
            out.setdefault(run.framework, {}).setdefault(key, set()).add(value)
    return out


def _short(values: set[str]) -> str:
    return " / ".join(v[:12] + "…" if len(v) > 16 and re.fullmatch(r"[0-9a-f]+", v) else v for v in sorted(values))


def differences(base: dict[str, set[str]], head: dict[str, set[str]]) -> list[str]:
    return [f"{key}: {_short(base.get(key, {'unknown'}))} → {_short(head.get(key, {'unknown'}))}"
            for key in dict.fromkeys([*base, *head]) if base.get(key) != head.get(key)]


@dataclass(frozen=True)
class Side:
    """One side of a comparison, its rounds pooled."""
    label: str
    rounds: int
    runs: list[samples.Run]
    frame: pd.DataFrame
    fingerprints: dict[str, dict[str, set[str]]]
    params: dict


def load_side(trees: Sequence[Tree], load: Callable[..., tuple] = samples.load) -> Side:
    """Every round's runs and samples (labelled with the round; `load` reads one round); raises ResultsError
    when a round has no results or the rounds are not one configuration."""
    runs: list[samples.Run] = []
    frames, prints, first, seen = [], {}, read_params(trees[0]), {}
    for number, tree in enumerate(trees):
        own_runs, frame = load(tree, round_no=number)
        if not own_runs:
            raise ResultsError(f"no results at {tree.label} (no metrics/train/<contender>-<seed>.json "
                               "for the contenders and seeds in its params.yaml)")
        own_prints = fingerprints(tree, own_runs)
        if number:
            params = read_params(tree)
            changed = [key for key in dict.fromkeys([*first, *params]) if first.get(key) != params.get(key)]
            if changed:
                raise ResultsError(f"rounds {trees[0].label} and {tree.label} are not one configuration: "
                                   f"params.yaml differs in {', '.join(changed)}")
            for fw in [fw for fw in prints if fw in own_prints]:   # a contender missing from a round adds nothing
                differ = differences(prints[fw], own_prints[fw])
                if differ:
                    raise ResultsError(f"rounds {trees[0].label} and {tree.label} ran on different machines or "
                                       f"settings ({fw}: {'; '.join(differ)})")
        values = tuple(frame["value"].fillna(-1.0))   # no two real runs time alike to the last digit
        if values in seen:
            raise ResultsError(f"rounds {seen[values]} and {tree.label} hold the same samples: the second did not "
                               "run the pipeline again (dvc exp run --force reruns unchanged stages)")
        seen[values] = tree.label
        runs += own_runs
        frames.append(frame)
        prints = {**prints, **own_prints}
    return Side(" + ".join(t.label for t in trees), len(trees), runs, pd.concat(frames, ignore_index=True),
                prints, first)


@dataclass(frozen=True)
class Row:
    framework: str
    figure: str
    comparison: stats.Comparison
    disturbed: tuple[int, int] = (0, 0)   # processes among the samples that were disturbed: base, head

    @property
    def mark(self) -> str:
        return self.comparison.mark + ("*" if any(self.disturbed) else "")


@dataclass
class Outcome:
    base_label: str
    head_label: str
    factor: float
    base_rounds: int = 1
    head_rounds: int = 1
    rows: list[Row] = field(default_factory=list)
    notes: dict[str, list[str]] = field(default_factory=dict)   # contender -> fingerprint differences
    forced: bool = False
    dropped: list[str] = field(default_factory=list)            # contenders removed from head's params
    disturbed: dict[str, list[str]] = field(default_factory=dict)   # side -> disturbed processes (names)
    disturbed_mode: str = "mark"

    alpha: float = verdict.ALPHA
    sequential: str = ""   # how a run that added rounds until it decided spent alpha (kerasbench/adaptive.py)

    @property
    def regressions(self) -> list[Row]:
        return [r for r in self.rows if r.comparison.regression]

    @property
    def undecided(self) -> list[Row]:
        return [r for r in self.rows if r.comparison.mark == stats.UNDECIDED]


def disturbed_processes(side: Side) -> list[str]:
    """'keras3_torch-0-r1 (training, round 0): other processes used 38% ...' for each disturbed process."""
    out = []
    for run in side.runs:
        for source, role in (("train", "training"), ("eval", "evaluation")):
            why = samples.disturbance(run, source)
            if why:
                out.append(f"{run.name} ({role}{f', round {run.round}' if side.rounds > 1 else ''}): {why}")
    return out


def _count(selection: pd.DataFrame) -> int:
    return len(selection.loc[selection["disturbed"], samples.PROCESS].drop_duplicates())


def diff(base: Sequence[Tree], head: Sequence[Tree], factor: float = stats.FACTOR,
         metric: str | None = None, force: bool = False, disturbed: str = "mark",
         alpha: float = verdict.ALPHA, load: Callable[..., tuple] = samples.load) -> Outcome:
    """Every contender x figure of both sides, each given as its rounds (usually one tree); raises
    ResultsError when a side has no results, or (disturbed="refuse") when a process was disturbed."""
    try:
        pattern = re.compile(metric) if metric else None
    except re.error as err:
        raise ResultsError(f"--metric: not a regular expression ({err})") from None
    if not (math.isfinite(factor) and factor > 1):
        raise ResultsError(f"--factor must be a finite number above 1 (the smallest change worth a mark), got {factor}")
    if disturbed not in DISTURBED:
        raise ResultsError(f"--disturbed must be one of {', '.join(DISTURBED)}, got {disturbed!r}")
    old, new = load_side(base, load), load_side(head, load)
    noisy = {"base": disturbed_processes(old), "head": disturbed_processes(new)}
    if disturbed == "refuse" and (noisy["base"] or noisy["head"]):
        raise ResultsError("disturbed processes (--disturbed refuse): " + "; ".join(
            f"{side}: {', '.join(names)}" for side, names in noisy.items() if names))
    if disturbed == "drop":
        old = replace(old, frame=old.frame[~old.frame["disturbed"]])
        new = replace(new, frame=new.frame[~new.frame["disturbed"]])
    planned_at_head = records.planned(new.params)[0]
    frameworks = list(dict.fromkeys([r.framework for r in new.runs] + [r.framework for r in old.runs]))
    outcome = Outcome(old.label, new.label, factor, old.rounds, new.rounds, forced=force,
                      disturbed={k: v for k, v in noisy.items() if v}, disturbed_mode=disturbed, alpha=alpha)
    outcome.dropped = [fw for fw in frameworks if planned_at_head is not None and fw not in planned_at_head]
    cases = []
    for fw in frameworks:
        if fw in outcome.dropped:
            continue
        differ = (differences(old.fingerprints[fw], new.fingerprints[fw])
                  if fw in old.fingerprints and fw in new.fingerprints else [])
        if differ:
            outcome.notes[fw] = differ
        head_has_runs = any(r.framework == fw for r in new.runs)
        for key, spec in samples.FIGURES.items():
            if pattern and not (pattern.search(key) or pattern.search(spec.header)):
                continue
            b, h = samples.select(old.frame, fw, key), samples.select(new.frame, fw, key)
            if b["value"].isna().all() and h["value"].isna().all():
                continue   # measured on neither side (e.g. GPU memory on a CPU)
            not_recorded = h.empty and head_has_runs   # the head's files no longer have this figure
            cases.append((fw, key, b, h, (force or not differ) and not not_recorded))
    priors = judge.priors((key, selection) for fw, key, b, h, comparable in cases if comparable
                            for selection in (b, h))
    for fw, key, b, h, comparable in cases:
        result = judge.test_figure(b, h, key, priors, factor=factor, comparable=comparable, alpha=alpha)
        outcome.rows.append(Row(fw, key, result, (_count(b), _count(h))))
    return outcome
