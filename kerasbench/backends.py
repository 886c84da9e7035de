"""Every difference between the three backends (TensorFlow, JAX, PyTorch), in one place.

Seeding and deterministic mode, the devices a backend sees and its CUDA build, bringing it to
the same starting point before memory baselines, its GPU memory peak (and which definition that
peak is), its CPU thread settings, and what `jit_compile` means for it. Functions take the
backend's name; they import the framework lazily, so call them only after
`contenders.activate()`.
"""
from __future__ import annotations

import importlib
import importlib.metadata
import os
import random


def deterministic_env(backend: str, on_cpu_only: bool) -> dict[str, str]:
    """Variables that must be set before the framework is imported, for deterministic kernels."""
    env = {"TF_DETERMINISTIC_OPS": "1"} if backend == "tensorflow" else {}
    if backend == "torch":
        env["CUBLAS_WORKSPACE_CONFIG"] = ":4096:8"  # required by torch's deterministic mode on CUDA
    if backend in ("jax", "tensorflow") and not on_cpu_only:
        flags = os.environ.get("XLA_FLAGS", "")
        env["XLA_FLAGS"] = f"{flags} --xla_gpu_deterministic_ops=true".strip()
    return env


def seed_everything(backend: str, seed: int, deterministic: bool, keras=None) -> None:
    """Seed Python, NumPy and the backend; with `deterministic`, turn on its deterministic mode.

    Without it every framework keeps its own defaults (autotuning, non-deterministic kernels
    where it picks them), as users run it.
    """
    import numpy as np
    if keras is not None:
        keras.utils.set_random_seed(seed)  # Python, NumPy and the backend's global seed
    else:
        random.seed(seed)
        np.random.seed(seed)
        if backend == "tensorflow":
            import tensorflow as tf
            tf.random.set_seed(seed)
        elif backend == "torch":
            import torch
            torch.manual_seed(seed)
        # JAX has no global seed: native JAX code derives its keys from `seed` explicitly.
    if not deterministic:
        return
    if backend == "tensorflow":
        import tensorflow as tf
        tf.config.experimental.enable_op_determinism()
    elif backend == "torch":
        import torch
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    # JAX: deterministic on CPU; on GPU the XLA flag of deterministic_env() does it.


def version(backend: str) -> str:
    return importlib.import_module(backend).__version__


def visible_gpus(backend: str) -> list[str]:
    """Names of the GPUs this backend will use (empty on CPU)."""
    if backend == "tensorflow":
        import tensorflow as tf
        return [d.name for d in tf.config.list_physical_devices("GPU")]
    if backend == "jax":
        import jax
        return [str(d) for d in jax.devices() if d.platform == "gpu"]
    import torch
    if not torch.cuda.is_available():  # device_count() can be non-zero with a driver too old for torch's CUDA
        return []
    return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]


def cuda_build(backend: str) -> str | None:
    """The CUDA version this backend's installed build targets, or None for a CPU-only build."""
    if backend == "torch":
        import torch
        return f"CUDA {torch.version.cuda}" if torch.version.cuda else None
    if backend == "tensorflow":
        import tensorflow as tf
        cuda = tf.sysconfig.get_build_info().get("cuda_version")
        return f"CUDA {cuda}" if cuda else None
    plugins = sorted(d.metadata["Name"] for d in importlib.metadata.distributions()
                     if (d.metadata["Name"] or "").lower().startswith("jax-cuda") and
                     (d.metadata["Name"] or "").lower().endswith("plugin"))
    return ", ".join(f"CUDA {p.lower().split('cuda')[1].split('-')[0]} ({p})" for p in plugins) or None


def warm_up(backend: str) -> None:
    """Create the backend's context on its default device and run one tiny op there, synchronised.

    Called right after import for every contender, so that memory baselines all start from the
    same point: JAX and torch would otherwise create their CUDA context lazily at different moments
    from TensorFlow (which creates it at model build).
    """
    if backend == "tensorflow":
        import tensorflow as tf
        (tf.ones((2, 2)) @ tf.ones((2, 2))).numpy()
    elif backend == "jax":
        import jax.numpy as jnp
        (jnp.ones((2, 2)) @ jnp.ones((2, 2))).block_until_ready()
    else:
        import torch
        device = "cuda" if torch.cuda.is_available() else "cpu"
        (torch.ones((2, 2), device=device) @ torch.ones((2, 2), device=device)).cpu()


