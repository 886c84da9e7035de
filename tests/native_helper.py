"""One native backend per process, for tests/test_native.py: `python -m tests.native_helper COMMAND BACKEND ...`.

Prints one JSON object on its last stdout line. Commands:
  params                       parameter count and describe()
  keras BACKEND                one step (then two more epochs) of Keras 3's LeNet-5 on the same backend and of
                               the native model from the same weights, for every optimizer: largest differences
  history BACKEND OUT          a short deterministic fit; its loss history as float64 bytes, hex
  jit BACKEND on|off|default   what the model function saw: traced/compiled or eager, how often it ran
  precision BACKEND POLICY     describe() and the dtypes observed inside the model
  save BACKEND DIR / load BACKEND DIR   predictions of a fitted model, then of the reloaded one
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kerasbench import backends, contenders, launch  # noqa: E402  (imports no framework)

KERAS_CONTENDER = {"torch": "keras3_torch", "jax": "keras3_jax", "tensorflow": "keras3_tensorflow"}
NATIVE = {"torch": "torch_native", "jax": "jax_native", "tensorflow": "tf_native"}
N_FIT, BATCH, EPOCHS = 256, 32, 2


def train_params(**changes):
    """params.yaml's train section with changes (whatever keys the stages add later come along)."""
    from kerasbench.params import load
    return load(ROOT / "params.yaml").train.model_copy(update=changes)


def data(n: int, seed: int = 0):
    import numpy as np
    rng = np.random.default_rng(seed)
    return rng.random((n, 32, 32, 3), dtype=np.float32), rng.integers(0, 10, n).astype(np.int64)


class Hooks:
    """The stages' hooks, recording: epoch logs and the order of calls."""

    def __init__(self):
        self.logs, self.calls = [], []

    def fit_begin(self):
        self.calls.append(("fit_begin", None))

    def epoch_begin(self, epoch):
        self.calls.append(("epoch_begin", epoch))

    def validation_begin(self, epoch):
        self.calls.append(("validation_begin", epoch))

    def validation_end(self, epoch):
        self.calls.append(("validation_end", epoch))

    def epoch_end(self, epoch, logs):
        self.calls.append(("epoch_end", epoch))
        assert all(type(v) is float for v in logs.values()), logs  # host floats: device work finished
        self.logs.append(logs)


def native(backend: str, keras: bool = False):
    """The native trainer's module; with keras=True, Keras 3 on the same backend is activated first."""
    import importlib
    if keras:
        launch.activate(KERAS_CONTENDER[backend], "cpu")
    else:
        os.environ.update(launch.COMMON_ENV)
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    return importlib.import_module(contenders.get(NATIVE[backend]).trainer.split(":")[0])


def build(backend, module, *, deterministic=True, precision="float32", jit=None, keras=None, **changes):
    """The native trainer as a stage builds it (uniform constructor), its backend seeded the stage's way first."""
    train = train_params(deterministic=deterministic, precision=precision,
                         jit_compile="default" if jit is None else jit, **changes)
    backends.get(backend).seed(0, deterministic, keras=keras)
    return module.Trainer(contenders.get(NATIVE[backend]), None, train)


def trainer(backend, module, *, seed=0, **options):
    t = build(backend, module, **options)
    t.build(seed)
    return t


def cmd_params(backend):
    t = trainer(backend, native(backend))
    return {"count": t.count_params(), "describe": t.describe(),
            "shapes": [list(w.shape) for w in t.get_weights()]}


