"""Stage train@<framework>-<seed>: fit LeNet-5 with one contender, in a process of its own.

    python -m stages.train FRAMEWORK SEED DATA_NPZ DATA_JSON MODEL_DIR METRICS ENV HISTORY [--fingerprints DIR]

Measures import, context creation, model build, the first epoch apart from the steady state,
throughput and this process's own memory (and the GPU peak from the framework's allocator);
writes the model (MODEL_DIR; `-` writes none, for timing-only repeats), a numbers-only metrics
file, the environment beside it, and the per-epoch history as a DVC plots file.

With `train.target_accuracy`, the test set is scored after every epoch, outside the epoch's
clock (as MLPerf does), and the first epoch reaching the target is recorded with the training
time up to it. With `train.compile_cache` (`cold` or `warm`) the backend's persistent compilation
cache lives in models/compile-cache/<run>: `cold` empties it first; `warm` first fills it in a
separate process (untimed here; its first epoch is recorded as the cold one), then trains.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from kerasbench import fingerprint, guard, launch, live, paths, plan, records, training
from kerasbench.contenders import ContenderError, get
from kerasbench.params import load_or_exit

# The params this stage reads: its `params:` in dvc.yaml (tests/test_lint.py). evaluate.batch_size
# scores the test set after every epoch when train.target_accuracy is set.
PARAMS = ("device", "train", "evaluate.batch_size")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("framework")
    parser.add_argument("seed", type=int)
    for name in ("data", "data_json", "model", "metrics", "env", "history"):
        parser.add_argument(name)
    parser.add_argument("--fingerprints", metavar="DIR",
                        help="check DIR/<framework>.json (kerasbench/fingerprint.py) first")
    parser.add_argument("--live", metavar="DIR", help="log every epoch with dvclive into DIR as it ends")
    args = parser.parse_args(argv)
    guard.start([p for p in (args.model, args.metrics, args.env, args.history, args.live) if p and p != "-"],
                f"train@{args.framework}-{args.seed}")
    settings = plan.settings(load_or_exit(), "train", PARAMS)
    if args.fingerprints:
        fingerprint.require(args.fingerprints, [args.framework])
    data = plan.data_record(args.data_json)
    impossible = settings.train.check_data(data["train"])
    if impossible:   # before anything is imported or trained
        sys.exit(f"error: {impossible}")
    files = {"data": args.data, "model": args.model, "metrics": args.metrics, "env": args.env,
             "history": args.history}
    run = plan.Plan("train", f"{training.__name__}:measure_run", args.framework, args.seed, settings.dump(),
                    list(PARAMS), data, files, {"train_images": settings.train.train_count(data["train"])})
    try:
        get(args.framework)
        run = with_compile_cache(run, Path(paths.COMPILE_CACHE) / Path(args.metrics).stem)
        epoch_log = None
        if args.live:   # the epochs the child sends, logged as they end
            shutil.rmtree(args.live, ignore_errors=True)   # no earlier run's epochs beside this one's
            epoch_log = live.EpochLog(args.live).open()
        return launch.hand_over(run, on_message=epoch_log)
    except ContenderError as err:
        sys.exit(f"error: {err}")


def with_compile_cache(run: plan.Plan, directory: Path) -> plan.Plan:
    """With train.compile_cache (`cold` or `warm`) the backend's persistent compilation cache lives in
    `directory`: `cold` empties it first; `warm` empties it and fills it by training once in a process of
    its own, untimed here, whose (cold) first epoch is recorded beside the warm one."""
    mode = run.settings.train.compile_cache
    cache = {"mode": mode, "directory": None, "cold_first_epoch_s": None}
    if mode != "off":
        cache["directory"] = str(directory.resolve())
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
    run = run.but(options={**run.options, "compile_cache": cache})
    if mode != "warm":
        return run
    with tempfile.TemporaryDirectory(prefix="kerasbench-fill-") as tmp:
        print(f"compile cache: filling {directory} with one untimed training run", flush=True)
        fill = run.but(files={**run.files, "model": "-", "metrics": f"{tmp}/m.json", "env": f"{tmp}/e.json",
                              "history": f"{tmp}/h.csv"}, options={**run.options, "compile_cache": {**cache,
                                                                                                   "mode": "cold"}})
        code = launch.hand_over(fill)
        if code:
            sys.exit(f"error: the run that fills the compile cache failed (exit {code})")
        cache["cold_first_epoch_s"] = records.read_file(f"{tmp}/m.json", records.TrainResult).time.first_epoch_s
    return run.but(options={**run.options, "compile_cache": cache})


if __name__ == "__main__":
    guard.run(main)
