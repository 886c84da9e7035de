"""Keras 3 on PyTorch with `jit_compile=True`: Keras wraps its train step in torch.compile.

Whatever train.jit_compile says, this contender compiles: that is what it is for (users ask how
much torch.compile buys under Keras, keras-team/keras#21851). torch.compile takes minutes on a
CPU, so it is not in params.yaml's default `frameworks`.
"""
from kerasbench.contenders import Contender

CONTENDER = Contender(
    name="keras3_torch_compile", backend="torch", packages=("torch", "keras"), keras="keras",
    environ={"KERAS_BACKEND": "torch"}, jit=True, baseline="torch_native_compile",
    summary="Keras 3 on torch with `jit_compile=True` (torch.compile)")
