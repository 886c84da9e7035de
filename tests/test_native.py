"""The native contenders (kerasbench/trainers/*_lenet.py): the Keras model's architecture, initialisation, loss,
optimizers and batch rules, without Keras. Framework tests run tests/native_helper.py, one backend
per process, as the stages do; the rules written once (kerasbench/trainers/native.py) are tested here
directly, with a NumPy stand-in for a framework.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kerasbench import contenders, lenet, params
from kerasbench.trainers import native as common

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ["torch", "jax", "tensorflow"]


def helper(command: str, backend: str, *args: str) -> dict:
    # A fresh process per call: one contender per process, selected before any framework import.
    result = subprocess.run([sys.executable, "-m", "tests.native_helper", command, backend, *args],
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


# ---- rules written once (no framework) ----------------------------------------------------

def train(**changes):
    values = dict(epochs=2, batch_size=16, optimizer="adam", learning_rate=0.001, validation_split=0.0,
                  shuffle=True, jit_compile="default", deterministic=True, precision="float32")
    return params.Train.model_construct(**(values | changes))   # unvalidated: the trainer's own checks are tested


class NumpyTrainer(common.NativeTrainer):
    """The fit loop with NumPy as the framework: a sample's 'loss' is its index, 'correct' means label 0."""
    OPTIMIZERS = dict.fromkeys(common.KERAS_OPTIMIZERS)   # never built: this trainer takes no step

    def __init__(self, train_params):   # a stand-in contender: nothing here imports its framework
        super().__init__(contenders.get("torch_native"), None, train_params)

    def _build(self, weights): self.weights, self.batches = weights, []
    def _put(self, x, y): return x, y
    def _put_order(self, order): return order
    def _reset_metrics(self): self.sums = [0.0, 0.0]
    def _read_metrics(self): return tuple(self.sums)
    def count_params(self): return sum(w.size for w in self.weights)
    def get_weights(self): return self.weights

    def _train_batch(self, data, order, start, size):
        idx = order[start:start + size]
        self.batches.append(idx)
        self.sums[0] += float(data[0][idx, 0].sum())
        self.sums[1] += float((data[1][idx] == 0).sum())

    def _evaluate(self, data, batch_size):
        return float(data[0][:, 0].sum()), float((data[1] == 0).sum())


class Hooks:
    def __init__(self, stop_after=None):
        self.calls, self.logs, self.stop_after = [], [], stop_after

    def fit_begin(self): self.calls.append("fit_begin")
    def epoch_begin(self, e): self.calls.append(f"begin {e}")
    def validation_begin(self, e): self.calls.append(f"validation_begin {e}")
    def validation_end(self, e): self.calls.append(f"validation_end {e}")

    def epoch_end(self, e, logs):
        self.calls.append(f"end {e}")
        self.logs.append(logs)
        return e == self.stop_after


def index_data(n):
    return np.arange(n, dtype=np.float32)[:, None], np.arange(n) % 3


def test_glorot_uniform_draws_keras_shapes_and_limits_from_lenets_seeds():
    weights = common.glorot_uniform(0)
    assert [w.shape for w in weights] == [shape for _, shape in common.WEIGHTS]
    assert sum(w.size for w in weights) == lenet.PARAMETERS == 62_006
    assert all(w.dtype == np.float32 for w in weights)
    # Keras' limit sqrt(6 / (fan_in + fan_out)); a kernel's fans count its 5x5 window, a bias' fans are its length.
    limits = [math.sqrt(6 / (75 + 150)), math.sqrt(6 / 12), math.sqrt(6 / (150 + 400)), math.sqrt(6 / 32),
              math.sqrt(6 / 520), math.sqrt(6 / 240), math.sqrt(6 / 204), math.sqrt(6 / 168),
              math.sqrt(6 / 94), math.sqrt(6 / 20)]
    for w, limit in zip(weights, limits):
        assert np.abs(w).max() <= limit
    for w, limit in zip(weights[::2], limits[::2]):  # kernels are large enough to come near the bound
        assert np.abs(w).max() > 0.9 * limit and abs(w.mean()) < 0.1 * limit
    # lenet.build's derivation: one seed per initializer, in order, from SeedSequence(seed).
    assert common.seeds(7)[:10] == np.random.SeedSequence(7).generate_state(16).tolist()[:10]
    first = np.random.default_rng(common.seeds(7)[0]).uniform(-limits[0], limits[0], (5, 5, 3, 6))
    np.testing.assert_array_equal(common.glorot_uniform(7)[0], first.astype(np.float32))
    assert all(np.array_equal(a, b) for a, b in zip(weights, common.glorot_uniform(0)))
    assert not np.array_equal(weights[0], common.glorot_uniform(1)[0])