def synchronize(backend: str, value=None) -> None:
    """Wait until the device has finished the work queued so far (and `value` is computed)."""
    if backend == "jax":
        import jax
        if value is not None:
            jax.block_until_ready(value)
    elif backend == "torch":
        import torch
        if torch.cuda.is_available():
            torch.cuda.synchronize()
    elif value is not None:  # TensorFlow: reading a result back waits for the ops that made it
        value.numpy()


# The GPU peak: each framework's own allocator figure, and which definition it is.
GPU_PEAK_SOURCES = {
    "tensorflow": "tensorflow_allocator_peak",     # tf.config.experimental.get_memory_info()["peak"], reset before fit
    "torch": "torch_max_memory_allocated",         # torch.cuda.max_memory_allocated(), reset before fit
    "jax": "jax_peak_bytes_in_use",                # device.memory_stats()["peak_bytes_in_use"]: since process start
}


def reset_gpu_peak(backend: str) -> None:
    if backend == "tensorflow":
        import tensorflow as tf
        tf.config.experimental.reset_memory_stats("GPU:0")
    elif backend == "torch":
        import torch
        torch.cuda.reset_peak_memory_stats()
    # JAX has no reset: its peak counts from process start (after warm_up, a few bytes).


def gpu_peak(backend: str) -> tuple[int | None, str | None]:
    """(peak bytes on GPU 0, source) from the framework's own allocator; (None, None) if it has none."""
    if backend == "tensorflow":
        import tensorflow as tf
        return int(tf.config.experimental.get_memory_info("GPU:0")["peak"]), GPU_PEAK_SOURCES[backend]
    if backend == "jax":
        import jax
        stats = jax.devices()[0].memory_stats() or {}
        if "peak_bytes_in_use" not in stats:
            return None, None
        return int(stats["peak_bytes_in_use"]), GPU_PEAK_SOURCES[backend]
    import torch
    return int(torch.cuda.max_memory_allocated()), GPU_PEAK_SOURCES[backend]


THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
               "TF_NUM_INTEROP_THREADS")


def pin(n: int) -> list[int]:
    """Restrict this process (every thread it has, and so every thread it will start) to the last `n`
    of the CPUs it may use, leaving the first ones (where interrupts and most daemons run) to the rest
    of the machine; set the usual thread-count variables to `n` for what is imported next. Call
    before any framework import. Returns the CPUs chosen."""
    cpus = sorted(os.sched_getaffinity(0))[-n:]
    for tid in os.listdir("/proc/self/task"):
        try:
            os.sched_setaffinity(int(tid), cpus)
        except (ProcessLookupError, PermissionError):  # a thread that just ended
            pass
    os.environ.update({name: str(n) for name in THREAD_VARS})
    return cpus


def set_threads(backend: str, n: int) -> None:
    """The framework's own intra-op and inter-op pools to `n` threads, right after its import.

    JAX has no such setting: XLA sizes its CPU pool from the CPUs the process may run on
    (sched_getaffinity), so `pin` is what sets it.
    """
    if backend == "tensorflow":
        import tensorflow as tf
        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(n)
    elif backend == "torch":
        import torch
        torch.set_num_threads(n)
        torch.set_num_interop_threads(n)


def threads(backend: str, param="default") -> dict:
    """CPU thread settings that change speed: the param, the CPUs this process may use and its
    cgroup quota, the framework's own pools and the usual variables.

    TensorFlow reports 0 for "its default" (as many threads as cores); null means not applicable.
    """
    from kerasbench import host
    cpus = host.allowed_cpus()
    out = {"param": param, "cpus_usable": len(cpus), "allowed_cpus": cpus,
           "cgroup_cpu_quota": host.cgroup_cpu_quota()["cpus"], "tf_intra_op": None, "tf_inter_op": None,
           "torch_intra_op": None, "torch_inter_op": None}
    if backend == "tensorflow":
        import tensorflow as tf
        out["tf_intra_op"] = tf.config.threading.get_intra_op_parallelism_threads()
        out["tf_inter_op"] = tf.config.threading.get_inter_op_parallelism_threads()
    elif backend == "torch":
        import torch
        out["torch_intra_op"], out["torch_inter_op"] = torch.get_num_threads(), torch.get_num_interop_threads()
    out |= {name: os.environ.get(name) for name in THREAD_VARS}
    out["XLA_FLAGS"] = os.environ.get("XLA_FLAGS") if backend in ("jax", "tensorflow") else None
    out["process_threads"], out["threads_off_pin"] = _threads_on(set(cpus))
    return out


