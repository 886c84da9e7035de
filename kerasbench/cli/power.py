"""How many training processes does it take, on this machine, to call a given difference significant?

    kerasbench power [--results DIR] [--factor 1.10] [--figure steady_images_per_s ...]
                            [--max-processes 12] [--trials 200] [--detect 0.95]

Reads the samples of a finished run (kerasbench/samples.py; run with `repeats` >= 2 so that the
spread between processes is in it), and for each contender and figure simulates comparisons:
two sides of n training processes each are drawn, whole processes at a time and with replacement,
from the contender's own processes (so the noise between processes and within one process is this
machine's), one side is made `factor` times worse, and kerasbench.stats tests them. It prints
the smallest n for which the difference is found (significant, in the right direction) in at least
`detect` of the trials, i.e. how many seeds x repeats per side a difference of that size needs.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from kerasbench import cli, stats, verdict
from kerasbench.results import Directory
from kerasbench.samples import FIGURES, PROCESS, load, select


def processes(frame: pd.DataFrame, framework: str, figure: str) -> list[np.ndarray]:
    """The samples of one contender and figure, one array per training process (seed x repeat)."""
    own = select(frame, framework, figure).dropna(subset=["value"])
    return [group["value"].to_numpy() for _, group in own.groupby(PROCESS)]


def draw(runs: list[np.ndarray], n: int, rng: np.random.Generator) -> tuple[np.ndarray, list[int]]:
    """n processes drawn with replacement: their samples, and which of the n draws each sample is from."""
    picked = [runs[i] for i in rng.integers(0, len(runs), n)]
    return np.concatenate(picked), [k for k, run in enumerate(picked) for _ in run]


def detection_rate(runs: list[np.ndarray], n: int, factor: float, better: str, trials: int,
                   rng: np.random.Generator) -> float:
    """Share of trials in which n processes against n processes made `factor` worse are told apart."""
    worse = factor if better == "lower" else 1.0 / factor
    found = 0
    for _ in range(trials):
        base, base_processes = draw(runs, n, rng)
        head, head_processes = draw(runs, n, rng)
        c = stats.compare(base, head * worse, better=better,
                          base_processes=base_processes, head_processes=head_processes)
        found += c.significant and stats.improvement(c.ratio, better) < 1
    return found / trials


def needed(runs: list[np.ndarray], factor: float, better: str, max_n: int, trials: int, detect: float,
           seed: int = 0) -> int | None:
    rng = np.random.default_rng(seed)
    for n in range(1, max_n + 1):
        if detection_rate(runs, n, factor, better, trials, rng) >= detect:
            return n
    return None


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser("power", __doc__)
    parser.add_argument("--results", type=Path, default=Path("."), help="folder holding metrics/ and plots/")
    parser.add_argument("--factor", type=float, default=1.10)
    parser.add_argument("--figure", action="append", choices=list(FIGURES),
                        help="default: steady_images_per_s and first_epoch_s")
    parser.add_argument("--max-processes", type=int, default=12)
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--detect", type=float, default=0.95)
    args = parser.parse_args(argv)
    runs, frame = load(Directory(args.results))
    figures = args.figure or ["steady_images_per_s", "first_epoch_s"]
    rows = []
    for framework in dict.fromkeys(r.framework for r in runs):
        for figure in figures:
            found = processes(frame, framework, figure)
            if len(found) < 2:
                continue
            n = needed(found, args.factor, FIGURES[figure].better, args.max_processes, args.trials, args.detect)
            spread = pd.Series([np.median(r) for r in found])
            rows.append({"contender": framework, "figure": FIGURES[figure].header,
                         "processes measured": len(found),
                         "samples per process": int(np.median([len(r) for r in found])),
                         "spread between processes (CV)": f"{spread.std() / spread.mean():.1%}",
                         f"processes per side for {args.factor:.2f}×": n or f"> {args.max_processes}"})
    if not rows:
        raise SystemExit("error: power: no contender has two or more training processes here; run with repeats >= 2")
    print(pd.DataFrame(rows).to_markdown(index=False))
    print(f"\nfound in >= {args.detect:.0%} of {args.trials} trials each (the {1 - verdict.ALPHA:.1%} interval of "
          "the ratio excludes 1 the right way: kerasbench/verdict.py, without the prior a whole comparison "
          "would add), drawing whole training processes with replacement from the ones measured")


if __name__ == "__main__":
    main()