def test_adam_epsilon_turns_the_hat_form_into_keras_update():
    """torch/optax divide by sqrt(v_hat) + eps; Keras by sqrt(v) + epsilon with the bias correction in the rate."""
    rng = np.random.default_rng(0)
    lr, b1, b2, eps = 0.001, 0.9, 0.999, 1e-7
    m, v = rng.normal(size=1000) * 1e-3, rng.random(1000) * 1e-10  # small v: where epsilon matters
    for t in (1, 2, 10, 1000):
        keras = lr * math.sqrt(1 - b2**t) / (1 - b1**t) * m / (np.sqrt(v) + eps)
        hat = lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + common.adam_epsilon(t, eps, b2))
        naive = lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        np.testing.assert_allclose(hat, keras, rtol=1e-12)
        if t == 1:
            assert np.abs(naive - keras).max() > 0.1 * lr  # a constant epsilon would be far off at the start


def test_fit_follows_keras_split_batches_shuffling_and_logs():
    n, split = 103, 0.2
    t = NumpyTrainer(train(epochs=3, validation_split=split))
    t.build(0)
    hooks = Hooks()
    t.fit(*index_data(n), hooks)
    n_train = math.floor(n * (1 - split))
    assert n_train == 82
    assert [len(b) for b in t.batches] == [16] * 5 + [2] + [16] * 5 + [2] + [16] * 5 + [2]  # smaller last batch
    epochs = [np.concatenate(t.batches[i * 6:(i + 1) * 6]) for i in range(3)]
    for order in epochs:  # each epoch: every training sample once, none of the last 20% (validation)
        assert sorted(order.tolist()) == list(range(n_train))
    assert not np.array_equal(epochs[0], epochs[1]) and not np.array_equal(epochs[1], epochs[2])
    assert not np.array_equal(epochs[0], np.arange(n_train))  # the first epoch is shuffled too
    assert hooks.calls == ["fit_begin"] + [f"{c} {e}" for e in range(3)
                                           for c in ("begin", "validation_begin", "validation_end", "end")]
    for logs in hooks.logs:  # sample-weighted means: the mean index of the training and the validation samples
        assert logs["loss"] == pytest.approx((n_train - 1) / 2)
        assert logs["val_loss"] == pytest.approx((n_train + n - 1) / 2)
        assert logs["accuracy"] == pytest.approx(28 / 82) and logs["val_accuracy"] == pytest.approx(7 / 21)
        assert all(type(v) is float for v in logs.values())

    same = NumpyTrainer(train(epochs=3, validation_split=split))
    same.build(0)
    same.fit(*index_data(n), Hooks())
    assert all(np.array_equal(a, b) for a, b in zip(t.batches, same.batches))
    other = NumpyTrainer(train(epochs=3, validation_split=split))
    other.build(1)
    other.fit(*index_data(n), Hooks())
    assert not np.array_equal(np.concatenate(other.batches[:6]), epochs[0])


def test_fit_without_shuffle_or_validation_and_early_stop():
    t = NumpyTrainer(train(epochs=5, shuffle=False))
    t.build(0)
    hooks = Hooks(stop_after=1)
    t.fit(*index_data(40), hooks)
    assert hooks.calls == ["fit_begin", "begin 0", "end 0", "begin 1", "end 1"]  # epoch_end's True stops training
    assert np.array_equal(np.concatenate(t.batches), np.tile(np.arange(40), 2))
    assert set(hooks.logs[0]) == {"loss", "accuracy"}


def test_a_backend_must_build_every_optimizer_params_can_name():
    with pytest.raises(TypeError, match=r"Partial.OPTIMIZERS has \['adam', 'sgd'\], expected \['adam', 'adamw', "):
        type("Partial", (common.NativeTrainer,), {"OPTIMIZERS": {"adam": None, "sgd": None}})


