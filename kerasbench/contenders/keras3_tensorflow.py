"""Keras 3 on TensorFlow."""
from kerasbench.contenders import Contender

CONTENDER = Contender(
    name="keras3_tensorflow", backend="tensorflow", packages=("tensorflow", "keras"), keras="keras",
    environ={"KERAS_BACKEND": "tensorflow"}, baseline="tf_native",
    summary="Keras 3 with `KERAS_BACKEND=tensorflow`")
