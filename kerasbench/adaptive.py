"""Comparisons that go on until they decide: fresh processes of both sides, round after round, within a budget.

`until_decided` checks out both commits (kerasbench/sides.py) and runs rounds: each trains every
contender x seed of each side once, in fresh processes, the sides in alternation (base, head;
head, base; base, head; ...) so that a drift of the machine falls on both. After every round it
looks: kerasbench/diff.py compares all rounds so far, every round a process label. It stops when
every comparison of interest (default: steady throughput and first epoch of every contender) is
`+`, `-`, `=` or `~`, or when the next round would not fit in the budget.

Looking after every round and stopping at the first decision would inflate false positives if
every look used the same alpha. Look k uses alpha_k = alpha * 6 / (pi^2 k^2) instead (the alphas
sum to alpha): by the union bound every look's intervals hold at once with probability 1 - alpha,
an anytime-valid confidence sequence, so the verdict stays valid however and whenever the run stops.

Steady epochs per process (Kalibera & Jones): after each look, for each contender, from the fixed
cost of a process (its wall time less its steady epochs) and the two variance components of its
steady epochs, sqrt((fixed / epoch) x (within / between)) epochs buy the most information per
second; the next rounds train with the largest of these over the contenders (at least 2 steady
epochs). Figures that depend on the epoch count (whole-fit time, fit at steady pace, one-off
cost) are then left out of the comparison.

State (resumable): FOLDER/state.json, FOLDER/<base|head>/r<k>/ (one results tree per finished
round, written whole or not at all), FOLDER/worktrees/. An interrupted run keeps its finished
rounds; the same command resumes, and the budget counts the time already spent.
"""
from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import yaml

from kerasbench import diff, repetition, samples, stats, verdict
from kerasbench import duration as durations
from kerasbench.files import atomic_dir, write_text
from kerasbench.interest import INTEREST
from kerasbench.results import Directory, ResultsError, Revision
from kerasbench.sides import Side, prepare, remove, set_epochs, side_of, train_once

EPOCH_DEPENDENT = ("fit_s", "steady_fit_s", "one_off_s")
PER_PROCESS_GUESS_S = 20.0   # a process's cost when no committed result says better
MAX_EPOCHS = 50



def parse_duration(value: str) -> float:
    """--budget's seconds; ResultsError (one line) when it is not a duration."""
    try:
        return durations.parse(value)
    except ValueError as err:
        raise ResultsError(f"--budget: {err}") from None


duration = durations.text


@dataclass
class State:
    base: str
    head: str
    rounds: list[dict] = field(default_factory=list)   # {"round", "side", "epochs", "seconds": {run: s}}

    @property
    def spent(self) -> float:
        return sum(sum(r["seconds"].values()) for r in self.rounds)

    def done(self, side: str) -> list[int]:
        return sorted(r["round"] for r in self.rounds if r["side"] == side)

    def save(self, folder: Path) -> None:
        write_text(folder / "state.json", json.dumps(self.__dict__, indent=2) + "\n")


def load_state(folder: Path, base: Revision, head: Revision) -> State:
    path = folder / "state.json"
    if not path.is_file():
        return State(base.sha, head.sha)
    doc = json.loads(path.read_text())
    if (doc.get("base"), doc.get("head")) != (base.sha, head.sha):
        raise ResultsError(f"{folder} holds rounds of {doc.get('base', '?')[:7]} against {doc.get('head', '?')[:7]}, "
                           f"not {base.sha[:7]} against {head.sha[:7]}: give another --state or remove it")
    state = State(doc["base"], doc["head"], doc.get("rounds", []))
    kept = {(r["side"], r["round"]) for r in state.rounds}
    for side in ("base", "head"):   # a round dir without its state entry (or the other way) does not count
        state.rounds = [r for r in state.rounds if r["side"] != side or (folder / side / f"r{r['round']}").is_dir()]
        for extra in (folder / side).glob("r*"):
            if extra.is_dir() and (side, int(extra.name[1:])) not in kept:
                raise ResultsError(f"{extra}: a round the state does not list; remove it to resume")
    return state


