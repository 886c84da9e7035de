"""Stage repeat: the timing reruns (`repeats` > 1), interleaved across contenders, each a fresh process.

    python -m stages.repeat DATA_NPZ DATA_JSON OUT_DIR [--fingerprints DIR]

`train@<c>-<s>` is round 0: it trains the model that `evaluate` scores. This stage runs rounds
1..repeats-1. Each round trains every contender x seed once more, in an order drawn from the
top-level `seed` and the round number (round-robin, shuffled within the round), so that whatever
the machine does over time (thermal throttling, a noisy neighbour, a cache warming up) falls on
every contender alike rather than on whichever ran last. Each run is what round 0 is:
`stages/train.py` in a fresh process (supervised, device-checked, measured the same way), then
`stages/evaluate.py` in another on the model it trained, so that inference, like steady training,
has one sample per process; the model is thrown away afterwards.

OUT_DIR holds, for round k, `<c>-<s>-rk.json` (numbers), `<c>-<s>-rk.env.json` and
`<c>-<s>-rk.csv` (per-epoch history) from training, `<c>-<s>-rk.eval.json`,
`<c>-<s>-rk.eval.env.json` and `<c>-<s>-rk.inference.csv` (every timed pass) from evaluation, plus
`order.json`, the order the runs took. With `repeats: 1` it holds only order.json. OUT_DIR is
written whole or not at all.

With `repeats: auto` it adds rounds until every comparison of interest decides (each Keras
contender against its baseline, each pair of neighbours in the speed ranking; steady throughput
and first epoch; kerasbench/interest.py), judged on its own rounds after each one at that look's
alpha (alpha x 6/(pi^2 k^2): optional stopping keeps the verdicts valid), or until the next round
would not fit in `adaptive.budget`, or `adaptive.max_repeats` processes. order.json says how many
processes each contender got, why it stopped, and what was still undecided. The epochs per
process stay those params.yaml pins (they change results); the report gives Kalibera & Jones'
optimum for `train.epochs`.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time

import numpy as np

from kerasbench import fingerprint, guard, interest, paths, plan, records, samples, supervise, verdict
from kerasbench.duration import text as duration
from kerasbench.files import atomic_dir
from kerasbench.params import load_or_exit
from stages import evaluate, train

# The params this stage reads itself, and with the train and evaluate processes it runs (each reads its
# own): together its `params:` in dvc.yaml (tests/test_lint.py).
OWN = ("seed", "frameworks", "seeds", "repeats", "adaptive")
PARAMS = (*OWN, *train.PARAMS, *evaluate.PARAMS)


def schedule(frameworks: list[str], seeds: list[int], repeats: int, seed: int) -> list[tuple[int, str, int]]:
    """(round, framework, seed) for rounds 1..repeats-1; within a round the order is a seeded shuffle."""
    runs = []
    for k in range(1, repeats):
        pairs = [(fw, s) for fw in frameworks for s in seeds]
        order = np.random.default_rng([seed, k]).permutation(len(pairs))
        runs += [(k, *pairs[i]) for i in order]
    return runs


def remaining(done: list[dict], left: int) -> str:
    """'12 runs left (this one included), about 4 min' from the runs so far (their mean time)."""
    text = f"{left} run{'s' if left != 1 else ''} left (this one included)"
    if not done:
        return text
    seconds = left * sum(r["process_s"] for r in done) / len(done)
    minutes, rest = divmod(round(seconds), 60)
    return f"{text}, about {f'{minutes} min {rest:02d} s' if minutes else f'{rest} s'}"


class Rounds:
    """The rounds written so far (a results tree whose metrics/repeats/ is the stage's temporary folder)."""

    def __init__(self, folder):
        self.folder = folder

    def read_text(self, path: str) -> str | None:
        prefix = paths.REPEATS + "/"
        target = self.folder / path[len(prefix):] if path.startswith(prefix) else None
        return target.read_text() if target is not None and target.is_file() else None

    def names(self, folder: str) -> list[str]:
        return sorted(p.name for p in self.folder.iterdir()) if folder.rstrip("/") == paths.REPEATS else []


def look(tmp, frameworks: list[str], seeds: list[int], rounds: int, factor: float) -> list[str]:
    """After `rounds` rounds: the comparisons of interest still undecided (kerasbench/interest.py)."""
    tree = Rounds(tmp)
    runs = [records.read_run(tree, fw, seed, k) for fw in frameworks for seed in seeds for k in range(1, rounds + 1)]
    return interest.pending(samples.table([r for r in runs if r is not None]), frameworks, factor,
                            verdict.look_alpha(verdict.ALPHA, rounds))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data")
    parser.add_argument("data_json")
    parser.add_argument("out_dir")
    parser.add_argument("--fingerprints", metavar="DIR",
                        help="check DIR/<framework>.json (kerasbench/fingerprint.py) before the first run")
    args = parser.parse_args(argv)
    guard.start([args.out_dir], "repeat")
    params = plan.settings(load_or_exit(), "repeat", OWN)   # ./params.yaml, as the processes it runs read it
    repeats = params.adaptive.max_repeats if params.auto else params.repeats
    if args.fingerprints and repeats > 1:
        fingerprint.require(args.fingerprints, list(params.frameworks))
    frameworks, seeds = list(params.frameworks), list(params.seeds)
    runs = schedule(frameworks, seeds, repeats, params.seed)
    order, stopped, undecided, done_rounds = [], None, [], max(repeats - 1, 0)
    with atomic_dir(args.out_dir) as tmp:
        for number, (k, framework, seed) in enumerate(runs, 1):
            if params.auto and (number == 1 or runs[number - 2][0] != k) and k > 1:   # a round ends: look
                undecided = look(tmp, frameworks, seeds, k - 1, params.adaptive.factor)
                stopped = stop_reason(params.adaptive, order, undecided, k - 1)
                if stopped:
                    done_rounds = k - 1
                    break
                print(f"repeat: after round {k - 1}, undecided: {'; '.join(undecided)}", flush=True)
            print(f"repeat {number}/{len(runs)}: round {k}, {framework} seed {seed}; "
                  f"{remaining(order, len(runs) - number + 1)}", flush=True)
            order.append(run_once(args, str(tmp), k, framework, seed))
        else:
            if params.auto and runs:
                undecided = look(tmp, frameworks, seeds, repeats - 1, params.adaptive.factor)
                stopped = (f"{repeats} processes per contender and seed (adaptive.max_repeats)" if undecided else
                           f"every comparison of interest decided after {repeats - 1} round(s)")
        doc = {"repeats": done_rounds + 1, "runs": order}
        if params.auto:
            doc["auto"] = {"stopped": stopped, "undecided": undecided, "looks": done_rounds,
                           "budget": params.adaptive.budget, "factor": params.adaptive.factor}
        (tmp / paths.ORDER.rsplit("/", 1)[1]).write_text(json.dumps(doc, indent=2) + "\n")
    print(f"repeat: {len(order)} run(s) in {done_rounds} round(s) written to {args.out_dir}"
          + (f"; {stopped}" if stopped else ""))


def stop_reason(adaptive, order: list[dict], undecided: list[str], rounds: int) -> str | None:
    """Why adaptive rounds stop after `rounds` of them, or None to go on."""
    spent = sum(r["process_s"] for r in order)
    if not undecided:
        return f"every comparison of interest decided after {rounds} round(s)"
    if spent + spent / rounds > adaptive.budget_s:
        return f"the budget ({adaptive.budget}) would not hold another round ({duration(spent)} spent)"
    return None


def run_once(args, folder: str, k: int, framework: str, seed: int) -> dict:
    """Round k of one contender and seed: a fresh train process, then a fresh evaluate process on its model
    (thrown away after), each a stage of its own; their files go to `folder`."""
    files = paths.repeat_files(folder, framework, seed, k)
    env = supervise.child_env(**{guard.NESTED_VAR: "1"})  # each run supervises itself; the interrupt line is ours
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kerasbench-repeat-") as scratch:
        model = f"{scratch}/model"
        for stage, outputs in (("train", [model, files[paths.TRAIN], files[paths.ENV], files[paths.HISTORY]]),
                               ("evaluate", [model, files[paths.EVAL], files[paths.EVAL_ENV], "-", "-",
                                             files[paths.INFERENCE]])):
            done = subprocess.run([sys.executable, "-m", f"stages.{stage}", framework, str(seed), args.data,
                                   args.data_json, *outputs], env=env)
            if done.returncode == 130:   # interrupted: this stage says so, and writes nothing
                raise KeyboardInterrupt
            if done.returncode:
                sys.exit(f"error: repeat: round {k} of {framework} seed {seed} failed in {stage} "
                         f"(exit {done.returncode}); nothing written")
    return {"round": k, "framework": framework, "seed": seed, "process_s": round(time.perf_counter() - started, 3)}


if __name__ == "__main__":
    guard.run(main)
