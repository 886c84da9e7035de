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
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time

import numpy as np

from kerasbench import fingerprint, guard, supervise
from kerasbench.files import atomic_dir
from kerasbench.params import load_or_exit


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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data")
    parser.add_argument("data_json")
    parser.add_argument("out_dir")
    parser.add_argument("--fingerprints", metavar="DIR",
                        help="check DIR/<framework>.json (kerasbench/fingerprint.py) before the first run")
    args = parser.parse_args(argv)
    guard.start([args.out_dir], "repeat")
    params = load_or_exit()   # ./params.yaml, as the train processes it runs read it
    if args.fingerprints and params.repeats > 1:
        fingerprint.require(args.fingerprints, list(params.frameworks))
    runs = schedule(list(params.frameworks), list(params.seeds), params.repeats, params.seed)
    env = supervise.child_env()  # each run supervises itself
    order = []
    with atomic_dir(args.out_dir) as tmp:
        for number, (k, framework, seed) in enumerate(runs, 1):
            print(f"repeat {number}/{len(runs)}: round {k}, {framework} seed {seed}; "
                  f"{remaining(order, len(runs) - number + 1)}", flush=True)
            stem = tmp / f"{framework}-{seed}-r{k}"
            started = time.perf_counter()
            with tempfile.TemporaryDirectory(prefix="kerasbench-repeat-") as scratch:
                model = f"{scratch}/model"
                for stage, outputs in (("train", [model, f"{stem}.json", f"{stem}.env.json", f"{stem}.csv"]),
                                       ("evaluate", [model, f"{stem}.eval.json", f"{stem}.eval.env.json", "-", "-",
                                                     f"{stem}.inference.csv"])):
                    done = subprocess.run([sys.executable, "-m", f"stages.{stage}", framework, str(seed), args.data,
                                           args.data_json, *outputs], env=env)
                    if done.returncode:
                        sys.exit(f"error: repeat: round {k} of {framework} seed {seed} failed in {stage} "
                                 f"(exit {done.returncode}); nothing written")
            order.append({"round": k, "framework": framework, "seed": seed,
                          "process_s": round(time.perf_counter() - started, 3)})
        (tmp / "order.json").write_text(json.dumps({"repeats": params.repeats, "runs": order}, indent=2) + "\n")
    print(f"repeat: {len(runs)} run(s) in {max(params.repeats - 1, 0)} round(s) written to {args.out_dir}")


if __name__ == "__main__":
    guard.run(main)
