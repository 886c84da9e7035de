"""Does the harness cost anything? The train stage's fit against a bare model.fit.

    python -m scripts.benchmark [--frameworks F ...] [--batch-sizes 32 256] [--epochs 3]
                                [--data data/prepared/cifar10.npz] [--out reports/benchmark]

For every contender and batch size, two fresh processes on the same data and settings:
the real train stage (timing callback, memory sampler) and scripts/bare_fit.py (nothing
but wall clocks around fit calls). Prints steady-state images/s of both and their ratio
(target >= 0.97), first-epoch seconds and peak RSS; writes benchmark.csv and .md to --out.
Run it on an otherwise idle machine: it measures speed.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

from stages.files import write_text
from stages.params import load_or_exit

ROOT = Path(__file__).resolve().parents[1]
TARGET_RATIO = 0.97


def run(cmd: list[str], cwd: Path) -> tuple[float, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t = time.perf_counter()
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"error: {' '.join(cmd)} failed:\n{result.stderr[-2000:]}")
    return time.perf_counter() - t, result.stdout


def measure(framework: str, batch: int, epochs: int, seed: int, data: Path, work: Path, bare_first: bool) -> dict:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["train"].update(epochs=epochs, batch_size=batch)
    work.mkdir(parents=True, exist_ok=True)
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    harness_cmd = [sys.executable, "-m", "stages.train", framework, str(seed), str(data),
                   str(data.with_suffix(".json")), "model.keras", "metrics.json", "env.json", "history.csv"]
    bare_cmd = [sys.executable, "-m", "scripts.bare_fit", framework, str(data), str(epochs), str(batch), str(seed)]
    runs = {}
    for name, cmd in ([("bare", bare_cmd), ("harness", harness_cmd)] if bare_first
                      else [("harness", harness_cmd), ("bare", bare_cmd)]):
        runs[name] = run(cmd, work)
    harness = json.loads((work / "metrics.json").read_text())
    bare = json.loads(runs["bare"][1].strip().splitlines()[-1])
    return {
        "framework": framework,
        "batch_size": batch,
        "harness_images_per_s": harness["throughput"]["steady_images_per_s"],
        "bare_images_per_s": bare["steady_images_per_s"],
        "ratio": harness["throughput"]["steady_images_per_s"] / bare["steady_images_per_s"],
        "first_epoch_s": harness["time"]["first_epoch_s"],
        "peak_rss_mib": harness["memory"]["rss_peak_os_mib"],
        "jit_compile": harness["jit_compile"],
        "harness_fit_s": harness["time"]["fit_s"],
        "bare_fit_s": bare["fit_s"],
        "harness_process_s": runs["harness"][0],
        "bare_process_s": bare["process_s"],
    }


def main() -> None:
    params = load_or_exit()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frameworks", nargs="+", default=list(params.frameworks))
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[32, 256])
    parser.add_argument("--epochs", type=int, default=3, help="per run; >= 2 so that a steady-state epoch exists")
    parser.add_argument("--seed", type=int, default=params.seeds[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data/prepared/cifar10.npz")
    parser.add_argument("--out", type=Path, default=ROOT / "reports/benchmark")
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be at least 2")
    if not args.data.exists():
        sys.exit(f"error: {args.data} not found: run `dvc repro prepare` first (data.source: synthetic works offline)")

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (framework, batch) in enumerate((f, b) for f in args.frameworks for b in args.batch_sizes):
            row = measure(framework, batch, args.epochs, args.seed, args.data.resolve(), Path(tmp) / str(i),
                          bare_first=i % 2 == 1)
            rows.append(row)
            print(f"{framework} batch {batch}: harness {row['harness_images_per_s']:.0f} images/s, "
                  f"bare {row['bare_images_per_s']:.0f} images/s, ratio {row['ratio']:.3f}", flush=True)
    table = pd.DataFrame(rows)
    table["meets_target"] = table["ratio"] >= TARGET_RATIO
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "benchmark.csv", index=False)
    markdown = table.to_markdown(index=False, floatfmt=".3g")
    write_text(args.out / "benchmark.md", markdown + "\n")
    print(markdown)
    print(f"\nsum of bare fit processes: {table['bare_process_s'].sum():.1f} s; "
          f"sum of train stage processes: {table['harness_process_s'].sum():.1f} s")


if __name__ == "__main__":
    main()
