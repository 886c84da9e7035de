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
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kerasbench import energy, fingerprint, guard, interference, launch, live, measure, supervise
from kerasbench.contenders import ContenderError
from kerasbench.files import atomic_dir, atomic_path, write_json
from kerasbench.params import load_or_exit


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("framework")
    parser.add_argument("seed", type=int)
    for name in ("data", "data_json", "model", "metrics", "env", "history"):
        parser.add_argument(name)
    parser.add_argument("--compile-cache", choices=("cold",), help=argparse.SUPPRESS)  # the fill run of `warm`
    parser.add_argument("--fingerprints", metavar="DIR",
                        help="check DIR/<framework>.json (kerasbench/fingerprint.py) first")
    parser.add_argument("--compile-cache-dir", help=argparse.SUPPRESS)
    parser.add_argument("--live", metavar="DIR", help="log every epoch with dvclive into DIR as it ends")
    args = parser.parse_args(argv)
    guard.start([p for p in (args.model, args.metrics, args.env, args.history, args.live) if p and p != "-"], "train")
    params = load_or_exit()
    if args.fingerprints:
        fingerprint.require(args.fingerprints, [args.framework])
    train = params.train
    images = json.loads(Path(args.data_json).read_text()).get("train")
    if not isinstance(images, int):
        sys.exit(f"error: {args.data_json} has no train image count; it is written by the prepare stage "
                 "(dvc repro prepare)")
    impossible = train.check_data(images)
    if impossible:   # before anything is imported or trained
        sys.exit(f"error: {impossible}")
    epoch_log = None
    if args.live and not supervise.is_child():   # the stage process logs the epochs its child sends
        shutil.rmtree(args.live, ignore_errors=True)   # no earlier run's epochs beside this one's
        epoch_log = live.EpochLog(args.live).open()
    cache_mode = args.compile_cache or train.compile_cache
    cache_dir = Path(args.compile_cache_dir or Path("models") / "compile-cache" / Path(args.metrics).stem).resolve()
    try:
        started = launch.start(args.framework, params.device, train.deterministic,
                               str(cache_dir) if cache_mode != "off" else None, train.threads,
                               on_message=epoch_log)
    except ContenderError as err:
        sys.exit(f"error: {err}")
    backend = started.backend
    on_gpu = started.device["device"] == "gpu"
    rss_after_import = measure.rss_mib()  # framework imported, context created: the same point for all

    # Everything below imports after the framework on purpose (numpy's threads, etc.).
    import numpy as np
    import pandas as pd

    from kerasbench import lenet

    started.seed(args.seed, train.deterministic)
    # Data loading and scaling stay outside every timed region.
    data_info = json.loads(Path(args.data_json).read_text())
    with np.load(args.data) as data:
        x_train, y_train = lenet.scale(data["x_train"]), data["y_train"].astype(np.int64)
        test = (lenet.scale(data["x_test"]), data["y_test"]) if train.target_accuracy is not None else None
    cold_first_epoch_s = prepare_compile_cache(args, cache_mode, cache_dir)
    rss_before_build = measure.rss_mib()

    t = time.perf_counter()
    trainer = started.trainer(train)
    trainer.build(args.seed)
    build_s = time.perf_counter() - t
    rss_after_build = measure.rss_mib()

    target = TargetAccuracy(train.target_accuracy, trainer, *test, params.evaluate.batch_size) if test else None
    clock = measure.EpochClock(train.epochs, after_epoch=target, meter=energy.meter(on_gpu))
    if on_gpu:
        backend.reset_gpu_peak()
    with measure.MemorySampler() as sampler:
        t = time.perf_counter()
        trainer.fit(x_train, y_train, clock)
        fit_s = time.perf_counter() - t - (target.scoring_s if target else 0.0)  # fit's own time, as without a target
    rss_peak_os = measure.os_peak_rss_mib()  # now, before saving can load anything more
    noise = clock.interference()
    gpu_peak, gpu_peak_source = backend.gpu_peak() if on_gpu else (None, None)

    if args.model != "-":
        with atomic_dir(args.model) as tmp:
            trainer.save(tmp)

    history = pd.DataFrame(clock.epochs)
    epochs = measure.epoch_summary(history["epoch_s"].tolist())
    fitted = train.train_count(len(x_train))
    described = trainer.describe()
    cache_gap = backend.compile_cache_gap(described["jit_compile"])
    metrics = {
        "synthetic": int(bool(data_info["synthetic"])),
        "epochs": len(history),
        "batch_size": train.batch_size,
        "train_images": fitted,
        "jit_compile": int(described["jit_compile"]),
        "deterministic": int(train.deterministic),
        "gpu": int(on_gpu),
        "time": {
            "import_s": started.import_s,
            "context_s": started.context_s,
            "build_s": build_s,
            "fit_setup_s": clock.fit_begin_at - t if clock.fit_begin_at else None,
            **epochs,
            "fit_s": fit_s,
        },
        "throughput": {
            "steady_images_per_s": fitted / epochs["steady_epoch_s"] if epochs["steady_epoch_s"] else None,
            "first_epoch_images_per_s": fitted / epochs["first_epoch_s"],
        },
        "memory": {
            "rss_after_import_mib": rss_after_import,
            "rss_after_build_mib": rss_after_build,
            "rss_peak_fit_mib": sampler.peak_rss_mib,
            "rss_peak_os_mib": rss_peak_os,
            "build_increase_mib": rss_after_build - rss_before_build,
            "fit_increase_mib": sampler.peak_rss_mib - rss_after_build,
            "gpu_peak_mib": gpu_peak / measure.MIB if gpu_peak is not None else None,
        },
        "final": {"loss": float(history["loss"].iloc[-1]), "accuracy": float(history["accuracy"].iloc[-1])},
        "interference": noise,
        # whole-GPU energy from NVML's counter (kerasbench/energy.py); null on a CPU: not measured
        "energy": energy.summary(history["energy_j"].tolist(), fitted),
        "target": target.record() if target else None,
        "compile_cache": None if cache_mode == "off" else {
            "warm": int(cache_mode == "warm"), "supported": int(cache_gap is None),
            "cold_first_epoch_s": None if cache_gap else (cold_first_epoch_s if cache_mode == "warm"
                                                          else epochs["first_epoch_s"]),
            "warm_first_epoch_s": epochs["first_epoch_s"] if cache_mode == "warm" and cache_gap is None else None},
    }
    environment = measure.run_environment(started, params, data_info, args.seed) | {
        "jit_compile": {"param": train.jit_compile, "effective": described["jit_compile"],
                        "meaning": described["jit_meaning"]},
        "precision": {"param": train.precision, "compute_dtype": described["compute_dtype"],
                      "variable_dtype": described["variable_dtype"]},
        "compile_cache": {"mode": cache_mode, "directory": str(cache_dir) if cache_mode != "off" else None,
                          "kept_by_backend": cache_gap is None, "why_not": cache_gap},
        "gpu_peak_source": gpu_peak_source,
        "energy_source": clock.meter.source,
        "memory_samples": sampler.samples,
        "timed": {"from": clock.timed_from, "to": clock.timed_to},
    }
    with atomic_path(args.history, suffix=".csv") as tmp:
        history.to_csv(tmp, index=False)
    write_json(args.env, environment)
    write_json(args.metrics, metrics)
    print(f"{args.framework} seed {args.seed} on {started.device['device']}: "
          f"first epoch {epochs['first_epoch_s']:.2f} s, "
          f"steady {metrics['throughput']['steady_images_per_s'] or float('nan'):.0f} images/s, "
          f"peak RSS {sampler.peak_rss_mib:.0f} MiB, final accuracy {metrics['final']['accuracy']:.3f}; "
          f"{interference.verdict_line(noise)}")


