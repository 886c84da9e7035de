"""Native contenders: kerasbench.lenet's LeNet-5 written directly in PyTorch, JAX (+ optax) and
TensorFlow, without Keras, to measure what Keras costs on each backend.

One module per backend (torch_lenet, jax_lenet, tf_lenet), each with a `Trainer` class that the
stages drive exactly like a Keras contender's trainer; common.py holds what they share (initial
weights, Keras' optimizer defaults and batch rules, the fit loop). Importing a backend module
imports its framework: select the contender first (contenders.activate), one per process.

Where a native model cannot be made identical to Keras on the same backend, its module's
docstring says so; tests/test_native.py checks every other optimizer to 1e-5 after one step
from the same weights.
"""