def test_loss_scale_halves_on_overflow_and_doubles_after_enough_good_steps():
    grow = common.LOSS_SCALE_GROWTH_STEPS
    finite = np.array([False, True, True, True])
    scale, good = common.next_loss_scale(finite, np.full(4, 8.0), np.array([5, 5, grow - 2, grow - 1]), np.where)
    assert scale.tolist() == [4.0, 8.0, 8.0, 16.0] and good.tolist() == [0, 6, grow - 1, 0]


def test_unknown_optimizer_or_precision_is_a_clear_error():
    with pytest.raises(ValueError, match="optimizer 'adagrad' not supported; known: adam, adamw, rmsprop, sgd"):
        NumpyTrainer(train(optimizer="adagrad"))
    with pytest.raises(ValueError, match="precision 'float8'"):
        NumpyTrainer(train(precision="float8"))


# ---- each framework in its own process ------------------------------------------------------

# Checks that need no fresh process of their own run together, one process per backend (an import
# of TensorFlow is seconds). The short fit comes first, so that process is a fresh one when it fits;
# the bitwise test fits again in another fresh process, and save/load keep their own processes.
CHECKS = ["params", "jit:off", "jit:default", "precision:mixed_bfloat16", "precision:mixed_float16", "overflow"]


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    d = tmp_path_factory.mktemp("checks")
    done: dict[str, dict] = {}

    def get(backend: str, check: str) -> dict:
        if backend not in done:
            fit = f"history:{d / backend}"
            results = helper("checks", backend, fit, *CHECKS)
            history = results.pop(fit)
            done[backend] = {**results, "history": (history, (d / backend).read_text())}
        return done[backend][check]
    return get


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_parameter_count_and_keras_weight_layout(checked, backend):
    result = checked(backend, "params")
    assert result["count"] == 62_006
    assert result["shapes"] == [list(shape) for _, shape in common.WEIGHTS]
    assert result["describe"]["compute_dtype"] == "float32" and result["describe"]["variable_dtype"] == "float32"


@pytest.mark.e2e
@pytest.mark.parametrize("backend", BACKENDS)
def test_same_loss_as_keras_after_one_step_from_the_same_weights(backend):
    """Keras 3 on the same backend and the native model, from Keras' weights, params.yaml's learning rate."""
    result = helper("keras", backend)
    for optimizer, r in result.items():
        assert r["copied"] == 0.0, optimizer
        assert r["predictions_before"] < 1e-6, optimizer
        assert r["loss_step"][0] == pytest.approx(r["loss_step"][1], abs=1e-6), optimizer  # the loss before the update
        if backend == "torch" and optimizer == "rmsprop":
            continue  # torch.optim.RMSprop divides by sqrt(v) + eps, Keras by sqrt(v + eps): see below
        assert abs(r["loss_after"][0] - r["loss_after"][1]) < 1e-5, (optimizer, r)
        assert abs(r["loss_after"][0] - r["loss_step"][0]) > 1e-3, (optimizer, r)  # the step really moved it
        assert r["predictions_after"] < 1e-5 and r["weights_after"] < 1e-5, (optimizer, r)
        # Two more epochs of three batches (the last one smaller): still the same model.
        np.testing.assert_allclose(r["loss_epochs"][1], r["loss_epochs"][0], atol=1e-5)
        assert r["predictions_final"] < 1e-5, (optimizer, r)
    if backend == "torch":  # the one documented difference: epsilon outside the square root
        r = result["rmsprop"]
        assert abs(r["loss_after"][0] - r["loss_after"][1]) > 1e-3 and r["weights_after"] > 1e-3


@pytest.fixture(scope="module")
def histories(tmp_path_factory, checked):
    """The same short fit (256 images, validation 25%, shuffled) in two fresh processes per backend."""
    d = tmp_path_factory.mktemp("histories")
    out = {}
    for backend in BACKENDS:
        second = helper("history", backend, str(d / backend))
        out[backend] = [checked(backend, "history"), (second, (d / backend).read_text())]
    return out


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_bitwise_cpu_determinism_across_processes(histories, backend):
    (first, first_bytes), (second, second_bytes) = histories[backend]
    assert first_bytes == second_bytes  # loss, accuracy, val_loss, val_accuracy and every weight, as float64 bytes
    assert len(first["logs"]) == 2 and set(first["logs"][0]) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    hooks = ("epoch_begin", "validation_begin", "validation_end", "epoch_end")
    assert first["calls"] == [["fit_begin", None]] + [[c, e] for e in range(2) for c in hooks]