def cmd_keras(backend):
    import numpy as np
    keras = launch.activate(KERAS_CONTENDER[backend], "cpu")
    module = native(backend)
    from kerasbench import lenet
    x, y = data(64, seed=1)
    out = {}
    for optimizer in ("adam", "adamw", "sgd", "rmsprop"):
        # params.yaml's learning rate (0.001): Adam's first steps move every weight by about that much.
        train = train_params(optimizer=optimizer, shuffle=False, validation_split=0.0, epochs=1, batch_size=64)
        model = lenet.build(keras, seed=3)
        lenet.compile_model(keras, model, train, None)
        nat = build(backend, module, keras=keras, **train.model_dump(exclude={"deterministic", "precision",
                                                                               "jit_compile"}))
        nat.build(0)
        nat.set_weights(model.get_weights())
        copied = max(float(np.abs(a - b).max()) for a, b in zip(model.get_weights(), nat.get_weights()))
        before = float(np.abs(model.predict(x, batch_size=64, verbose=0) - nat.predict(x, 64)).max())
        # One step on the same batch: the epoch's loss is the loss before the update.
        k_step = model.fit(x, y, batch_size=64, epochs=1, shuffle=False, verbose=0).history["loss"][0]
        hooks = Hooks()
        nat.fit(x, y, hooks)
        n_step = hooks.logs[0]["loss"]
        k_after = model.evaluate(x, y, batch_size=64, verbose=0, return_dict=True)["loss"]
        n_after = nat._evaluate(nat._put(x, y), 64)[0] / len(x)
        after = float(np.abs(model.predict(x, batch_size=64, verbose=0) - nat.predict(x, 64)).max())
        weights = max(float(np.abs(a - b).max()) for a, b in zip(model.get_weights(), nat.get_weights()))
        # Two more epochs of three batches each (24, 24 and a smaller last one of 16).
        k_hist = model.fit(x, y, batch_size=24, epochs=2, shuffle=False, verbose=0).history["loss"]
        nat.train_params = train.model_copy(update={"epochs": 2, "batch_size": 24})
        hooks = Hooks()
        nat.fit(x, y, hooks)
        n_hist = [log["loss"] for log in hooks.logs]
        final = float(np.abs(model.predict(x, batch_size=64, verbose=0) - nat.predict(x, 64)).max())
        out[optimizer] = {
            "copied": copied, "predictions_before": before,
            "loss_step": [k_step, n_step], "loss_after": [k_after, n_after],
            "predictions_after": after, "weights_after": weights,
            "loss_epochs": [k_hist, n_hist], "predictions_final": final,
        }
    return out


def cmd_history(backend, out_file):
    t = trainer(backend, native(backend), epochs=EPOCHS, batch_size=BATCH, validation_split=0.25, shuffle=True)
    x, y = data(N_FIT)
    hooks = Hooks()
    t.fit(x, y, hooks)
    import numpy as np
    values = np.array([[log[k] for k in sorted(log)] for log in hooks.logs], dtype=np.float64)
    weights = np.concatenate([w.ravel() for w in t.get_weights()])
    Path(out_file).write_text(values.tobytes().hex() + "\n" + weights.tobytes().hex())
    return {"logs": hooks.logs, "calls": hooks.calls}


def cmd_jit(backend, mode):
    """Wraps the model function; records whether each call ran traced (jit) or eagerly."""
    module = native(backend)
    jit = {"on": True, "off": False, "default": None}[mode]
    seen = []
    if backend == "torch":
        import torch
        original = module.LeNet5.forward

        def spy(self, x):  # records eager calls only: a side effect while dynamo traces would be a guard
            if not torch.compiler.is_compiling():
                seen.append(False)
            return original(self, x)
        module.LeNet5.forward = spy
    elif backend == "jax":
        import jax
        original = module.forward

        def spy(params, x, dtype):
            seen.append(isinstance(x, jax.core.Tracer))
            return original(params, x, dtype)
        module.forward = spy
    else:
        import tensorflow as tf
        original = module.forward

        def spy(weights, x, dtype):
            seen.append(not tf.executing_eagerly())
            return original(weights, x, dtype)
        module.forward = spy
    t = trainer(backend, module, jit=jit, epochs=2, batch_size=BATCH, validation_split=0.0)
    x, y = data(96)  # three full batches per epoch
    started = time.perf_counter()
    try:
        t.fit(x, y, Hooks())
    finally:  # the module as it was, for the next check in this process (cmd_checks)
        if backend == "torch":
            module.LeNet5.forward = original
        else:
            module.forward = original
    fit_s = time.perf_counter() - started
    # The framework's own record of compiled code: dynamo's graphs, a jitted step, a tf.function's XLA flag.
    if backend == "torch":
        import torch
        compiled = {"wrapped": type(t.forward).__name__,
                    "graphs": torch._dynamo.utils.counters["stats"]["unique_graphs"]}
    elif backend == "jax":
        compiled = {"wrapped": type(t.step).__name__, "lowerable": hasattr(t.step, "lower")}
    else:
        compiled = {"wrapped": type(t.step).__name__, "xla": getattr(t.step, "_jit_compile", None)}
    return {"describe": t.describe(), "traced": seen, "compiled": compiled, "fit_s": fit_s}


