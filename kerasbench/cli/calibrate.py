"""Calibrate the verdicts on real processes of this machine: resampled A/A and A/B comparisons.

    kerasbench calibrate record [--processes 30] [--epochs 6] [--out results/pool/DATE]
    kerasbench calibrate resample POOL [--sizes 2 3 5] [--ratios 1.05 1.10 1.5 4] [--trials 300]
                                        [--processes N] [--out FILE.md]

`record` trains a pool of fresh processes (kerasbench/cli/spread.py: torch_native, keras3_torch and
tf_keras, pinned to one CPU each, on a small synthetic set prepared beside it, interleaved in a
seeded order) into a results tree. `resample` draws, for each trial, n distinct processes a side
of every contender from the pool (so base and head are identical configurations: A/A), optionally
makes the head's epochs `ratio` times slower (A/B: epoch times x ratio, throughput / ratio),
and judges steady throughput and first epoch of each contender the way `kerasbench compare` does
(kerasbench/verdict.py, the prior fitted over every figure of the three contenders), beside the
rule kerasbench used before (a t-test on log process medians, or a Mann–Whitney U test for one
sample per process, p < 0.002, and the ratio of medians beyond the factor). It prints, per rule,
size and ratio, the share of each verdict: in A/A any '+' or '-' is a false positive; in A/B the
power is the share of '+' (the head is slower).
"""
from __future__ import annotations

import math
import sys
import warnings
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import special
from scipy import stats as sps

from kerasbench import cli, judge, samples, stats
from kerasbench.results import Directory
from kerasbench.samples import FIGURES

ROOT = cli.checkout()
CONTENDERS = ("torch_native", "keras3_torch", "tf_keras")
INTEREST = ("steady_images_per_s", "first_epoch_s")
TIMES = ("first_epoch_s", "steady_epoch_s", "fit_s", "steady_fit_s", "one_off_s")   # scaled by the ratio
RATES = ("steady_images_per_s",)                                                       # divided by it


# ---------------------------------------------------------------- the rule before this one

def old_mark(base: pd.DataFrame, head: pd.DataFrame, better: str, factor: float, p: float = 0.002) -> str:
    """kerasbench's rule until 2026-12: t-test on log process medians (clustered samples) or Mann–Whitney U."""
    x, y = base["value"].dropna(), head["value"].dropna()
    ratio = y.median() / x.median()
    clustered = base.groupby(samples.PROCESS).size().max() > 1
    if clustered:
        mx, my = (s.dropna(subset=["value"]).groupby(samples.PROCESS)["value"].median().to_numpy()
                  for s in (base, head))
        if min(mx.size, my.size) < 2:
            return stats.UNDECIDED
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            pv = float(sps.ttest_ind(np.log(mx), np.log(my)).pvalue)
        significant = pv < p
    elif 2.0 / special.comb(x.size + y.size, x.size, exact=True) < p:
        significant = float(sps.mannwhitneyu(x, y, alternative="two-sided").pvalue) < p
    else:
        significant = False
    gain = stats.improvement(ratio, better)
    if significant and gain < 1 / factor:
        return stats.WORSE
    if significant and gain > factor:
        return stats.BETTER
    return "~ (old)"


# ---------------------------------------------------------------- resampling

def pool(folder: Path, limit: int | None = None) -> dict[str, list[samples.Run]]:
    runs, _ = samples.load(Directory(folder))
    found = {fw: [r for r in runs if r.framework == fw] for fw in dict.fromkeys(r.framework for r in runs)}
    return {fw: own[:limit] for fw, own in found.items()}


def side(runs: list[samples.Run], picks: np.ndarray, ratio: float = 1.0) -> pd.DataFrame:
    """The samples of the picked processes (relabelled 0..n-1), the epochs made `ratio` times slower."""
    frame = samples.table([replace(runs[i], repeat=k) for k, i in enumerate(picks)])
    if ratio != 1.0:
        frame.loc[frame["figure"].isin(TIMES), "value"] *= ratio
        frame.loc[frame["figure"].isin(RATES), "value"] /= ratio
    return frame


def trial(found: dict[str, list[samples.Run]], n: int, ratio: float, factor: float,
          rng: np.random.Generator) -> list[dict]:
    """One comparison: n processes a side of every contender, drawn without replacement."""
    base, head = [], []
    for runs in found.values():
        picks = rng.choice(len(runs), 2 * n, replace=False)
        base.append(side(runs, picks[:n]))
        head.append(side(runs, picks[n:], ratio))
    base_frame, head_frame = pd.concat(base), pd.concat(head)
    priors = judge.priors((key, samples.select(f, fw, key)) for fw in found for key in FIGURES
                            for f in (base_frame, head_frame))
    rows = []
    for fw in found:
        for key in INTEREST:
            b, h = samples.select(base_frame, fw, key), samples.select(head_frame, fw, key)
            new = judge.test_figure(b, h, key, priors, factor=factor)
            rows.append({"contender": fw, "figure": key, "new": new.mark, "mde": new.mde,
                         "old": old_mark(b, h, FIGURES[key].better, factor)})
    return rows


