"""torch_native with the model compiled by torch.compile (forward and backward; the optimizer stays eager).

Always compiled, whatever train.jit_compile says; the baseline of keras3_torch_compile. Not in
params.yaml's default `frameworks`: torch.compile takes minutes on a CPU.
"""
from kerasbench.contenders import Contender

CONTENDER = Contender(
    name="torch_native_compile", backend="torch", packages=("torch",),
    trainer="kerasbench.trainers.torch_lenet:Trainer", jit=True,
    summary="torch_native with the model compiled by `torch.compile`")