def order(k: int) -> tuple[str, str]:
    """Round k's sides: base first in odd rounds, head first in even ones."""
    return ("base", "head") if k % 2 else ("head", "base")


def run_round(side: Side, k: int, folder: Path, epochs: int | None, log: Callable[[str], None]) -> dict:
    """Every contender x seed of the side once; the round's tree appears whole, or not at all."""
    set_epochs(side, epochs)
    seconds = {}
    with atomic_dir(folder / side.name / f"r{k}") as tmp:
        write_text(tmp / "params.yaml", yaml.safe_dump(side.params, sort_keys=False))
        for fw, seed in side.runs:
            seconds[f"{fw}-{seed}"] = round(train_once(side, fw, seed, tmp), 3)
            log(f"round {k}, {side.name}: {fw} seed {seed} in {seconds[f'{fw}-{seed}']:.1f} s")
    return {"round": k, "side": side.name, "epochs": epochs or side.params.get("train", {}).get("epochs"),
            "seconds": seconds}


def figures(state: State, metric: str | None) -> str:
    """The anchored regex of the figures compared: all training figures (those of --metric), less the
    epoch-dependent ones when the rounds trained for different epoch counts."""
    varied = len({r["epochs"] for r in state.rounds}) > 1
    keys = [k for k, f in samples.FIGURES.items() if f.source == "train"
            and not (varied and k in EPOCH_DEPENDENT)
            and (metric is None or re.search(metric, k) or re.search(metric, f.header))]
    return "^(" + "|".join(map(re.escape, keys)) + ")$" if keys else "^$"


def trees(folder: Path, side: str, rounds: int) -> list[Directory]:
    return [Directory(folder / side / f"r{k}", f"{side} round {k}") for k in range(1, rounds + 1)]


class Finished:
    """Each finished round's runs and samples, read once: a round is written whole and never changes, and
    every look reads all rounds so far (without this, reading grows with the square of the rounds)."""

    def __init__(self) -> None:
        self.read: dict[tuple[Path, int], tuple] = {}

    def __call__(self, tree: Directory, round_no: int = 0) -> tuple:
        key = (tree.root, round_no)
        if key not in self.read:
            self.read[key] = samples.load(tree, round_no)
        return self.read[key]


def look(folder: Path, state: State, rounds: int, factor: float, metric: str | None,
         load: Callable[..., tuple] = samples.load) -> diff.Outcome:
    """Look `rounds` (1, 2, ...): the complete rounds compared, at that look's alpha."""
    return diff.diff(trees(folder, "base", rounds), trees(folder, "head", rounds), factor,
                     metric=figures(state, metric), force=True, alpha=verdict.look_alpha(verdict.ALPHA, rounds),
                     load=load)


def open_rows(outcome: diff.Outcome, interest: tuple[str, ...]) -> list[diff.Row]:
    """The comparisons of interest not yet decided."""
    final = (*stats.DECIDED, stats.FAILING, stats.INCOMPARABLE)
    return [r for r in outcome.rows if r.figure in interest and r.comparison.mark not in final]


def best_epochs(folder: Path, state: State, rounds: int, current: int,
                load: Callable[..., tuple] = samples.load) -> int:
    """Kalibera & Jones' epochs per process (module docstring), from both sides' processes so far."""
    frames = [diff.load_side(trees(folder, side, rounds), load).frame for side in ("base", "head")]
    wanted = 2
    for fw in dict.fromkeys(frames[0]["framework"]):
        steady = [samples.select(f, fw, "steady_epoch_s") for f in frames]
        labels = [(side, *p) for side, s in zip("bh", steady) for p in samples.processes(s)]
        values = np.concatenate([s["value"].to_numpy() for s in steady])
        c = repetition.components(verdict.cell(values, labels))
        epoch = float(np.nanmedian(values)) if values.size else math.nan
        walls = [s for r in state.rounds for run, s in r["seconds"].items() if run.rsplit("-", 1)[0] == fw]
        fixed = float(np.median(walls)) - (current - 1) * epoch if walls else math.nan
        wanted = max(wanted, repetition.optimal_per_process(fixed, epoch, c.between, c.within, MAX_EPOCHS - 1))
    return wanted + 1


