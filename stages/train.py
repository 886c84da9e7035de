"""Stage train@<framework>-<seed>: fit LeNet-5 with one contender, in a process of its own.

    python -m stages.train FRAMEWORK SEED DATA_NPZ DATA_JSON MODEL_DIR METRICS ENV HISTORY

Measures import, context creation, model build, the first epoch apart from the steady state,
throughput and this process's own memory (and the GPU peak from the framework's allocator);
writes the model (MODEL_DIR; `-` writes none, for timing-only repeats), a numbers-only metrics
file, the environment beside it, and the per-epoch history as a DVC plots file.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

from kerasbench import backends, contenders, measure
from kerasbench.files import atomic_dir, atomic_path, write_json
from kerasbench.params import load_or_exit


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("framework")
    parser.add_argument("seed", type=int)
    for name in ("data", "data_json", "model", "metrics", "env", "history"):
        parser.add_argument(name)
    args = parser.parse_args(argv)
    params = load_or_exit()
    train = params.train
    try:
        started = contenders.start(args.framework, params.device, train.deterministic)
    except contenders.ContenderError as err:
        sys.exit(f"error: {err}")
    backend = contenders.get(args.framework).backend
    on_gpu = started.device["device"] == "gpu"
    rss_after_import = measure.rss_mib()  # framework imported, context created: the same point for all

    # Everything below imports after the framework on purpose (numpy's threads, etc.).
    import numpy as np
    import pandas as pd
    from kerasbench import lenet

    contenders.seed(args.framework, started.module, args.seed, train.deterministic)
    # Data loading and scaling stay outside every timed region.
    data_info = json.loads(Path(args.data_json).read_text())
    with np.load(args.data) as data:
        x_train, y_train = lenet.scale(data["x_train"]), data["y_train"].astype(np.int64)
    rss_before_build = measure.rss_mib()

    t = time.perf_counter()
    trainer = contenders.trainer(args.framework, started.module, train, deterministic=train.deterministic)
    trainer.build(args.seed)
    build_s = time.perf_counter() - t
    rss_after_build = measure.rss_mib()

    clock = measure.EpochClock(train.epochs)
    if on_gpu:
        backends.reset_gpu_peak(backend)
    with measure.MemorySampler() as sampler:
        t = time.perf_counter()
        trainer.fit(x_train, y_train, clock)
        fit_s = time.perf_counter() - t
    rss_peak_os = measure.os_peak_rss_mib()  # now, before saving can load anything more
    gpu_peak, gpu_peak_source = backends.gpu_peak(backend) if on_gpu else (None, None)

    if args.model != "-":
        with atomic_dir(args.model) as tmp:
            trainer.save(tmp)

    history = pd.DataFrame(clock.epochs)
    epochs = measure.epoch_summary(history["epoch_s"].tolist())
    fitted = math.floor(len(x_train) * (1.0 - train.validation_split))  # Keras' own split rule
    described = trainer.describe()
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
    }
    environment = measure.run_environment(args.framework, args.seed, started, params, data_info) | {
        "jit_compile": {"param": train.jit_compile, "effective": described["jit_compile"],
                        "meaning": described["jit_meaning"]},
        "dtypes": {"compute": described["compute_dtype"], "variables": described["variable_dtype"]},
        "gpu_peak_source": gpu_peak_source,
        "memory_samples": sampler.samples,
    }
    with atomic_path(args.history, suffix=".csv") as tmp:
        history.to_csv(tmp, index=False)
    write_json(args.env, environment)
    write_json(args.metrics, metrics)
    print(f"{args.framework} seed {args.seed} on {started.device['device']}: first epoch {epochs['first_epoch_s']:.2f} s, "
          f"steady {metrics['throughput']['steady_images_per_s'] or float('nan'):.0f} images/s, "
          f"peak RSS {sampler.peak_rss_mib:.0f} MiB, final accuracy {metrics['final']['accuracy']:.3f}")


if __name__ == "__main__":
    main()