def cmd_precision(backend, policy):
    import numpy as np
    module = native(backend)
    t = trainer(backend, module, precision=policy, epochs=1, batch_size=BATCH)
    x, y = data(64)
    hooks = Hooks()
    t.fit(x, y, hooks)
    probs = t.predict(x[:8], 8)
    observed = module.observe_dtypes(t, x[:8])  # each module: dtypes of an activation and of its weights
    return {"describe": t.describe(), "observed": observed, "loss": hooks.logs[0]["loss"],
            "predict_dtype": str(probs.dtype), "row_sums": np.abs(probs.sum(axis=1) - 1).max().item()}


def cmd_overflow(backend):
    """mixed_float16 with a loss scale so large that float16 gradients overflow: Keras' rule skips the
    step (weights unchanged) and halves the scale; once it is small enough, steps update the weights."""
    import numpy as np
    module = native(backend)
    t = trainer(backend, module, precision="mixed_float16", epochs=1, batch_size=32)
    x, y = data(32)
    huge = 2.0**40
    if backend == "torch":
        import torch
        t.scaler = torch.amp.GradScaler("cpu", init_scale=huge, growth_interval=2000)
        scale = lambda: float(t.scaler.get_scale())  # noqa: E731
    elif backend == "jax":
        import jax.numpy as jnp
        t.scale = (jnp.float32(huge), jnp.int32(0))
        scale = lambda: float(t.scale[0])  # noqa: E731
    else:
        t.scale.assign(huge)
        scale = lambda: float(t.scale.numpy())  # noqa: E731
    before = t.get_weights()
    t.fit(x, y, Hooks())
    skipped = t.get_weights()
    scale_after_skip = scale()
    x, y = data(32 * 40)  # 40 steps: the scale halves until the gradients are finite, then the weights move
    t.fit(x, y, Hooks())
    return {"unchanged_after_overflow": all(np.array_equal(a, b) for a, b in zip(before, skipped)),
            "scale_after_overflow": scale_after_skip, "initial": huge, "scale_after_finite": scale(),
            "changed_after_finite": not all(np.array_equal(a, b) for a, b in zip(skipped, t.get_weights()))}


def cmd_save(backend, directory):
    t = trainer(backend, native(backend), epochs=1, batch_size=BATCH)
    x, y = data(128)
    t.fit(x, y, Hooks())
    t.save(Path(directory))
    return {"predictions": t.predict(data(16, seed=5)[0], 8).tolist()}


def cmd_load(backend, directory):
    module = native(backend)
    t = build(backend, module)
    t.load(Path(directory))
    run = t.forward_pass(data(16, seed=5)[0], 8)
    run()
    return {"predictions": t.predict(data(16, seed=5)[0], 8).tolist(), "count": t.count_params()}


def cmd_checks(backend, *checks):
    """Several checks that need no fresh process of their own, one after another in this one (each
    `command:arg`): a backend's import is paid once. Returns {check: its result}."""
    results = {}
    for check in checks:
        command, *args = check.split(":")
        results[check] = globals()[f"cmd_{command}"](backend, *args)
    return results


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    result = globals()[f"cmd_{command}"](*args)
    print(json.dumps(result))