def _threads_on(cpus: set[int]) -> tuple[int | None, int | None]:
    """(threads of this process now, how many of them may run outside `cpus`); None, None without /proc."""
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return None, None
    outside = 0
    for tid in tids:
        try:
            outside += not os.sched_getaffinity(int(tid)) <= cpus
        except (ProcessLookupError, OSError):
            pass
    return len(tids), outside


def jit_meaning(backend: str, keras_module: str | None, effective: bool) -> str:
    """What an effective jit_compile value means for a Keras contender on this backend."""
    if backend == "jax":
        return "jax.jit (XLA)" if effective else "eager JAX ops, no jax.jit"
    if backend == "torch":
        return "torch.compile" if effective else "eager PyTorch"
    return "tf.function graph + XLA" if effective else "tf.function graph, no XLA"


def keras_forward(backend: str, model, x, batch_size: int, jit: bool):
    """A function running one forward pass of a Keras model over `x`, already on the device.

    The data is copied to the device once, here; the pass is compiled the way `predict` would
    compile it for this backend (jit_compile as resolved), and the function returns after the
    device has finished.
    """
    starts = range(0, len(x), batch_size)
    if backend == "tensorflow":
        import tensorflow as tf
        device = "/GPU:0" if tf.config.list_physical_devices("GPU") else "/CPU:0"
        with tf.device(device):
            batches = [tf.identity(tf.constant(x[i:i + batch_size])) for i in starts]
        step = tf.function(lambda b: model(b, training=False), jit_compile=jit)
    elif backend == "jax":
        import jax
        batches = [jax.device_put(x[i:i + batch_size]) for i in starts]
        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]

        def call(b):
            return model.stateless_call(trainable, non_trainable, b, training=False)[0]
        step = jax.jit(call) if jit else call
    else:
        import torch
        device = "cuda" if torch.cuda.is_available() else "cpu"
        batches = [torch.as_tensor(x[i:i + batch_size], device=device) for i in starts]

        def call(b):
            with torch.no_grad():
                return model(b, training=False)
        step = torch.compile(call) if jit else call
    synchronize(backend, batches[-1] if backend != "torch" else None)

    def run():
        out = None
        for b in batches:
            out = step(b)
        synchronize(backend, out)
    return run


# ---- persistent compilation caches -----------------------------------------------------------

def compile_cache_env(backend: str, directory: str) -> dict[str, str]:
    """Variables (read at import) that point the backend's persistent compilation cache at `directory`."""
    if backend == "jax":
        return {"JAX_COMPILATION_CACHE_DIR": directory, "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
                "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"}  # LeNet compiles fast: cache everything
    if backend == "tensorflow":
        flags = os.environ.get("TF_XLA_FLAGS", "")
        return {"TF_XLA_FLAGS": f"{flags} --tf_xla_persistent_cache_directory={directory}".strip()}
    return {"TORCHINDUCTOR_CACHE_DIR": directory, "TORCHINDUCTOR_FX_GRAPH_CACHE": "1",
            "TRITON_CACHE_DIR": os.path.join(directory, "triton")}


def compile_cache_gap(backend: str, jit: bool) -> str | None:
    """Why this backend keeps no persistent compilation cache with this jit setting (None: it does)."""
    if jit:
        return None
    return {"jax": "eager JAX ops compile nothing to keep",
            "tensorflow": "without XLA, tf.function graphs are traced anew in every process; TensorFlow "
                          "keeps only XLA executables on disk",
            "torch": "eager PyTorch compiles nothing to keep (only torch.compile has a cache)"}[backend]
