"""The trainer of every Keras contender: `model.fit`, `model.predict` and `model.save` as users call them,
with the epoch clock hooked in through epoch-level callbacks only (Keras keeps its fast path)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from kerasbench import backends, lenet


class KerasTrainer:
    """The trainer interface (launch.Trainer) for every Keras contender: `model.fit` as users call it."""

    MODEL_FILE = "model.keras"

    def __init__(self, contender, keras, train):
        self.contender, self.keras, self.train = contender, keras, train
        self.backend = backends.get(contender.backend)
        self.jit = contender.jit_request(train.jit_compile)   # None: Keras' own choice ("auto")
        self.model = None
        # Keras' own mixed precision: a global dtype policy before the model is built; compile()
        # then wraps the optimizer in a LossScaleOptimizer for mixed_float16.
        keras.mixed_precision.set_global_policy(train.precision)

    def build(self, seed: int) -> None:
        self.model = lenet.build(self.keras, seed)
        lenet.compile_model(self.keras, self.model, self.train, self.jit)

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
        return self.backend.keras_forward(self.model, x, batch_size, self.describe()["jit_compile"])

    def get_weights(self) -> list[np.ndarray]:
        return self.model.get_weights()

    def set_weights(self, weights) -> None:
        self.model.set_weights(weights)

    def save(self, directory: Path) -> None:
        self.model.save(Path(directory) / self.MODEL_FILE)

    def load(self, directory: Path) -> None:
        self.model = self.keras.models.load_model(Path(directory) / self.MODEL_FILE)

    def describe(self) -> dict:
        jit = lenet.effective_jit_compile(self.model)
        first = self.model.layers[0]  # the first convolution: what the layers actually compute in
        return {"jit_compile": jit, "jit_meaning": self.backend.jit_meaning(jit),
                "compute_dtype": str(first.compute_dtype), "variable_dtype": str(first.variable_dtype)}
