"""Keras Core 0.1.7, the last release before it became Keras 3, on TensorFlow."""
from kerasbench.contenders import Contender

CONTENDER = Contender(
    name="keras_core", backend="tensorflow", packages=("tensorflow", "keras-core"), keras="keras_core",
    environ={"KERAS_BACKEND": "tensorflow"},
    summary="the `keras-core` package (0.1.7, the last release before it became Keras 3), TensorFlow backend")
