"""What every backend shares: the interface, pinning threads to CPUs, and the thread record."""
from __future__ import annotations

import os
import random

# Thread-count variables the usual libraries read at import (OpenMP, MKL, OpenBLAS, TensorFlow).
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
               "TF_NUM_INTEROP_THREADS")


class Backend:
    """What every backend shares; a subclass per framework fills in the rest."""
    name = ""
    gpu_peak_source: str | None = None   # which allocator figure gpu_peak() reports

    # ---- before the framework is imported --------------------------------------------------
    def deterministic_env(self, on_cpu_only: bool) -> dict[str, str]:
        """Variables that must be set before the import, for deterministic kernels."""
        return {}

    def compile_cache_env(self, directory: str) -> dict[str, str]:
        """Variables (read at import) that point the persistent compilation cache at `directory`."""
        raise NotImplementedError

    def compile_cache_gap(self, jit: bool) -> str | None:
        """Why nothing is kept in the persistent compilation cache with this jit setting (None: it is)."""
        raise NotImplementedError

    def pin(self, n: int) -> list[int]:
        """Restrict this process (every thread it has, so every thread it will start) to the last `n`
        of the CPUs it may use, leaving the first ones (where interrupts and most daemons run) to the
        rest of the machine, and set the usual thread-count variables to `n` for what is imported next.
        Returns the CPUs chosen."""
        cpus = sorted(os.sched_getaffinity(0))[-n:]
        for tid in os.listdir("/proc/self/task"):
            try:
                os.sched_setaffinity(int(tid), cpus)
            except (ProcessLookupError, PermissionError):  # a thread that just ended
                pass
        os.environ.update({name: str(n) for name in THREAD_VARS})
        return cpus

    # ---- after the import ------------------------------------------------------------------
    def set_threads(self, n: int) -> None:
        """The framework's own intra-op and inter-op pools to `n` threads."""

    def seed(self, seed: int, deterministic: bool, keras=None) -> None:
        """Seed Python, NumPy and the backend (through Keras when given); with `deterministic`, turn on
        the backend's deterministic mode. Without it every framework keeps its own defaults
        (autotuning, non-deterministic kernels where it picks them), as users run it."""
        import numpy as np
        if keras is not None:
            keras.utils.set_random_seed(seed)   # Python, NumPy and the backend's global seed
        else:
            os.environ["PYTHONHASHSEED"] = str(seed)   # for child processes, as Keras does
            random.seed(seed)
            np.random.seed(seed)
            self._seed(seed)
        if deterministic:
            self._deterministic()

    def _seed(self, seed: int) -> None: ...
    def _deterministic(self) -> None: ...

    def version(self) -> str:
        import importlib
        return importlib.import_module(self.name).__version__

    def visible_gpus(self) -> list[str]:
        """Names of the GPUs this backend will use (empty on CPU)."""
        raise NotImplementedError

    def cuda_build(self) -> str | None:
        """The CUDA version this backend's installed build targets, or None for a CPU-only build."""
        raise NotImplementedError

    def warm_up(self) -> None:
        """Create the context on the default device and run one tiny op there, synchronised: every
        backend reaches the same point before memory baselines (JAX and torch would otherwise create
        their CUDA context lazily, at other moments than TensorFlow)."""
        raise NotImplementedError

    def device(self):
        """The device native code puts its data on (the framework's own object or name)."""
        raise NotImplementedError

    def synchronize(self, value=None) -> None:
        """Wait until the device has finished the work queued so far (and `value` is computed)."""
        raise NotImplementedError

    def reset_gpu_peak(self) -> None: ...

    def gpu_peak(self) -> tuple[int | None, str | None]:
        """(peak bytes on GPU 0, its source) from the framework's own allocator; (None, None) if none."""
        raise NotImplementedError

    def jit_meaning(self, effective: bool, eager: bool = False) -> str:
        """What an effective jit setting means here; `eager`: not even a graph (only TensorFlow has one)."""
        raise NotImplementedError

    def keras_forward(self, model, x, batch_size: int, jit: bool):
        """A function running one forward pass of a Keras model over `x`, already on the device,
        compiled the way `predict` would compile it here, returning once the device has finished."""
        raise NotImplementedError

    def pools(self) -> dict:
        """The framework's own thread pools as it reports them (keys it does not have are None)."""
        return {}

    def threads(self, param="default") -> dict:
        """CPU thread settings that change speed: the param, the CPUs this process may use and its cgroup
        quota, the framework's own pools, the usual variables, and whether every thread kept to the
        allowed CPUs. TensorFlow reports 0 for "its default" (as many threads as cores)."""
        from kerasbench import host
        cpus = host.allowed_cpus()
        out = {"param": param, "cpus_usable": len(cpus), "allowed_cpus": cpus,
               "cgroup_cpu_quota": host.cgroup_cpu_quota()["cpus"], "tf_intra_op": None, "tf_inter_op": None,
               "torch_intra_op": None, "torch_inter_op": None, **self.pools()}
        out |= {name: os.environ.get(name) for name in THREAD_VARS}
        out["XLA_FLAGS"] = os.environ.get("XLA_FLAGS") if self.name in ("jax", "tensorflow") else None
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
        except OSError:
            pass
    return len(tids), outside