@pytest.mark.slow
def test_the_natives_start_and_train_alike(histories):
    """Same seed: the same initial weights (common.glorot_uniform) and batch order, so the same history."""
    logs = {b: histories[b][0][0]["logs"] for b in BACKENDS}
    for backend in ("jax", "tensorflow"):
        for mine, ref in zip(logs[backend], logs["torch"]):
            for key in ref:
                assert mine[key] == pytest.approx(ref[key], abs=1e-5), (backend, key)


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_jit_false_runs_eagerly(checked, backend):
    result = checked(backend, "jit:off")
    assert result["describe"]["jit_compile"] is False and result["describe"]["jit_meaning"].startswith("eager")
    assert result["traced"] == [False] * 6  # the model function ran, untraced, for each of 2 x 3 batches
    assert result["compiled"]["wrapped"] in ("LeNet5", "method")
    assert result["compiled"].get("graphs", 0) == 0 and not result["compiled"].get("lowerable")


@pytest.mark.slow
@pytest.mark.parametrize("backend, expected", [
    ("torch", {"jit_compile": False, "jit_meaning": "eager PyTorch", "traced": [False] * 6}),
    ("jax", {"jit_compile": True, "jit_meaning": "jax.jit (XLA)", "traced": [True]}),
    ("tensorflow", {"jit_compile": False, "jit_meaning": "tf.function graph, no XLA", "traced": [True]}),
])
def test_default_jit_is_the_frameworks_own(checked, backend, expected):
    result = checked(backend, "jit:default")
    assert result["describe"]["jit_compile"] is expected["jit_compile"]
    assert result["describe"]["jit_meaning"] == expected["jit_meaning"]
    assert result["traced"] == expected["traced"]  # traced once, then the compiled step ran 6 batches


@pytest.mark.e2e
@pytest.mark.parametrize("backend", BACKENDS)
def test_jit_true_compiles(backend):
    result = helper("jit", backend, "on")
    assert result["describe"]["jit_compile"] is True
    compiled = result["compiled"]
    if backend == "torch":
        assert result["describe"]["jit_meaning"].startswith("torch.compile")
        assert compiled["wrapped"] == "OptimizedModule" and compiled["graphs"] == 1
        assert result["traced"] == []  # no eager call of the module's forward
    elif backend == "jax":
        assert compiled == {"wrapped": "PjitFunction", "lowerable": True} and result["traced"] == [True]
    else:
        assert result["describe"]["jit_meaning"] == "tf.function graph + XLA"
        assert compiled["xla"] is True and result["traced"] == [True]


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("policy, dtype", [("mixed_bfloat16", "bfloat16"), ("mixed_float16", "float16")])
def test_mixed_precision_takes_effect_on_cpu(checked, backend, policy, dtype):
    result = checked(backend, f"precision:{policy}")
    assert result["describe"]["compute_dtype"] == dtype and result["describe"]["variable_dtype"] == "float32"
    observed = result["observed"]
    assert observed.pop("weights") == "float32"
    assert set(observed.values()) == {dtype}, observed  # an activation and the softmax output
    assert math.isfinite(result["loss"]) and 2.0 < result["loss"] < 2.7
    assert result["predict_dtype"] == "float32"
    assert 0 < result["row_sums"] < 0.01  # probabilities computed in 16 bits, returned as float32


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_float16_loss_scaling_follows_keras(checked, backend):
    result = checked(backend, "overflow")
    assert result["unchanged_after_overflow"] and result["scale_after_overflow"] == result["initial"] / 2
    assert result["changed_after_finite"] and result["scale_after_finite"] == 2.0**15


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_save_and_load_in_a_fresh_process_give_identical_predictions(backend, tmp_path):
    saved = helper("save", backend, str(tmp_path))
    assert [p.name for p in tmp_path.iterdir()] == ["weights.npz"]
    loaded = helper("load", backend, str(tmp_path))
    assert loaded["count"] == 62_006
    assert loaded["predictions"] == saved["predictions"]
    assert np.allclose(np.sum(saved["predictions"], axis=1), 1, atol=1e-5)
