"""The same LeNet-5 as pure JAX functions, a `jax.jit` train step and optax, no Keras
(kerasbench/trainers/jax_lenet.py)."""
from kerasbench.contenders import Contender

CONTENDER = Contender(
    name="jax_native", backend="jax", packages=("jax", "jaxlib", "optax"),
    trainer="kerasbench.trainers.jax_lenet:Trainer",
    summary="the same LeNet-5 as pure JAX functions, `jax.jit` train step, optax")