class TargetAccuracy:
    """EpochClock's after_epoch: the test set's accuracy after every epoch, outside the epoch's clock.

    Records the first epoch that reaches the target and the training time up to it (epoch times
    only, the first epoch included). Training goes on for the configured epochs; the scoring time
    is taken out of fit_s, so the time figures stay comparable with runs without a target (the
    memory peaks during fit do include the scoring's allocations).
    """

    def __init__(self, target: float, trainer, x_test, y_test, batch_size: int):
        self.target, self.trainer, self.x, self.y, self.batch = target, trainer, x_test, y_test, batch_size
        self.seconds = 0.0
        self.scoring_s = 0.0  # spent scoring inside fit(): taken out of fit_s
        self.reached: tuple[int, float] | None = None

    def __call__(self, row: dict) -> bool:
        self.seconds += row["epoch_s"]
        started = time.perf_counter()
        accuracy = float((self.trainer.predict(self.x, self.batch).argmax(axis=1) == self.y).mean())
        self.scoring_s += time.perf_counter() - started
        row["test_accuracy"] = accuracy  # lands in the history file
        if self.reached is None and accuracy >= self.target:
            self.reached = (row["epoch"], self.seconds)
            print(f"target accuracy {self.target:g} reached after epoch {row['epoch']}: "
                  f"{self.seconds:.2f} s of training", flush=True)
        return False

    def record(self) -> dict:
        epochs, seconds = self.reached or (None, None)
        return {"accuracy": self.target, "reached": int(self.reached is not None),
                "epochs_to_target": epochs, "seconds_to_target": seconds, "scoring_s": self.scoring_s}


def prepare_compile_cache(args, mode: str, directory: Path) -> float | None:
    """`cold`: empty the cache folder. `warm`: fill it by training once in a separate process, untimed
    here, and return that run's (cold) first epoch. `off`: nothing."""
    if mode == "off":
        return None
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    if mode == "cold":
        return None
    with tempfile.TemporaryDirectory(prefix="kerasbench-fill-") as tmp:
        print(f"compile cache: filling {directory} with one untimed training run", flush=True)
        env = supervise.child_env()
        done = subprocess.run([sys.executable, "-m", "stages.train", args.framework, str(args.seed), args.data,
                               args.data_json, "-", f"{tmp}/m.json", f"{tmp}/e.json", f"{tmp}/h.csv",
                               "--compile-cache", "cold", "--compile-cache-dir", str(directory)], env=env)
        if done.returncode:
            sys.exit(f"error: the run that fills the compile cache failed (exit {done.returncode})")
        return json.loads(Path(f"{tmp}/m.json").read_text())["time"]["first_epoch_s"]


if __name__ == "__main__":
    guard.run(main)
