"""The same LeNet-5 as a plain PyTorch `nn.Module` and training loop, no Keras (kerasbench/trainers/torch_lenet.py)."""
from kerasbench.contenders import Contender

CONTENDER = Contender(
    name="torch_native", backend="torch", packages=("torch",),
    trainer="kerasbench.trainers.torch_lenet:Trainer",
    summary="the same LeNet-5 as an `nn.Module` with a plain PyTorch training loop, no Keras")
