"""TensorFlow: tf.config for threads, devices and memory; op determinism; XLA as its jit."""
from __future__ import annotations

import os

from kerasbench.backends.base import Backend


class TensorFlow(Backend):
    name = "tensorflow"
    gpu_peak_source = "tensorflow_allocator_peak"   # tf.config.experimental.get_memory_info()["peak"], reset before fit

    def deterministic_env(self, on_cpu_only: bool) -> dict[str, str]:
        env = {"TF_DETERMINISTIC_OPS": "1"}
        if not on_cpu_only:
            env["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --xla_gpu_deterministic_ops=true".strip()
        return env

    def compile_cache_env(self, directory: str) -> dict[str, str]:
        flags = os.environ.get("TF_XLA_FLAGS", "")
        return {"TF_XLA_FLAGS": f"{flags} --tf_xla_persistent_cache_directory={directory}".strip()}

    def compile_cache_gap(self, jit: bool) -> str | None:
        return None if jit else ("without XLA, tf.function graphs are traced anew in every process; TensorFlow "
                                 "keeps only XLA executables on disk")

    def set_threads(self, n: int) -> None:
        import tensorflow as tf
        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(n)

    def pools(self) -> dict:
        import tensorflow as tf
        return {"tf_intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                "tf_inter_op": tf.config.threading.get_inter_op_parallelism_threads()}

    def _seed(self, seed: int) -> None:
        import tensorflow as tf
        tf.random.set_seed(seed)

    def _deterministic(self) -> None:
        import tensorflow as tf
        tf.config.experimental.enable_op_determinism()

    def visible_gpus(self) -> list[str]:
        import tensorflow as tf
        return [d.name for d in tf.config.list_physical_devices("GPU")]

    def cuda_build(self) -> str | None:
        import tensorflow as tf
        cuda = tf.sysconfig.get_build_info().get("cuda_version")
        return f"CUDA {cuda}" if cuda else None

    def warm_up(self) -> None:
        import tensorflow as tf
        (tf.ones((2, 2)) @ tf.ones((2, 2))).numpy()

    def device(self) -> str:
        import tensorflow as tf
        return "/GPU:0" if tf.config.list_physical_devices("GPU") else "/CPU:0"

    def synchronize(self, value=None) -> None:
        if value is not None:   # reading a result back waits for the ops that made it (one stream, in order)
            value.numpy()

    def reset_gpu_peak(self) -> None:
        import tensorflow as tf
        tf.config.experimental.reset_memory_stats("GPU:0")

    def gpu_peak(self) -> tuple[int | None, str | None]:
        import tensorflow as tf
        return int(tf.config.experimental.get_memory_info("GPU:0")["peak"]), self.gpu_peak_source

    def jit_meaning(self, effective: bool, eager: bool = False) -> str:
        if eager:
            return "eager TensorFlow ops, no tf.function"
        return "tf.function graph + XLA" if effective else "tf.function graph, no XLA"

    def keras_forward(self, model, x, batch_size: int, jit: bool):
        import tensorflow as tf
        with tf.device(self.device()):
            batches = [tf.identity(tf.constant(x[i:i + batch_size])) for i in range(0, len(x), batch_size)]
        step = tf.function(lambda b: model(b, training=False), jit_compile=jit)
        self.synchronize(batches[-1])

        def run():
            out = None
            for b in batches:
                out = step(b)
            self.synchronize(out)
        return run
