"""A bare `model.fit`, no harness: the baseline the train stage's figures are checked against.

    python -m kerasbench.cli.bare_fit CONTENDER DATA_NPZ EPOCHS BATCH_SIZE SEED

Selects the contender, loads and scales the data, builds and compiles the same LeNet-5 with
the same params, then makes ONE `model.fit(epochs=EPOCHS)` call with no callbacks, timed
from outside. Prints one JSON line: fit_s (that call) and process_s (from start to its end).
Steady state comes from two such processes (kerasbench/cli/benchmark.py): with E and 1 epochs,
(fit_s(E) - fit_s(1)) / (E - 1) cancels the one-off costs both pay once (set-up, tracing,
compilation, the first epoch) and leaves the per-epoch cost.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from kerasbench import backends, cli, contenders, launch


def main(argv: list[str] | None = None) -> None:
    started = time.perf_counter()
    parser = cli.Parser(prog="python -m kerasbench.cli.bare_fit", description=__doc__,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("framework", metavar="CONTENDER")
    parser.add_argument("data", metavar="DATA_NPZ")
    for name in ("epochs", "batch_size", "seed"):
        parser.add_argument(name, type=int)
    args = parser.parse_args(argv)
    framework, data, epochs, batch, seed = args.framework, args.data, args.epochs, args.batch_size, args.seed
    if not contenders.get(framework).is_keras:
        sys.exit(f"error: {framework} is not a Keras contender: a bare model.fit exists only for Keras")
    launch.reexec(framework)   # under the contender's interpreter (one per backend in the container)
    from kerasbench.params import load_or_exit
    params = load_or_exit()
    train = params.train.model_copy(update={"batch_size": batch, "epochs": epochs})
    contender = contenders.get(framework)
    keras = launch.activate(framework, params.device, train.deterministic, threads=train.threads)
    keras.mixed_precision.set_global_policy(train.precision)
    import numpy as np

    from kerasbench import lenet

    backends.get(contender.backend).seed(seed, train.deterministic, keras=keras)
    with np.load(data) as d:
        x, y = lenet.scale(d["x_train"]), d["y_train"].astype(np.int64)
    model = lenet.build(keras, seed)
    lenet.compile_model(keras, model, train, contender.jit_request(train.jit_compile))

    t = time.perf_counter()
    model.fit(x, y, batch_size=batch, epochs=epochs, validation_split=train.validation_split, shuffle=train.shuffle,
              verbose=0)
    fit_s = time.perf_counter() - t
    images = train.train_count(len(x))   # what fit trains on; the rest validates
    print(json.dumps({"framework": framework, "batch_size": batch, "epochs": epochs, "images": images,
                      "fit_s": fit_s, "process_s": time.perf_counter() - started}))


if __name__ == "__main__":
    main()
