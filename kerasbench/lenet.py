"""LeNet-5 for 32x32x3 input, written once for every contender's `keras` module, and the scaling every
trainer applies to the images. Keras' validation split is params.Train.train_count; the Keras trainer is
kerasbench/trainers/keras_fit.py."""
from __future__ import annotations

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


def compile_model(keras, model, train, jit: bool | None) -> None:
    """Compile with the params' optimizer; jit None leaves the framework's own choice."""
    optimizer = getattr(keras.optimizers, OPTIMIZERS[train.optimizer])(learning_rate=train.learning_rate)
    extra = {} if jit is None else {"jit_compile": jit}
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"], **extra)


def effective_jit_compile(model) -> bool:
    """What the framework resolved jit_compile to (Keras 3 resolves 'auto'; tf-keras keeps None = off)."""
    return bool(getattr(model, "jit_compile", False))


def scale(images: np.ndarray) -> np.ndarray:
    """uint8 HWC images to float32 in [0, 1]."""
    scaled = images.astype(np.float32)
    scaled /= np.float32(255.0)  # in place: no second full-size copy
    return scaled
