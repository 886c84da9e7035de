"""Scoring one trained model from its plan (stages/evaluate.py decides; this runs in the child).

Accuracy, precision, recall and F1 (weighted as in the article, and macro) on the training and the
test set; per-class scores and the confusion matrix. Inference is timed two ways, each as
`evaluate.repeats` passes over the test set after a warm-up pass: `predict()` throughput (what a user
calls: batching, host-to-device copies and results back), and the forward pass alone on data already on
the device. Every pass is kept with what else the machine did meanwhile (kerasbench/interference.py).
"""
from __future__ import annotations

import time
from pathlib import Path

from kerasbench import interference, launch, measure, records
from kerasbench.files import atomic_path, write_json
from kerasbench.plan import Plan


def scores(y_true, y_pred) -> records.Scores:
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support
    out = {"accuracy": float(accuracy_score(y_true, y_pred))}
    for average in ("weighted", "macro"):
        p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, average=average, zero_division=0)
        out |= {f"precision_{average}": float(p), f"recall_{average}": float(r), f"f1_{average}": float(f)}
    return records.Scores(**out)


def measure_run(plan: Plan) -> None:
    """The child's work: load the model, score it, time inference, write every output."""
    s, files = plan.settings, plan.files
    deterministic = s.train.deterministic
    started = launch.start(plan.contender, s.device, deterministic, threads=s.train.threads)

    import numpy as np

    from kerasbench import lenet

    started.seed(plan.seed, deterministic)
    with np.load(files["data"]) as data:
        x_train, y_train = lenet.scale(data["x_train"]), data["y_train"]
        x_test, y_test = lenet.scale(data["x_test"]), data["y_test"]
        class_names = [str(c) for c in data["class_names"]]
    trainer = started.trainer(s.train)
    trainer.load(Path(files["model"]))
    batch, repeats = s.evaluate.batch_size, s.evaluate.repeats

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
    write(plan, started, (y_train, train_pred), (y_test, test_pred), class_names,
          {"predict": predicted, "forward": forwarded}, first_predict_s, len(probe.cpus))


def write(plan: Plan, started, on_train, on_test, class_names: list[str], timed: dict, first_predict_s: float,
          cpus: int) -> None:
    """The scores, the inference passes, the plots files and the environment, and a one-line summary."""
    import numpy as np
    import pandas as pd
    from sklearn.metrics import precision_recall_fscore_support

    s, files = plan.settings, plan.files
    (y_train, train_pred), (y_test, test_pred) = on_train, on_test
    n_test = len(y_test)
    rows = [{"pass": i + 1, "kind": kind, "seconds": row["seconds"], "images_per_s": n_test / row["seconds"],
             **{k: row[k] for k in interference.COLUMNS}}
            for kind, found in timed.items() for i, row in enumerate(found)]
    passes = pd.DataFrame(rows)
    interfered = interference.summarize(rows, [r["window_s"] for found in timed.values() for r in found], cpus)
    predict_s = [r["seconds"] for r in timed["predict"]]
    rate = lambda kind: passes.loc[passes["kind"] == kind, "images_per_s"]  # noqa: E731
    p, r, f, support = precision_recall_fscore_support(y_test, test_pred, labels=range(len(class_names)),
                                                        zero_division=0)
    per_class = pd.DataFrame({"class": class_names, "precision": p, "recall": r, "f1": f, "support": support})
    confusion = pd.DataFrame({"actual": np.array(class_names)[y_test], "predicted": np.array(class_names)[test_pred]})
    metrics = records.EvalResult(
        synthetic=int(bool(plan.data["synthetic"])), gpu=int(started.device["device"] == "gpu"),
        train=scores(y_train, train_pred), test=scores(y_test, test_pred),
        inference=records.Inference(
            predict_images_per_s=float(rate("predict").median()),
            predict_images_per_s_min=float(rate("predict").min()),
            predict_images_per_s_max=float(rate("predict").max()),
            forward_images_per_s=float(rate("forward").median()), predict_pass_s=float(np.median(predict_s)),
            first_predict_s=first_predict_s, batch_size=s.evaluate.batch_size, repeats=s.evaluate.repeats),
        interference=interfered)
    for path, table in ((files["per_class"], per_class), (files["confusion"], confusion)):
        if path != "-":
            with atomic_path(path, suffix=".csv") as tmp:
                table.to_csv(tmp, index=False)
    with atomic_path(files["inference"], suffix=".csv") as tmp:
        passes.to_csv(tmp, index=False)
    write_json(files["env"], measure.run_environment(started, s, plan.data, plan.seed))
    records.write(files["metrics"], metrics)
    print(f"{plan.contender} seed {plan.seed} on {started.device['device']}: test accuracy "
          f"{metrics.test.accuracy:.3f}, weighted F1 {metrics.test.f1_weighted:.3f}, predict() "
          f"{metrics.inference.predict_images_per_s:.0f} images/s, forward pass "
          f"{metrics.inference.forward_images_per_s:.0f} images/s; {interference.verdict_line(interfered)}")
