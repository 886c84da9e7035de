"""Keras 2, the `tf-keras` package (what `tf.keras` was before TensorFlow 2.16), on TensorFlow."""
from kerasbench.contenders import Contender

CONTENDER = Contender(
    name="tf_keras", backend="tensorflow", packages=("tensorflow", "tf-keras"), keras="tf_keras",
    environ={"TF_USE_LEGACY_KERAS": "1"},
    summary="Keras 2 (the `tf-keras` package, `TF_USE_LEGACY_KERAS=1`) on TensorFlow")
