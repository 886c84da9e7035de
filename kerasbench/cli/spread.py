"""How much do fresh training processes of one contender differ under each setting, and how many does a change need?

    kerasbench spread VARIANT [VARIANT ...] [--frameworks F ...] [--processes 5] [--epochs 4]
                             [--data NPZ] [--out DIR] [--factor 1.10] [--seed 0]

VARIANT is NAME:KEY=VALUE[,KEY=VALUE...], each KEY a key of params.yaml's `train` section, e.g.
`default:threads=default pinned:threads=1`; the special key `probe=off` runs the variant with
KERASBENCH_INTERFERENCE=off (what recording interference costs). In each of `processes` rounds
every contender x variant trains once, in a seeded shuffled order (interleaved, as the repeat
stage does), each run a fresh `stages.train` process on DATA (a prepared .npz beside its .json)
with the repository's params.yaml plus the variant's keys, keeping no model. Each variant's runs
are written as a results tree (OUT/<variant>/metrics/..., params.yaml), so `kerasbench power` and
`kerasbench compare` read them too. Prints, per contender and variant: the median steady throughput,
the spread between processes (coefficient of variation of the per-process median steady
throughput), how many processes were disturbed (kerasbench/interference.py), and the processes per
side that `kerasbench power` finds for a FACTOR change. Run it on an otherwise idle machine.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from kerasbench import cli, interference, paths
from kerasbench.cli import power
from kerasbench.files import write_text
from kerasbench.params import ParamsError, parse, read_yaml
from kerasbench.results import Directory
from kerasbench.samples import load

ROOT = cli.checkout()
FIGURE = "steady_images_per_s"


def variant(text: str) -> tuple[str, dict, dict]:
    """'pinned:threads=1,batch_size=64' -> ('pinned', {train keys}, {environment})."""
    name, _, body = text.partition(":")
    if not name or not body:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME:KEY=VALUE[,KEY=VALUE...]")
    train, env = {}, {}
    for pair in body.split(","):
        key, sep, value = pair.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"{text!r}: {pair!r} is not KEY=VALUE")
        if key == "probe":
            env["KERASBENCH_INTERFERENCE"] = value
        else:
            train[key] = read_yaml(value)
    return name, train, env


def schedule(frameworks: list[str], names: list[str], processes: int, seed: int) -> list[tuple[int, str, str]]:
    """(round, contender, variant) for every round; a seeded shuffle within each round."""
    runs = []
    for k in range(processes):
        pairs = [(fw, v) for fw in frameworks for v in names]
        runs += [(k, *pairs[i]) for i in np.random.default_rng([seed, k]).permutation(len(pairs))]
    return runs


def outputs(folder: Path, framework: str, k: int) -> list[Path]:
    """metrics, environment, history of process k, where the pipeline puts repeat k's (kerasbench/paths.py)."""
    files = paths.run_files(framework, 0, k)
    return [folder / files[key] for key in (paths.TRAIN, paths.ENV, paths.HISTORY)]


def summarize(folder: Path, factor: float) -> pd.DataFrame:
    runs, frame = load(Directory(folder))
    rows = []
    for fw in dict.fromkeys(r.framework for r in runs):
        per_process = power.processes(frame, fw, FIGURE)
        medians = pd.Series([np.median(p) for p in per_process])
        noisy = sum(interference.disturbed(r.train.interference) is not None for r in runs if r.framework == fw)
        needed = power.needed(per_process, factor, "higher", 12, 200, 0.95) if len(per_process) >= 2 else None
        rows.append({"contender": fw, "processes": len(per_process), "steady images/s (median)": medians.median(),
                     "CV between processes": medians.std() / medians.mean() if len(medians) > 1 else float("nan"),
                     "disturbed": noisy, f"processes per side for {factor:.2f}×": needed or "> 12"})
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser("spread", __doc__)
    parser.add_argument("variants", nargs="+", type=variant, metavar="VARIANT")
    parser.add_argument("--frameworks", nargs="+")
    parser.add_argument("--processes", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=4, help="per process (>= 2: epochs 2.. are the steady ones)")
    parser.add_argument("--data", type=Path, default=ROOT / paths.DATA)
    parser.add_argument("--out", type=Path, default=ROOT / paths.REPORTS / "spread")
    parser.add_argument("--factor", type=float, default=1.10)
    parser.add_argument("--seed", type=int, default=0, help="seeds the run order")
    args = parser.parse_args(argv)
    base = read_yaml((ROOT / "params.yaml").read_text())
    frameworks = args.frameworks or list(base["frameworks"])
    base["frameworks"], base["seeds"], base["repeats"] = frameworks, [0], args.processes
    base["train"]["epochs"] = args.epochs
    if not args.data.is_file() or not args.data.with_suffix(".json").is_file():
        sys.exit(f"error: {args.data} (and its .json) not found: run `dvc repro prepare` first "
                 "(data.source: synthetic works offline)")
    folders = {}
    for name, train, _ in args.variants:
        params = {**base, "train": {**base["train"], **train}}
        try:
            parse(params)
        except ParamsError as err:
            sys.exit(f"error: variant {name}: {err}")
        folders[name] = args.out / name
        folders[name].mkdir(parents=True, exist_ok=True)
        (folders[name] / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    envs = {name: env for name, _, env in args.variants}
    runs = schedule(frameworks, list(folders), args.processes, args.seed)
    order = []
    for number, (k, fw, name) in enumerate(runs, 1):
        metrics, env_file, history = outputs(folders[name], fw, k)
        print(f"spread {number}/{len(runs)}: process {k + 1} of {fw}, {name}", flush=True)
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "stages.train", fw, "0", str(args.data.resolve()),
                               str(args.data.with_suffix(".json").resolve()), "-", str(metrics), str(env_file),
                               str(history)], cwd=folders[name],
                              env={**os.environ, "PYTHONPATH": str(ROOT), **envs[name]})
        if done.returncode:
            sys.exit(f"error: {fw} ({name}) process {k + 1} failed (exit {done.returncode})")
        order.append({"process": k, "framework": fw, "variant": name, "process_s": time.perf_counter() - started})
    write_text(args.out / "order.json", json.dumps(order, indent=2) + "\n")
    tables = [summarize(folder, args.factor).assign(variant=name) for name, folder in folders.items()]
    table = pd.concat(tables).sort_values(["contender", "variant"], kind="stable")
    table = table[["contender", "variant", *[c for c in table.columns if c not in ("contender", "variant")]]]
    shown = table.assign(**{"steady images/s (median)": table["steady images/s (median)"].map("{:,.0f}".format),
                            "CV between processes": table["CV between processes"].map("{:.1%}".format)})
    markdown = shown.to_markdown(index=False)
    write_text(args.out / "spread.md", markdown + "\n")
    table.to_csv(args.out / "spread.csv", index=False)
    print(markdown)


if __name__ == "__main__":
    main()
