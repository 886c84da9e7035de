"""Does the harness cost anything? The train stage's fit against a bare model.fit.

    kerasbench benchmark [--frameworks F ...] [--batch-sizes 32 256] [--epochs 4]
                                [--data data/prepared/cifar10.npz] [--out reports/benchmark]

For every Keras contender and batch size (the natives have no model.fit to compare with), three
fresh processes on the same data and settings:
the real train stage (timing callback, memory sampler) with EPOCHS epochs, and
kerasbench/cli/bare_fit.py (one model.fit, no callbacks, a wall clock around it) with EPOCHS and
with 1 epoch. Bare steady state is (fit(EPOCHS) - fit(1)) / (EPOCHS - 1), which cancels the
one-off costs; `ratio` is harness/bare steady-state images/s (target >= 0.97) and
`fit_ratio` bare/harness whole-fit time at the same epochs. Also first-epoch seconds and
peak RSS; writes benchmark.csv and .md to --out. Run it on an otherwise idle machine.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

from kerasbench import cli, paths
from kerasbench.files import write_text
from kerasbench.params import load_or_exit, read_yaml

ROOT = cli.checkout()
TARGET_RATIO = 0.97


def run(cmd: list[str], cwd: Path) -> tuple[float, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t = time.perf_counter()
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"error: {' '.join(cmd)} failed:\n{result.stderr[-2000:]}")
    return time.perf_counter() - t, result.stdout


def measure(framework: str, batch: int, epochs: int, seed: int, data: Path, work: Path, order: int) -> dict:
    params = read_yaml((ROOT / "params.yaml").read_text())  # as DVC reads it; PyYAML only writes
    params["train"].update(epochs=epochs, batch_size=batch)
    work.mkdir(parents=True, exist_ok=True)
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    commands = {
        "harness": [sys.executable, "-m", "stages.train", framework, str(seed), str(data),
                    str(data.with_suffix(".json")), "model", "metrics.json", "env.json", "history.csv"],
        "bare": [sys.executable, "-m", "kerasbench.cli.bare_fit", framework, str(data), str(epochs), str(batch),
                 str(seed)],
        "bare_1": [sys.executable, "-m", "kerasbench.cli.bare_fit", framework, str(data), "1", str(batch), str(seed)],
    }
    names = list(commands)
    names = names[order % 3:] + names[:order % 3]  # rotate the order from one configuration to the next
    runs = {name: run(commands[name], work) for name in names}
    harness = json.loads((work / "metrics.json").read_text())
    bare, bare_1 = (json.loads(runs[k][1].strip().splitlines()[-1]) for k in ("bare", "bare_1"))
    bare_steady_s = (bare["fit_s"] - bare_1["fit_s"]) / (epochs - 1)
    harness_ips = harness["throughput"]["steady_images_per_s"]
    if bare_steady_s <= 0:  # the two bare fits differ by less than the noise: no steady pace to speak of
        print(f"warning: {framework} batch {batch}: fit({epochs}) took no longer than fit(1); the noise is larger "
              "than an epoch here: use more data or epochs", file=sys.stderr, flush=True)
    bare_ips = bare["images"] / bare_steady_s if bare_steady_s > 0 else float("nan")
    return {
        "framework": framework,
        "batch_size": batch,
        "harness_images_per_s": harness_ips,
        "bare_images_per_s": bare_ips,
        "ratio": harness_ips / bare_ips,
        "fit_ratio": bare["fit_s"] / harness["time"]["fit_s"],
        "first_epoch_s": harness["time"]["first_epoch_s"],
        "peak_rss_mib": harness["memory"]["rss_peak_os_mib"],
        "jit_compile": harness["jit_compile"],
        "harness_fit_s": harness["time"]["fit_s"],
        "bare_fit_s": bare["fit_s"],
        "harness_process_s": runs["harness"][0],
        "bare_process_s": runs["bare"][0],
    }


def main(argv: list[str] | None = None) -> None:
    params = load_or_exit()
    parser = cli.parser("benchmark", __doc__)
    parser.add_argument("--frameworks", nargs="+", default=list(params.frameworks))
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[32, 256])
    parser.add_argument("--epochs", type=int, default=4, help="per run; >= 2 so that a steady-state epoch exists")
    parser.add_argument("--repeats", type=int, default=1,
                        help="measure every configuration this many times (interleaved) and report medians")
    parser.add_argument("--seed", type=int, default=params.seeds[0])
    parser.add_argument("--data", type=Path, default=ROOT / paths.DATA)
    parser.add_argument("--out", type=Path, default=ROOT / paths.REPORTS / "benchmark")
    args = parser.parse_args(argv)
    if args.epochs < 2:
        parser.error("--epochs must be at least 2")
    if not args.data.exists():
        sys.exit(f"error: {args.data} not found: run `dvc repro prepare` first (data.source: synthetic works offline)")

    from kerasbench import contenders
    skipped = [f for f in args.frameworks if not contenders.get(f).is_keras]
    if skipped:
        print(f"skipped (no bare model.fit without Keras): {', '.join(skipped)}", flush=True)
    rows = []
    configs = [(f, b) for f in args.frameworks if f not in skipped for b in args.batch_sizes]
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for i, (framework, batch) in enumerate(configs):
                row = measure(framework, batch, args.epochs, args.seed, args.data.resolve(),
                              Path(tmp) / f"{repeat}-{i}", repeat * len(configs) + i)
                rows.append({"repeat": repeat, **row})
                print(f"{framework} batch {batch}: harness {row['harness_images_per_s']:.0f} images/s, "
                      f"bare {row['bare_images_per_s']:.0f} images/s, ratio {row['ratio']:.3f}, "
                      f"whole fit: bare/harness {row['fit_ratio']:.3f}", flush=True)
    runs = pd.DataFrame(rows)
    table = runs.drop(columns="repeat").groupby(["framework", "batch_size"], sort=False).median().reset_index()
    table.insert(2, "repeats", args.repeats)
    table["ratio"] = table["harness_images_per_s"] / table["bare_images_per_s"]  # of the medians
    if args.repeats > 1:
        spread = runs.groupby(["framework", "batch_size"], sort=False)["ratio"].agg(["min", "max"]).reset_index()
        table = table.merge(spread.rename(columns={"min": "ratio_min", "max": "ratio_max"}))
    table["meets_target"] = table["ratio"] >= TARGET_RATIO
    args.out.mkdir(parents=True, exist_ok=True)
    runs.to_csv(args.out / "runs.csv", index=False)
    table.to_csv(args.out / "benchmark.csv", index=False)
    markdown = table.to_markdown(index=False, floatfmt=".3g")
    write_text(args.out / "benchmark.md", markdown + "\n")
    print(markdown)
    print(f"\nsum of bare fit processes: {table['bare_process_s'].sum():.1f} s; "
          f"sum of train stage processes: {table['harness_process_s'].sum():.1f} s")


if __name__ == "__main__":
    main()
