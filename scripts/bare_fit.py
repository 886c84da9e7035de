"""A bare `model.fit`, no harness: the baseline the train stage's figures are checked against.

    python -m scripts.bare_fit FRAMEWORK DATA_NPZ EPOCHS BATCH_SIZE SEED [--fit-only]

Prints one JSON line. No callbacks, no samplers, only wall clocks around whole fit calls:
- fit_s: one fit(epochs=EPOCHS), as a user would run it (compilation included);
- steady_epoch_s: (T(fit of 1+K epochs) - T(fit of 1 epoch)) / K afterwards, which cancels
  each call's set-up and leaves the per-epoch cost of an already compiled model
  (skipped with --fit-only, to time a whole bare run as a user would).
"""
from __future__ import annotations

import json
import sys
import time

from stages import contenders

STEADY_EPOCHS = 2  # K


def main() -> None:
    framework, data, epochs, batch, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    started = time.perf_counter()
    keras = contenders.activate(framework)
    import numpy as np
    from stages import lenet
    from stages.params import load
    train = load().train.model_copy(update={"batch_size": batch, "epochs": epochs})

    contenders.seed_everything(framework, keras, seed)
    with np.load(data) as d:
        x, y = lenet.scale(d["x_train"]), d["y_train"].astype(np.int64)
    model = lenet.build(keras, seed)
    lenet.compile_model(keras, model, train)

    def fit(n):
        t = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=n, shuffle=train.shuffle, verbose=0)
        return time.perf_counter() - t

    fit_s = fit(epochs)
    result = {"framework": framework, "batch_size": batch, "epochs": epochs, "fit_s": fit_s,
              "process_s": time.perf_counter() - started}
    if "--fit-only" not in sys.argv[6:]:
        steady = (fit(1 + STEADY_EPOCHS) - fit(1)) / STEADY_EPOCHS
        result |= {"steady_epoch_s": steady, "steady_images_per_s": len(x) / steady}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
