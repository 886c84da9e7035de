"""JAX: device_put and block_until_ready; no global seed (keys are explicit); XLA's jit; its pool sized by affinity."""
from __future__ import annotations

import importlib.metadata
import os

from kerasbench.backends.base import Backend


class Jax(Backend):
    name = "jax"
    gpu_peak_source = "jax_peak_bytes_in_use"   # device.memory_stats()["peak_bytes_in_use"]: since process start

    def deterministic_env(self, on_cpu_only: bool) -> dict[str, str]:
        if on_cpu_only:   # JAX's CPU kernels are deterministic
            return {}
        return {"XLA_FLAGS": f"{os.environ.get('XLA_FLAGS', '')} --xla_gpu_deterministic_ops=true".strip()}

    def compile_cache_env(self, directory: str) -> dict[str, str]:
        return {"JAX_COMPILATION_CACHE_DIR": directory, "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
                "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"}   # LeNet compiles fast: cache everything

    def compile_cache_gap(self, jit: bool) -> str | None:
        return None if jit else "eager JAX ops compile nothing to keep"

    # set_threads: JAX has no such setting; XLA sizes its CPU pool from the CPUs the process may run on
    # (sched_getaffinity), so pin() is what sets it.

    def visible_gpus(self) -> list[str]:
        import jax
        return [str(d) for d in jax.devices() if d.platform == "gpu"]

    def cuda_build(self) -> str | None:
        plugins = sorted(d.metadata["Name"] for d in importlib.metadata.distributions()
                         if (d.metadata["Name"] or "").lower().startswith("jax-cuda") and
                         (d.metadata["Name"] or "").lower().endswith("plugin"))
        return ", ".join(f"CUDA {p.lower().split('cuda')[1].split('-')[0]} ({p})" for p in plugins) or None

    def warm_up(self) -> None:
        import jax.numpy as jnp
        (jnp.ones((2, 2)) @ jnp.ones((2, 2))).block_until_ready()

    def device(self):
        import jax
        return jax.devices()[0]

    def synchronize(self, value=None) -> None:
        import jax
        if value is not None:
            jax.block_until_ready(value)

    # reset_gpu_peak: JAX has none; its peak counts from process start (after warm_up, a few bytes).

    def gpu_peak(self) -> tuple[int | None, str | None]:
        import jax
        stats = jax.devices()[0].memory_stats() or {}
        if "peak_bytes_in_use" not in stats:
            return None, None
        return int(stats["peak_bytes_in_use"]), self.gpu_peak_source

    def jit_meaning(self, effective: bool, eager: bool = False) -> str:
        return "jax.jit (XLA)" if effective else "eager JAX ops, no jax.jit"

    def keras_forward(self, model, x, batch_size: int, jit: bool):
        import jax
        batches = [jax.device_put(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]

        def call(b):
            return model.stateless_call(trainable, non_trainable, b, training=False)[0]
        step = jax.jit(call) if jit else call
        self.synchronize(batches[-1])

        def run():
            out = None
            for b in batches:
                out = step(b)
            self.synchronize(out)
        return run