def resample(found: dict[str, list[samples.Run]], sizes, ratios, trials: int, factor: float,
             seed: int = 0) -> pd.DataFrame:
    rows = []
    for n in sizes:
        for ratio in (1.0, *ratios):
            rng = np.random.default_rng([seed, n, int(ratio * 1000)])
            for t in range(trials):
                rows += [{"size": n, "ratio": ratio, "trial": t, **row} for row in trial(found, n, ratio, factor, rng)]
    return pd.DataFrame(rows)


def rates(frame: pd.DataFrame) -> pd.DataFrame:
    """Per size and ratio: the share of each verdict under each rule, and the median smallest detectable change."""
    out = []
    for (n, ratio), group in frame.groupby(["size", "ratio"]):
        row = {"processes a side": n, "head / base": f"{ratio:g}" if ratio != 1 else "1 (A/A)"}
        for mark in ("+", "-", "=", "~", "?"):
            row[f"new {mark}"] = (group["new"] == mark).mean()
        row["new: median could-have-seen"] = group.loc[np.isfinite(group["mde"]), "mde"].median()
        row["old +"] = (group["old"] == "+").mean()
        row["old -"] = (group["old"] == "-").mean()
        any_new = group.groupby("trial")["new"].agg(lambda m: bool({"+", "-"} & set(m))).mean()
        any_old = group.groupby("trial")["old"].agg(lambda m: bool({"+", "-"} & set(m))).mean()
        row["trials with any +/- (new, old)"] = f"{any_new:.1%}, {any_old:.1%}"
        out.append(row)
    return pd.DataFrame(out)


def markdown(table: pd.DataFrame, trials: int, found: dict) -> str:
    shown = table.copy()
    for column in shown.columns:
        if column.startswith(("new ", "old ")) and column != "new: median could-have-seen":
            shown[column] = shown[column].map(lambda v: f"{v:.1%}")
    shown["new: median could-have-seen"] = shown["new: median could-have-seen"].map(
        lambda v: "—" if math.isnan(v) else f"{v:.2f}×")
    pools = ", ".join(f"{fw} {len(runs)}" for fw, runs in found.items())
    return (shown.to_markdown(index=False) + f"\n\n{trials} trials per row; each trial judges steady throughput "
            f"and first epoch of {len(found)} contenders ({len(found) * len(INTEREST)} comparisons), processes "
            f"drawn without replacement from the pool ({pools} processes). Shares are of comparisons; the last "
            "column counts trials with any `+` or `-` among them.\n")


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser("calibrate", __doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record", help="train the pool (kerasbench/cli/spread.py)")
    rec.add_argument("--processes", type=int, default=30)
    rec.add_argument("--epochs", type=int, default=6)
    rec.add_argument("--data", type=Path, required=True, help="a prepared .npz (beside its .json)")
    rec.add_argument("--out", type=Path, default=ROOT / "results" / "pool" / date.today().isoformat())
    res = sub.add_parser("resample", help="resample a recorded pool")
    res.add_argument("pool", type=Path, help="a results tree (the `pool` variant folder that record writes)")
    res.add_argument("--sizes", type=int, nargs="+", default=[2, 3, 5])
    res.add_argument("--ratios", type=float, nargs="+", default=[1.05, 1.10, 1.5, 4.0])
    res.add_argument("--trials", type=int, default=300)
    res.add_argument("--factor", type=float, default=stats.FACTOR)
    res.add_argument("--processes", type=int, help="use only the first N processes of each contender")
    res.add_argument("--out", type=Path, help="also write the table here (Markdown) and its rows beside it (CSV)")
    args = parser.parse_args(argv)
    if args.command == "record":
        from kerasbench.cli import spread
        spread.main(["pool:threads=1", "--frameworks", *CONTENDERS, "--processes", str(args.processes),
                     "--epochs", str(args.epochs), "--data", str(args.data), "--out", str(args.out)])
        return
    found = pool(args.pool, args.processes)
    if not found or min(len(r) for r in found.values()) < 2 * max(args.sizes):
        sys.exit(f"error: calibrate: {args.pool} needs {2 * max(args.sizes)} processes of each contender "
                 f"for {max(args.sizes)} a side")
    frame = resample(found, args.sizes, args.ratios, args.trials, args.factor)
    text = markdown(rates(frame), args.trials, found)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        frame.to_csv(args.out.with_suffix(".csv"), index=False)
    print(text)


if __name__ == "__main__":
    main()
