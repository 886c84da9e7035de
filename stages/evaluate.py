"""Stage evaluate@<framework>-<seed>: reload the trained model with the same contender and score it.

    python -m stages.evaluate FRAMEWORK SEED DATA_NPZ DATA_JSON MODEL METRICS CONFUSION PER_CLASS

Accuracy, precision, recall and F1 (weighted as in the article, and macro) on the training
and the test set; per-class scores and the confusion matrix as DVC plots files; inference
throughput as the median of timed passes over the test set after a warm-up pass.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from kerasbench import contenders
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
    for name in ("data", "data_json", "model", "metrics", "confusion", "per_class"):
        parser.add_argument(name)
    args = parser.parse_args(argv)
    params = load_or_exit()
    try:
        keras = contenders.activate(args.framework, params.device)
    except contenders.ContenderError as err:
        sys.exit(f"error: {err}")

    import numpy as np
    import pandas as pd
    from sklearn.metrics import precision_recall_fscore_support
    from kerasbench import lenet

    contenders.seed_everything(args.framework, keras, args.seed)
    data_info = json.loads(Path(args.data_json).read_text())
    with np.load(args.data) as data:
        x_train, y_train = lenet.scale(data["x_train"]), data["y_train"]
        x_test, y_test = lenet.scale(data["x_test"]), data["y_test"]
        class_names = [str(c) for c in data["class_names"]]
    model = keras.models.load_model(args.model)
    batch = params.evaluate.batch_size

    # The article's figure: one predict call, tracing and first allocation included.
    t = time.perf_counter()
    test_pred = model.predict(x_test, batch_size=batch, verbose=0).argmax(axis=1)
    first_predict_s = time.perf_counter() - t
    # Steady state: that call was the warm-up; time `repeats` more passes.
    passes = []
    for _ in range(params.evaluate.repeats):
        t = time.perf_counter()
        model.predict(x_test, batch_size=batch, verbose=0)
        passes.append(time.perf_counter() - t)
    rates = len(x_test) / np.array(passes)
    train_pred = model.predict(x_train, batch_size=batch, verbose=0).argmax(axis=1)

    p, r, f, support = precision_recall_fscore_support(y_test, test_pred, labels=range(len(class_names)),
                                                        zero_division=0)
    per_class = pd.DataFrame({"class": class_names, "precision": p, "recall": r, "f1": f, "support": support})
    confusion = pd.DataFrame({"actual": np.array(class_names)[y_test], "predicted": np.array(class_names)[test_pred]})
    metrics = {
        "synthetic": int(bool(data_info["synthetic"])),
        "train": scores(y_train, train_pred),
        "test": scores(y_test, test_pred),
        "inference": {
            "images_per_s": float(np.median(rates)),
            "images_per_s_min": float(rates.min()),
            "images_per_s_max": float(rates.max()),
            "pass_s": float(np.median(passes)),
            "first_predict_s": first_predict_s,
            "batch_size": batch,
            "repeats": params.evaluate.repeats,
        },
    }
    with atomic_path(args.per_class, suffix=".csv") as tmp:
        per_class.to_csv(tmp, index=False)
    with atomic_path(args.confusion, suffix=".csv") as tmp:
        confusion.to_csv(tmp, index=False)
    write_json(args.metrics, metrics)
    print(f"{args.framework} seed {args.seed}: test accuracy {metrics['test']['accuracy']:.3f}, "
          f"weighted F1 {metrics['test']['f1_weighted']:.3f}, inference {metrics['inference']['images_per_s']:.0f} images/s")


if __name__ == "__main__":
    main()
