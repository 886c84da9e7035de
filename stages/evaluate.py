"""Stage evaluate@<framework>-<seed>: reload the trained model with the same contender and score it.

    python -m stages.evaluate FRAMEWORK SEED DATA_NPZ DATA_JSON MODEL_DIR METRICS ENV CONFUSION PER_CLASS INFERENCE
                              [--fingerprints DIR]

Accuracy, precision, recall and F1 (weighted as in the article, and macro) on the training
and the test set; per-class scores and the confusion matrix as DVC plots files. Inference is
timed two ways, each as `evaluate.repeats` passes over the test set after a warm-up pass:
`predict()` throughput (what a user calls: batching, host-to-device copies and results back),
and the forward pass alone on data already on the device. Every pass is kept (INFERENCE, a
plots file) with what else the machine did meanwhile (kerasbench/interference.py); the device
the stage ran on is checked like train's and recorded (ENV). CONFUSION and PER_CLASS may be `-`
(not written: the repeat stage's evaluations keep only the timings and scores).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from kerasbench import fingerprint, guard, interference, launch, measure
from kerasbench.contenders import ContenderError
from kerasbench.files import atomic_path, write_json
from kerasbench.params import load_or_exit


def scores(y_true, y_pred) -> dict:
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support
    out = {"accuracy": float(accuracy_score(y_true, y_pred))}
    for average in ("weighted", "macro"):
        p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, average=average, zero_division=0)
        out |= {f"precision_{average}": float(p), f"recall_{average}": float(r), f"f1_{average}": float(f)}
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("framework")
    parser.add_argument("seed", type=int)
    for name in ("data", "data_json", "model", "metrics", "env", "confusion", "per_class", "inference"):
        parser.add_argument(name)
    parser.add_argument("--fingerprints", metavar="DIR",
                        help="check DIR/<framework>.json (kerasbench/fingerprint.py) first")
    args = parser.parse_args(argv)
    guard.start([p for p in (args.metrics, args.env, args.confusion, args.per_class, args.inference) if p != "-"],
                "evaluate")
    params = load_or_exit()
    if args.fingerprints:
        fingerprint.require(args.fingerprints, [args.framework])
    deterministic = params.train.deterministic
    try:
        started = launch.start(args.framework, params.device, deterministic, threads=params.train.threads)
    except ContenderError as err:
        sys.exit(f"error: {err}")

    import numpy as np
    import pandas as pd
    from sklearn.metrics import precision_recall_fscore_support

    from kerasbench import lenet

    started.seed(args.seed, deterministic)
    data_info = json.loads(Path(args.data_json).read_text())
    with np.load(args.data) as data:
        x_train, y_train = lenet.scale(data["x_train"]), data["y_train"]
        x_test, y_test = lenet.scale(data["x_test"]), data["y_test"]
        class_names = [str(c) for c in data["class_names"]]
    trainer = started.trainer(params.train)
    trainer.load(Path(args.model))
    batch, repeats = params.evaluate.batch_size, params.evaluate.repeats

    # The article's figure: one predict call, tracing and first allocation included.
    t = time.perf_counter()
    test_pred = trainer.predict(x_test, batch).argmax(axis=1)
    first_predict_s = time.perf_counter() - t
    probe = interference.probe()
    # that first call was the warm-up
    predicted = measure.timed_passes(lambda: trainer.predict(x_test, batch), repeats, probe)
    forward = trainer.forward_pass(x_test, batch)  # the test set copied to the device once
    forward()                                      # warm-up: tracing, compilation
    forwarded = measure.timed_passes(forward, repeats, probe)
    train_pred = trainer.predict(x_train, batch).argmax(axis=1)

    rows = [{"pass": i + 1, "kind": kind, "seconds": row["seconds"], "images_per_s": len(x_test) / row["seconds"],
             **{k: row[k] for k in interference.COLUMNS}}
            for kind, found in (("predict", predicted), ("forward", forwarded)) for i, row in enumerate(found)]
    passes = pd.DataFrame(rows)
    noise = interference.summarize(rows, [r["window_s"] for r in predicted + forwarded], len(probe.cpus))
    predict_s = [r["seconds"] for r in predicted]
    rate = lambda kind: passes.loc[passes["kind"] == kind, "images_per_s"]  # noqa: E731
    p, r, f, support = precision_recall_fscore_support(y_test, test_pred, labels=range(len(class_names)),
                                                        zero_division=0)
    per_class = pd.DataFrame({"class": class_names, "precision": p, "recall": r, "f1": f, "support": support})
    confusion = pd.DataFrame({"actual": np.array(class_names)[y_test], "predicted": np.array(class_names)[test_pred]})
    metrics = {
        "synthetic": int(bool(data_info["synthetic"])),
        "gpu": int(started.device["device"] == "gpu"),
        "train": scores(y_train, train_pred),
        "test": scores(y_test, test_pred),
        "inference": {
            "predict_images_per_s": float(rate("predict").median()),
            "predict_images_per_s_min": float(rate("predict").min()),
            "predict_images_per_s_max": float(rate("predict").max()),
            "forward_images_per_s": float(rate("forward").median()),
            "predict_pass_s": float(np.median(predict_s)),
            "first_predict_s": first_predict_s,
            "batch_size": batch,
            "repeats": repeats,
        },
        "interference": noise,
    }
    environment = measure.run_environment(started, params, data_info, args.seed)
    for path, table in ((args.per_class, per_class), (args.confusion, confusion)):
        if path != "-":
            with atomic_path(path, suffix=".csv") as tmp:
                table.to_csv(tmp, index=False)
    with atomic_path(args.inference, suffix=".csv") as tmp:
        passes.to_csv(tmp, index=False)
    write_json(args.env, environment)
    write_json(args.metrics, metrics)
    print(f"{args.framework} seed {args.seed} on {started.device['device']}: test accuracy "
          f"{metrics['test']['accuracy']:.3f}, weighted F1 {metrics['test']['f1_weighted']:.3f}, predict() "
          f"{metrics['inference']['predict_images_per_s']:.0f} images/s, forward pass "
          f"{metrics['inference']['forward_images_per_s']:.0f} images/s; {interference.verdict_line(noise)}")


if __name__ == "__main__":
    guard.run(main)
