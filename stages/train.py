"""Stage train@<framework>-<seed>: fit LeNet-5 with one contender, in this process alone.

    python -m stages.train FRAMEWORK SEED DATA_NPZ DATA_JSON MODEL METRICS ENV HISTORY

Measures import, model build, the first epoch apart from the steady state, throughput and
this process's own memory; writes the model, a numbers-only metrics file, the environment
beside it, and the per-epoch history as a DVC plots file.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

from kerasbench import contenders, measure
from kerasbench.files import atomic_path, write_json
from kerasbench.params import load_or_exit


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("framework")
    parser.add_argument("seed", type=int)
    for name in ("data", "data_json", "model", "metrics", "env", "history"):
        parser.add_argument(name)
    args = parser.parse_args(argv)
    params = load_or_exit()

    started = time.perf_counter()
    try:
        keras = contenders.activate(args.framework, params.device)
    except contenders.ContenderError as err:
        sys.exit(f"error: {err}")
    import_s = time.perf_counter() - started
    rss_after_import = measure.rss_mib()

    # Everything below imports after the framework on purpose (numpy's threads, etc.).
    import numpy as np
    import pandas as pd
    from kerasbench import lenet

    gpus = contenders.visible_gpus(args.framework)
    if params.device == "gpu" and not gpus:
        sys.exit(f"error: device: gpu was asked for, but {args.framework} sees no GPU")
    contenders.seed_everything(args.framework, keras, args.seed)

    # Data loading and scaling stay outside every timed region.
    data_info = json.loads(Path(args.data_json).read_text())
    with np.load(args.data) as data:
        x_train, y_train = lenet.scale(data["x_train"]), data["y_train"].astype(np.int64)
    rss_before_build = measure.rss_mib()

    t = time.perf_counter()
    model = lenet.build(keras, args.seed)
    lenet.compile_model(keras, model, params.train)
    build_s = time.perf_counter() - t
    rss_after_build = measure.rss_mib()

    timer = measure.epoch_timer(keras, params.train.epochs)
    if gpus:
        contenders.reset_gpu_peak(args.framework)
    with measure.MemorySampler(nvml=bool(gpus)) as sampler:
        t = time.perf_counter()
        model.fit(x_train, y_train, batch_size=params.train.batch_size, epochs=params.train.epochs,
                  validation_split=params.train.validation_split, shuffle=params.train.shuffle,
                  callbacks=[timer], verbose=0)  # the progress bar would hook every batch
        fit_s = time.perf_counter() - t
    rss_peak_os = measure.os_peak_rss_mib()  # now, before saving can load anything more
    gpu_peak = contenders.gpu_peak_bytes(args.framework) if gpus else None
    if gpu_peak is None and sampler.peak_gpu_mib is not None:
        gpu_peak = sampler.peak_gpu_mib * measure.MIB

    with atomic_path(args.model, suffix=".keras") as tmp:
        model.save(tmp)

    history = pd.DataFrame(timer.epochs)
    epochs = measure.epoch_summary(history["epoch_s"].tolist())
    fitted = math.floor(len(x_train) * (1.0 - params.train.validation_split))  # Keras' own split rule
    jit = lenet.effective_jit_compile(model)
    metrics = {
        "synthetic": int(bool(data_info["synthetic"])),
        "epochs": params.train.epochs,
        "batch_size": params.train.batch_size,
        "train_images": fitted,
        "jit_compile": int(jit),
        "gpu": int(bool(gpus)),
        "time": {
            "import_s": import_s,
            "build_s": build_s,
            "fit_setup_s": timer.train_begin - t if timer.train_begin else None,
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
    contender = contenders.get(args.framework)
    environment = {
        "framework": args.framework,
        "seed": args.seed,
        "backend": contender.backend,
        "keras_module": contender.module,
        "keras_version": keras.__version__,
        "backend_version": contenders.backend_version(args.framework),
        "packages": contenders.package_versions(),
        **measure.machine(),
        "device": "gpu" if gpus else "cpu",
        "visible_gpus": gpus,
        "jit_compile": {"param": params.train.jit_compile, "effective": jit},
        "data": {k: data_info.get(k) for k in ("source", "md5", "sha256", "synthetic")},
        "memory_samples": sampler.samples,
    }
    with atomic_path(args.history, suffix=".csv") as tmp:
        history.to_csv(tmp, index=False)
    write_json(args.env, environment)
    write_json(args.metrics, metrics)
    print(f"{args.framework} seed {args.seed}: first epoch {epochs['first_epoch_s']:.2f} s, "
          f"steady {metrics['throughput']['steady_images_per_s'] or float('nan'):.0f} images/s, "
          f"peak RSS {sampler.peak_rss_mib:.0f} MiB, final accuracy {metrics['final']['accuracy']:.3f}")


if __name__ == "__main__":
    main()
