"""What the three native LeNet-5s share, written once: initial weights, Keras' defaults, the fit loop.

Each backend module (torch_lenet, jax_lenet, tf_lenet) subclasses `NativeTrainer` and fills in a
handful of framework primitives (`_build`, `_put`, `_train_batch`, ...); seeding, determinism, the
device, waiting for it and what jit means come from the contender's Backend (kerasbench/backends/),
as for the Keras trainer. Everything the Keras
model decides outside the framework lives here: Glorot-uniform weights drawn from per-layer seeds
the way `lenet.build` derives them, Keras' optimizer defaults, its validation split and batch
order, and the epoch logs it reports. Weights travel in Keras' layout and order (conv kernels
HWIO, dense kernels (in, out), each followed by its bias), so all three natives start from the
same numbers for the same seed, and a Keras model's weights can be copied into any of them.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from kerasbench import backends
from kerasbench.lenet import PARAMETERS

# Keras' weight list for the LeNet-5 of kerasbench.lenet: (name, shape) in model.get_weights() order.
WEIGHTS = [
    ("conv1/kernel", (5, 5, 3, 6)), ("conv1/bias", (6,)),
    ("conv2/kernel", (5, 5, 6, 16)), ("conv2/bias", (16,)),
    ("dense1/kernel", (400, 120)), ("dense1/bias", (120,)),
    ("dense2/kernel", (120, 84)), ("dense2/bias", (84,)),
    ("dense3/kernel", (84, 10)), ("dense3/bias", (10,)),
]
assert sum(math.prod(shape) for _, shape in WEIGHTS) == PARAMETERS

# Keras 3's constructor defaults for the optimizers params.yaml can name (learning_rate aside).
KERAS_OPTIMIZERS = {
    "adam": {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7},
    "adamw": {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, "weight_decay": 0.004},
    "rmsprop": {"rho": 0.9, "epsilon": 1e-7},  # momentum 0, not centered
    "sgd": {},                                 # momentum 0, no Nesterov
}
# Keras' LossScaleOptimizer, which compile() puts around the optimizer under mixed_float16.
LOSS_SCALE_INITIAL, LOSS_SCALE_GROWTH_STEPS = 2.0**15, 2000
PRECISIONS = {"float32": "float32", "mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}
EPSILON = 1e-7  # keras.config.epsilon(): the probability clip of the cross-entropy


def seeds(seed: int) -> list[int]:
    """The per-layer seeds of lenet.build (one per initializer, kernel then bias), then the shuffle's."""
    return np.random.SeedSequence(seed).generate_state(16).tolist()


def glorot_uniform(seed: int) -> list[np.ndarray]:
    """Keras' GlorotUniform for every kernel and bias, each from its own seed (NumPy's generator)."""
    weights = []
    for (_, shape), layer_seed in zip(WEIGHTS, seeds(seed)):
        if len(shape) == 1:  # Keras' compute_fans: a vector's fan_in = fan_out = its length
            fan_in = fan_out = shape[0]
        else:                # receptive field (kernel height x width) times input or output channels
            receptive = math.prod(shape[:-2])
            fan_in, fan_out = shape[-2] * receptive, shape[-1] * receptive
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        weights.append(np.random.default_rng(layer_seed).uniform(-limit, limit, shape).astype(np.float32))
    return weights


def next_loss_scale(finite, scale, good_steps, where):
    """Keras' LossScaleOptimizer after one step, on any framework's tensors (`where`: its select):
    a step with non-finite gradients halves the scale and restarts the count of good steps; the
    LOSS_SCALE_GROWTH_STEPS-th good step in a row doubles it. Returns (scale, good_steps)."""
    grow = good_steps == LOSS_SCALE_GROWTH_STEPS - 1
    return (where(finite, where(grow, scale * 2, scale), scale / 2),
            where(finite & ~grow, good_steps + 1, 0 * good_steps))   # a zero of good_steps' dtype


def adam_epsilon(step, epsilon: float = 1e-7, beta_2: float = 0.999):
    """The epsilon that makes an optimizer with `m_hat / (sqrt(v_hat) + eps)` (torch, optax) take
    Keras' Adam step `lr * sqrt(1 - beta_2^t) / (1 - beta_1^t) * m / (sqrt(v) + epsilon)` at step t (1-based).

    Works on Python numbers and on framework scalars alike.
    """
    return epsilon / (1.0 - beta_2**step) ** 0.5


def batches(n: int, batch_size: int) -> list[tuple[int, int]]:
    """(start, size) of every batch over n images: Keras' rule, a smaller last batch."""
    return [(start, min(batch_size, n - start)) for start in range(0, n, batch_size)]


def save_weights(weights: list[np.ndarray], directory: Path) -> None:
    np.savez(Path(directory) / "weights.npz", **{name: w for (name, _), w in zip(WEIGHTS, weights)})


def load_weights(directory: Path) -> list[np.ndarray]:
    with np.load(Path(directory) / "weights.npz") as saved:
        return [saved[name] for name, _ in WEIGHTS]


