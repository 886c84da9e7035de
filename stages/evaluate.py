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
import sys

from kerasbench import evaluation, fingerprint, guard, launch, plan
from kerasbench.contenders import ContenderError
from kerasbench.params import load_or_exit

# The params this stage reads: its `params:` in dvc.yaml (tests/test_lint.py). The trainer is built
# from the train section (a native one checks the optimizer and its learning rate) and loads the model.
PARAMS = ("device", "train.deterministic", "train.jit_compile", "train.precision", "train.threads",
          "train.optimizer", "train.learning_rate", "evaluate")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("framework")
    parser.add_argument("seed", type=int)
    for name in ("data", "data_json", "model", "metrics", "env", "confusion", "per_class", "inference"):
        parser.add_argument(name)
    parser.add_argument("--fingerprints", metavar="DIR",
                        help="check DIR/<framework>.json (kerasbench/fingerprint.py) first")
    args = parser.parse_args(argv)
    guard.start([p for p in (args.metrics, args.env, args.confusion, args.per_class, args.inference) if p != "-"],
                f"evaluate@{args.framework}-{args.seed}")
    settings = plan.settings(load_or_exit(), "evaluate", PARAMS)
    if args.fingerprints:
        fingerprint.require(args.fingerprints, [args.framework])
    files = {key: getattr(args, key) for key in ("data", "model", "metrics", "env", "confusion", "per_class",
                                                 "inference")}
    run = plan.Plan("evaluate", f"{evaluation.__name__}:measure_run", args.framework, args.seed, settings.dump(),
                    list(PARAMS), plan.data_record(args.data_json), files)
    try:
        return launch.hand_over(run)
    except ContenderError as err:
        sys.exit(f"error: {err}")


if __name__ == "__main__":
    guard.run(main)