def estimate(side: Side) -> float:
    """Seconds one round of a side takes, from its committed results (or a guess per process)."""
    runs, _ = samples.load(side.revision)
    costs = {(r.framework, r.seed): sum(s or 0.0 for s in (r.train.time.import_s, r.train.time.build_s,
                                                           r.train.time.fit_s)) + 2.0
             for r in runs if r.repeat == 0}
    return sum(costs.get(run, PER_PROCESS_GUESS_S) for run in side.runs)


def until_decided(base: Revision, head: Revision, folder: Path, budget_s: float, factor: float = stats.FACTOR,
                  metric: str | None = None, interest: tuple[str, ...] = INTEREST, max_rounds: int = 100,
                  log: Callable[[str], None] = print) -> diff.Outcome:
    """Rounds until every comparison of interest decides or the budget is spent (module docstring)."""
    folder.mkdir(parents=True, exist_ok=True)
    state = load_state(folder, base, head)
    sides = {"base": side_of("base", base, folder), "head": side_of("head", head, folder)}
    one_round = sum(estimate(s) for s in sides.values())
    if not state.rounds and one_round > budget_s:
        raise ResultsError(f"--budget {duration(budget_s)} is too small for one round (about {duration(one_round)}: "
                           f"one process of each contender on both sides)")
    prepared: set[str] = set()   # checked out and its data made only when a round runs in this session
    finished = Finished()
    started, outcome, reason = time.monotonic(), None, ""
    epochs = next((r["epochs"] for r in reversed(state.rounds)), None)
    while True:
        rounds = min(len(state.done("base")), len(state.done("head")))
        if rounds:
            outcome = look(folder, state, rounds, factor, metric, finished)
            pending = open_rows(outcome, interest)
            if not pending:
                reason = f"every comparison of interest decided after {rounds} round(s)"
                break
            log(f"look {rounds}: undecided " + ", ".join(f"{r.framework} {samples.FIGURES[r.figure].label} "
                                                       f"({verdict.seen(r.comparison.mde)})" for r in pending))
            per_round = state.spent / rounds
            committed = {s.params.get("train", {}).get("epochs") for s in sides.values()}
            if rounds >= 2 and len(committed) == 1 and None not in committed:   # the sides agree on epochs
                epochs = best_epochs(folder, state, rounds, epochs or committed.pop(), finished)
        else:
            per_round = one_round
        if state.spent + per_round > budget_s:
            reason = f"the budget ({duration(budget_s)}) would not hold another round"
            break
        if rounds >= max_rounds:
            reason = f"{max_rounds} rounds run"
            break
        k = rounds + 1
        for name in order(k):
            if k not in state.done(name):
                if name not in prepared:
                    prepare(sides[name], log)
                    prepared.add(name)
                state.rounds.append(run_round(sides[name], k, folder, epochs, log))
                state.save(folder)
    remove(folder, base.repo)   # the worktrees; the rounds stay, to resume with a larger budget
    if outcome is None:
        raise ResultsError(f"no round finished: {reason}")
    outcome.base_label, outcome.head_label = (f"{r.label}, fresh ×{rounds}" for r in (base, head))
    alpha_k = verdict.look_alpha(verdict.ALPHA, rounds)
    epochs_used = sorted({r["epochs"] for r in state.rounds if r["epochs"]})
    outcome.sequential = (
        f"Until decided: {rounds} round(s), {rounds} fresh training process(es) of each contender a side, "
        f"alternating base, head / head, base; {duration(state.spent)} of processes "
        f"({duration(time.monotonic() - started)} this session); stopped: {reason}. Epochs per process: "
        f"{', '.join(map(str, epochs_used))} (Kalibera & Jones' optimum from the third round on). Intervals at "
        f"look {rounds}: alpha {verdict.ALPHA:g} x 6/(pi^2 k^2) = {alpha_k:.2g}, a union-bound confidence "
        "sequence over the looks, valid at whichever look the run stopped.")
    return outcome