class NativeTrainer:
    """The trainer interface of the train and evaluate stages, for a LeNet-5 without Keras.

    Built as `Trainer(contender, module, train)` like every trainer; the stage has seeded the
    backend and set its deterministic mode first (launch.Started.seed). Subclasses set DEFAULT_JIT,
    OPTIMIZERS (one builder per name of KERAS_OPTIMIZERS, called with Keras' options as keywords by
    `make_optimizer`) and implement the primitives below the line.
    """
    DEFAULT_JIT = True
    graph = True      # False: not even a graph (TensorFlow's eager mode, jit=False)
    OPTIMIZERS: dict = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if set(cls.OPTIMIZERS) != set(KERAS_OPTIMIZERS):
            raise TypeError(f"{cls.__module__}.{cls.__name__}.OPTIMIZERS has {sorted(cls.OPTIMIZERS)}, "
                            f"expected {sorted(KERAS_OPTIMIZERS)}")

    def __init__(self, contender, module, train_params):
        if train_params.optimizer not in KERAS_OPTIMIZERS:
            raise ValueError(f"optimizer '{train_params.optimizer}' not supported; "
                             f"known: {', '.join(KERAS_OPTIMIZERS)}")
        if train_params.precision not in PRECISIONS:
            raise ValueError(f"precision '{train_params.precision}' not supported; known: {', '.join(PRECISIONS)}")
        self.contender = contender
        self.backend = backends.get(contender.backend)
        self.train_params = train_params
        self.precision = train_params.precision
        self.compute_dtype = PRECISIONS[self.precision]
        self.loss_scaling = self.precision == "mixed_float16"  # as Keras' compile does
        requested = contender.jit_request(train_params.jit_compile)
        self.jit = self.DEFAULT_JIT if requested is None else requested
        self.optimizer_options = {"learning_rate": train_params.learning_rate,
                                  **KERAS_OPTIMIZERS[train_params.optimizer]}
        self._shuffle_rng = np.random.default_rng(0)

    def make_optimizer(self, *args):
        """The backend's optimizer for params' name: its OPTIMIZERS builder, given `args` (what the
        framework needs first, e.g. torch's parameters) and Keras' options as keywords."""
        return self.OPTIMIZERS[self.train_params.optimizer](*args, **self.optimizer_options)

    def build(self, seed: int) -> None:
        """Draw the initial weights and the shuffle order's generator from `seed`, create the model and
        the optimizer state (nothing here draws from the framework's global RNG)."""
        self._shuffle_rng = np.random.default_rng(seeds(seed)[len(WEIGHTS)])
        self._build(glorot_uniform(seed))
        count = self.count_params()
        if count != PARAMETERS:
            raise AssertionError(f"native LeNet-5 ({self.backend.name}) has {count} parameters, expected {PARAMETERS}")

    def fit(self, x: np.ndarray, y: np.ndarray, hooks) -> None:
        """Keras fit's loop: split, per-epoch shuffle, batches with a smaller last one, epoch logs.

        hooks.fit_begin() once the data is on the device, then per epoch
        hooks.epoch_begin(e), then (with a validation split) hooks.validation_begin(e) and
        hooks.validation_end(e) around validation, then hooks.epoch_end(e, logs); a true
        return from epoch_end stops training.
        """
        p = self.train_params
        n = p.train_count(len(x))
        train = self._put(x[:n], y[:n])
        val = self._put(x[n:], y[n:]) if n < len(x) else None
        hooks.fit_begin()
        for epoch in range(p.epochs):
            hooks.epoch_begin(epoch)
            order = self._shuffle_rng.permutation(n) if p.shuffle else np.arange(n)
            order = self._put_order(order)
            self._reset_metrics()
            for start, size in batches(n, p.batch_size):
                self._train_batch(train, order, start, size)
            loss_sum, correct = self._read_metrics()  # host floats: the device has finished the epoch
            logs = {"loss": loss_sum / n, "accuracy": correct / n}
            if val is not None:
                hooks.validation_begin(epoch)
                loss_sum, correct = self._evaluate(val, p.batch_size)
                logs |= {"val_loss": loss_sum / (len(x) - n), "val_accuracy": correct / (len(x) - n)}
                hooks.validation_end(epoch)
            if hooks.epoch_end(epoch, logs):
                break

    def predict(self, x: np.ndarray, batch_size: int) -> np.ndarray:
        data = self._put(x, None)
        return np.asarray(self._predict(data, batch_size, to_host=True), dtype=np.float32)

    def forward_pass(self, x: np.ndarray, batch_size: int):
        """x goes to the device once; the returned function runs one forward pass over it and waits."""
        data = self._put(x, None)
        return lambda: self._predict(data, batch_size, to_host=False)

    def save(self, directory: Path) -> None:
        save_weights(self.get_weights(), directory)

    def load(self, directory: Path) -> None:
        """Restores the weights of save() into a fresh model (optimizer state starts anew)."""
        self._build(load_weights(directory))

    def describe(self) -> dict:
        return {"jit_compile": self.jit, "jit_meaning": self.backend.jit_meaning(self.jit, eager=not self.graph),
                "compute_dtype": self.compute_dtype, "variable_dtype": "float32"}

    # ---- framework primitives ------------------------------------------------------------
    def _build(self, weights: list[np.ndarray]) -> None: raise NotImplementedError
    def _put(self, x, y): raise NotImplementedError                   # numpy -> device data
    def _put_order(self, order: np.ndarray): raise NotImplementedError
    def _reset_metrics(self) -> None: raise NotImplementedError
    def _train_batch(self, data, order, start: int, size: int) -> None: raise NotImplementedError
    def _read_metrics(self) -> tuple[float, float]: raise NotImplementedError  # (loss sum, correct)
    def _evaluate(self, data, batch_size: int) -> tuple[float, float]: raise NotImplementedError
    def _predict(self, data, batch_size: int, to_host: bool): raise NotImplementedError
    def count_params(self) -> int: raise NotImplementedError
    def get_weights(self) -> list[np.ndarray]: raise NotImplementedError
    def set_weights(self, weights) -> None: raise NotImplementedError
