"""Keras 3 on PyTorch, eager unless train.jit_compile says otherwise."""
from kerasbench.contenders import Contender

CONTENDER = Contender(
    name="keras3_torch", backend="torch", packages=("torch", "keras"), keras="keras",
    environ={"KERAS_BACKEND": "torch"}, baseline="torch_native",
    summary="Keras 3 with `KERAS_BACKEND=torch`")
