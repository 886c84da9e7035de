"""LeNet-5 for 32x32x3 input, written once for every contender's `keras` module."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

PARAMETERS = 62_006  # 456 + 2,416 + 48,120 + 10,164 + 850

OPTIMIZERS = {"adam": "Adam", "sgd": "SGD", "rmsprop": "RMSprop", "adamw": "AdamW"}


def build(keras, seed: int, input_shape=(32, 32, 3), num_classes: int = 10):
    """The article's LeNet-5: tanh convolutions, average pooling, GlorotUniform weights and biases.

    Each initializer gets its own seed derived from `seed` (one shared seeded initializer
    would give every layer of the same shape the same values).
    """
    seeds = iter(np.random.SeedSequence(seed).generate_state(16).tolist())

    def glorot():
        return keras.initializers.GlorotUniform(seed=next(seeds))

    def init():
        return {"kernel_initializer": glorot(), "bias_initializer": glorot()}

    L = keras.layers
    model = keras.Sequential([
        keras.Input(shape=input_shape),
        L.Conv2D(6, 5, strides=1, activation="tanh", **init()),
        L.AveragePooling2D(pool_size=2, strides=2),
        L.Conv2D(16, 5, strides=1, activation="tanh", **init()),
        L.AveragePooling2D(pool_size=2, strides=2),
        L.Flatten(),
        L.Dense(120, activation="tanh", **init()),
        L.Dense(84, activation="tanh", **init()),
        L.Dense(num_classes, activation="softmax", **init()),
    ], name="lenet5")
    count = model.count_params()
    if count != PARAMETERS:
        raise AssertionError(f"LeNet-5 has {count} parameters, expected {PARAMETERS}")
    return model


def compile_model(keras, model, train) -> None:
    """Compile with the params' optimizer; jit_compile 'default' leaves the framework's own choice."""
    optimizer = getattr(keras.optimizers, OPTIMIZERS[train.optimizer])(learning_rate=train.learning_rate)
    extra = {} if train.jit_compile == "default" else {"jit_compile": train.jit_compile}
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"], **extra)


def effective_jit_compile(model) -> bool:
    """What the framework resolved jit_compile to (Keras 3 resolves 'auto'; tf-keras keeps None = off)."""
    return bool(getattr(model, "jit_compile", False))


def train_count(n: int, validation_split: float) -> int:
    """Keras fit's split: the first floor(n * (1 - split)) samples train, the rest validate (before shuffling)."""
    return int(math.floor(n * (1.0 - validation_split)))


def scale(images: np.ndarray) -> np.ndarray:
    """uint8 HWC images to float32 in [0, 1]."""
    scaled = images.astype(np.float32)
    scaled /= np.float32(255.0)  # in place: no second full-size copy
    return scaled


class KerasTrainer:
    """The trainer interface (contenders.Trainer) for every Keras contender: `model.fit` as users call it."""

    MODEL_FILE = "model.keras"

    def __init__(self, keras, backend: str, train, *, deterministic: bool = False, precision: str = "float32"):
        self.keras, self.backend, self.train = keras, backend, train
        self.deterministic = deterministic
        self.model = None
        # Keras' own mixed precision: a global dtype policy before the model is built; compile()
        # then wraps the optimizer in a LossScaleOptimizer for mixed_float16.
        keras.mixed_precision.set_global_policy(precision)

    def build(self, seed: int) -> None:
        self.model = build(self.keras, seed)
        compile_model(self.keras, self.model, self.train)

    def count_params(self) -> int:
        return self.model.count_params()

    def fit(self, x: np.ndarray, y: np.ndarray, clock) -> None:
        t = self.train
        self.model.fit(x, y, batch_size=t.batch_size, epochs=t.epochs, validation_split=t.validation_split,
                       shuffle=t.shuffle, callbacks=[self._clock_callback(clock)],
                       verbose=0)  # the progress bar would hook every batch

    def _clock_callback(self, clock):
        """Epoch and test hooks only, so Keras keeps its fast path (no per-batch callbacks)."""
        class Clock(self.keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                clock.fit_begin()

            def on_epoch_begin(self, epoch, logs=None):
                clock.epoch_begin(epoch)

            def on_test_begin(self, logs=None):
                clock.validation_begin(None)

            def on_test_end(self, logs=None):
                clock.validation_end(None)

            def on_epoch_end(self, epoch, logs=None):
                if clock.epoch_end(epoch, logs):
                    self.model.stop_training = True
        return Clock()

    def predict(self, x: np.ndarray, batch_size: int) -> np.ndarray:
        return self.model.predict(x, batch_size=batch_size, verbose=0)

    def forward_pass(self, x: np.ndarray, batch_size: int):
        from kerasbench import backends
        return backends.keras_forward(self.backend, self.model, x, batch_size, self.describe()["jit_compile"])

    def get_weights(self) -> list[np.ndarray]:
        return self.model.get_weights()

    def set_weights(self, weights) -> None:
        self.model.set_weights(weights)

    def save(self, directory: Path) -> None:
        self.model.save(Path(directory) / self.MODEL_FILE)

    def load(self, directory: Path) -> None:
        self.model = self.keras.models.load_model(Path(directory) / self.MODEL_FILE)

    def describe(self) -> dict:
        from kerasbench import backends
        jit = effective_jit_compile(self.model)
        first = self.model.layers[0]  # the first convolution: what the layers actually compute in
        return {"jit_compile": jit, "jit_meaning": backends.jit_meaning(self.backend, self.keras.__name__, jit),
                "compute_dtype": str(first.compute_dtype), "variable_dtype": str(first.variable_dtype)}
