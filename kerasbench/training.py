"""Measuring one training process from its plan (stages/train.py decides; this runs in the child).

Import, context creation, model build, the first epoch apart from the steady state, throughput and
this process's own memory (and the GPU peak from the framework's allocator); then the model, the
numbers, the environment and the per-epoch history, written where the plan says (kerasbench/results.py
records). With `train.target_accuracy` the test set is scored after every epoch, outside the epoch's
clock (as MLPerf does); the first epoch reaching the target is recorded with the training time up to it.
"""
from __future__ import annotations

import time

from kerasbench import energy, interference, launch, measure, records
from kerasbench.files import atomic_dir, atomic_path, write_json
from kerasbench.plan import Plan


def measure_run(plan: Plan) -> None:
    """The child's work: train once as planned and write every output."""
    s, files = plan.settings, plan.files
    train, cache = s.train, plan.options["compile_cache"]
    started = launch.start(plan.contender, s.device, train.deterministic, cache["directory"], train.threads)
    rss_after_import = measure.rss_mib()  # framework imported, context created: the same point for all

    # Everything below imports after the framework on purpose (numpy's threads, etc.).
    import numpy as np

    from kerasbench import lenet

    started.seed(plan.seed, train.deterministic)
    with np.load(files["data"]) as data:   # loading and scaling stay outside every timed region
        x_train, y_train = lenet.scale(data["x_train"]), data["y_train"].astype(np.int64)
        test = (lenet.scale(data["x_test"]), data["y_test"]) if train.target_accuracy is not None else None
    rss_before_build = measure.rss_mib()
    t = time.perf_counter()
    trainer = started.trainer(train)
    trainer.build(plan.seed)
    build_s = time.perf_counter() - t
    rss_after_build = measure.rss_mib()

    target = TargetAccuracy(train.target_accuracy, trainer, *test, s.evaluate.batch_size) if test else None
    on_gpu = started.device["device"] == "gpu"
    clock = measure.EpochClock(train.epochs, after_epoch=target, meter=energy.meter(on_gpu),
                               images=plan.options["train_images"])
    if on_gpu:
        started.backend.reset_gpu_peak()
    with measure.MemorySampler() as sampler:
        t = time.perf_counter()
        trainer.fit(x_train, y_train, clock)
        fit_s = time.perf_counter() - t - (target.scoring_s if target else 0.0)  # fit's own time, as without a target
    memory = {"rss_after_import_mib": rss_after_import, "rss_after_build_mib": rss_after_build,
              "rss_peak_fit_mib": sampler.peak_rss_mib,
              "rss_peak_os_mib": measure.os_peak_rss_mib(),   # now, before saving can load anything more
              "build_increase_mib": rss_after_build - rss_before_build,
              "fit_increase_mib": sampler.peak_rss_mib - rss_after_build}
    gpu_peak, gpu_peak_source = started.backend.gpu_peak() if on_gpu else (None, None)
    memory["gpu_peak_mib"] = gpu_peak / measure.MIB if gpu_peak is not None else None
    if files["model"] != "-":
        with atomic_dir(files["model"]) as tmp:
            trainer.save(tmp)
    timing = {"import_s": started.import_s, "context_s": started.context_s, "build_s": build_s,
              "fit_setup_s": clock.fit_begin_at - t if clock.fit_begin_at else None, "fit_s": fit_s}
    write(plan, started, trainer, clock, timing, memory, target, {"gpu_peak_source": gpu_peak_source,
                                                                  "memory_samples": sampler.samples})


def write(plan: Plan, started, trainer, clock, timing: dict, memory: dict, target, extra_env: dict) -> None:
    """The numbers, the environment and the history of one training process, and its one-line summary."""
    import pandas as pd

    s, files, cache = plan.settings, plan.files, plan.options["compile_cache"]
    train = s.train
    history = pd.DataFrame(clock.epochs)
    epochs = measure.epoch_summary(history["epoch_s"].tolist())
    fitted = plan.options["train_images"]
    described = trainer.describe()
    cache_gap = started.backend.compile_cache_gap(described["jit_compile"])
    interfered = clock.interference()
    on_gpu = started.device["device"] == "gpu"
    metrics = records.TrainResult(
        synthetic=int(bool(plan.data["synthetic"])), epochs=len(history), batch_size=train.batch_size,
        train_images=fitted, jit_compile=int(described["jit_compile"]), deterministic=int(train.deterministic),
        gpu=int(on_gpu), time=records.TrainTime(**timing, **epochs),
        throughput=records.Throughput(
            steady_images_per_s=fitted / epochs["steady_epoch_s"] if epochs["steady_epoch_s"] else None,
            first_epoch_images_per_s=fitted / epochs["first_epoch_s"]),
        memory=records.Memory(**memory),
        final=records.Final(loss=float(history["loss"].iloc[-1]), accuracy=float(history["accuracy"].iloc[-1])),
        interference=interfered,
        # whole-GPU energy from NVML's counter (kerasbench/energy.py); null on a CPU: not measured
        energy=energy.summary(history["energy_j"].tolist(), fitted),
        target=records.Target(**target.record()) if target else None,
        compile_cache=compile_cache_record(cache, cache_gap, epochs["first_epoch_s"]))
    environment = measure.run_environment(started, s, plan.data, plan.seed) | {
        "jit_compile": {"param": train.jit_compile, "effective": described["jit_compile"],
                        "meaning": described["jit_meaning"]},
        "precision": {"param": train.precision, "compute_dtype": described["compute_dtype"],
                      "variable_dtype": described["variable_dtype"]},
        "compile_cache": {"mode": cache["mode"], "directory": cache["directory"],
                          "kept_by_backend": cache_gap is None, "why_not": cache_gap},
        "gpu_peak_source": extra_env["gpu_peak_source"],
        "energy_source": clock.meter.source,
        "memory_samples": extra_env["memory_samples"],
        "timed": {"from": clock.timed_from, "to": clock.timed_to},
    }
    with atomic_path(files["history"], suffix=".csv") as tmp:
        history.to_csv(tmp, index=False)
    write_json(files["env"], environment)
    records.write(files["metrics"], metrics)
    print(f"{plan.contender} seed {plan.seed} on {started.device['device']}: "
          f"first epoch {epochs['first_epoch_s']:.2f} s, "
          f"steady {metrics.throughput.steady_images_per_s or float('nan'):.0f} images/s, "
          f"peak RSS {memory['rss_peak_fit_mib']:.0f} MiB, final accuracy {metrics.final.accuracy:.3f}; "
          f"{interference.verdict_line(interfered)}")


def compile_cache_record(cache: dict, gap: str | None, first_epoch_s: float) -> records.CompileCache | None:
    """The first epoch with the backend's persistent compilation cache empty (cold) and filled (warm)."""
    mode = cache["mode"]
    if mode == "off":
        return None
    return records.CompileCache(
        warm=int(mode == "warm"), supported=int(gap is None),
        cold_first_epoch_s=None if gap else (cache["cold_first_epoch_s"] if mode == "warm" else first_epoch_s),
        warm_first_epoch_s=first_epoch_s if mode == "warm" and gap is None else None)


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
