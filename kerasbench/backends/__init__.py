"""Every difference between the three backends (TensorFlow, JAX, PyTorch): one `Backend` each.

Keras and native trainers, the stages and the device rule all go through these objects: seeding
and deterministic mode, the device code runs on and waiting for it, the GPUs a backend sees and
its CUDA build, bringing it to the same starting point before memory baselines, its GPU memory peak
(and which definition that peak is), CPU threads, what `jit_compile` means, and its persistent
compilation cache. A method imports its framework when it runs, so a Backend can be used before
the framework is imported (the variables that must be set first) and after (everything else);
`kerasbench.launch.activate()` must come between the two.

    backend = backends.get("torch")
"""
from __future__ import annotations

import functools

from kerasbench.backends.base import THREAD_VARS, Backend
from kerasbench.backends.jax import Jax
from kerasbench.backends.tensorflow import TensorFlow
from kerasbench.backends.torch import Torch

__all__ = ["THREAD_VARS", "Backend", "get"]


@functools.lru_cache(maxsize=None)
def get(name: str) -> Backend:
    """The Backend of a framework: tensorflow, jax or torch."""
    found = {b.name: b for b in (TensorFlow(), Jax(), Torch())}
    if name not in found:
        raise ValueError(f"unknown backend '{name}'; known: {', '.join(found)}")
    return found[name]
