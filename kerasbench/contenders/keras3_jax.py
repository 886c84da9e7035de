"""Keras 3 on JAX."""
from kerasbench.contenders import Contender

CONTENDER = Contender(
    name="keras3_jax", backend="jax", packages=("jax", "jaxlib", "keras"), keras="keras",
    environ={"KERAS_BACKEND": "jax"}, baseline="jax_native",
    summary="Keras 3 with `KERAS_BACKEND=jax`")
