"""The one place that knows how a contender is selected.

A contender is a Keras generation plus a backend. Selecting one means: running in the
Python environment that holds its packages, setting environment variables before any
framework is imported, and importing the module that plays the part of `keras`. Every
framework difference the rest of the code needs (seeding, determinism, which devices
it sees, its GPU memory peak) is answered here, by backend, and nowhere else.

Environments: on a CPU machine one virtual environment holds every contender. In the
container there is one per backend, named by KERASBENCH_PYTHON_TENSORFLOW,
KERASBENCH_PYTHON_JAX and KERASBENCH_PYTHON_TORCH (paths to interpreters); a stage
started under another interpreter re-executes itself under the right one.
"""
from __future__ import annotations

import atexit
import importlib
import importlib.metadata
import os
import re
import sys
import threading
from dataclasses import dataclass, field
from types import ModuleType

# Set before any framework import, for every contender.
COMMON_ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "2",               # no C++ log wall on a healthy run
    "TF_FORCE_GPU_ALLOW_GROWTH": "true",       # TF allocates as it needs: its peak means something
    "XLA_PYTHON_CLIENT_PREALLOCATE": "false",  # likewise for JAX (default grabs 75% of the GPU)
    "CUBLAS_WORKSPACE_CONFIG": ":4096:8",      # required by torch's deterministic mode on CUDA
    "TF_DETERMINISTIC_OPS": "1",
}
# Packages whose versions are recorded beside every result.
RECORDED_PACKAGES = ("tensorflow", "tf-keras", "keras", "keras-core", "jax", "jaxlib", "torch",
                     "numpy", "scikit-learn", "dvc")


# Native (C++) lines that TensorFlow prints on a healthy run and TF_CPP_MIN_LOG_LEVEL cannot
# hide (most come before its logging is set up). Anything else is passed on.
_BENIGN_NATIVE = re.compile("|".join([
    r"All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    r"oneDNN custom operations are on",
    r"Could not find cuda drivers on your machine",
    r"Unable to register cu(DNN|FFT|BLAS) factory",
    r"computation placer already registered",
    r"TF-TRT Warning: Could not find TensorRT",
    r"This TensorFlow binary is optimized to use available CPU instructions",
    r"To enable the following instructions",
    # tf.data graphs built by a newer op set than the runtime; TF itself says it may be expected.
    r"NodeDef mentions attribute use_unbounded_threadpool which is not in the op definition",
]))
_NO_DRIVER_NATIVE = re.compile(r"failed call to cuInit")  # expected only where no NVIDIA driver is installed


class ContenderError(RuntimeError):
    """A contender cannot run here; the message says why and what to do."""


@dataclass(frozen=True)
class Contender:
    name: str
    module: str                      # the module used as `keras`
    backend: str                     # tensorflow | jax | torch
    packages: tuple[str, ...]        # distributions that must be installed
    environ: dict = field(default_factory=dict)

    @property
    def python_var(self) -> str:
        """Environment variable naming the interpreter of this contender's environment."""
        return f"KERASBENCH_PYTHON_{self.backend.upper()}"


CONTENDERS = {c.name: c for c in (
    Contender("tf_keras", "tf_keras", "tensorflow", ("tensorflow", "tf-keras"),
              {"TF_USE_LEGACY_KERAS": "1"}),
    Contender("keras_core", "keras_core", "tensorflow", ("tensorflow", "keras-core"),
              {"KERAS_BACKEND": "tensorflow"}),
    Contender("keras3_tensorflow", "keras", "tensorflow", ("tensorflow", "keras"),
              {"KERAS_BACKEND": "tensorflow"}),
    Contender("keras3_jax", "keras", "jax", ("jax", "jaxlib", "keras"),
              {"KERAS_BACKEND": "jax"}),
    Contender("keras3_torch", "keras", "torch", ("torch", "keras"),
              {"KERAS_BACKEND": "torch"}),
)}


def get(name: str) -> Contender:
    try:
        return CONTENDERS[name]
    except KeyError:
        raise ContenderError(f"unknown framework '{name}'; known: {', '.join(CONTENDERS)}") from None


def interpreter(contender: Contender) -> str:
    """The Python that runs this contender: its environment's, else the current one."""
    return os.environ.get(contender.python_var) or sys.executable


def _reexec_if_needed(contender: Contender) -> None:
    target = interpreter(contender)
    if os.path.abspath(target) == os.path.abspath(sys.executable) or os.environ.get("KERASBENCH_ACTIVE"):
        return
    if not os.access(target, os.X_OK):
        raise ContenderError(f"{contender.python_var}={target} is not an executable Python interpreter")
    os.environ["KERASBENCH_ACTIVE"] = contender.name
    # Same command line, the right interpreter; `python -m pkg.mod` leaves argv[0] as the file path.
    module = sys.modules["__main__"].__spec__.name
    os.execv(target, [target, "-m", module, *sys.argv[1:]])


def missing_packages(contender: Contender) -> list[str]:
    missing = []
    for dist in contender.packages:
        try:
            importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            missing.append(dist)
    return missing


def package_versions() -> dict[str, str | None]:
    out = {}
    for dist in RECORDED_PACKAGES:
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = None
    return out


def activate(name: str, device: str = "auto") -> ModuleType:
    """Select a contender in this process and return its `keras` module.

    Must run before anything imports a framework. May re-execute the process under the
    contender's interpreter (container). `device` is auto, cpu or gpu; cpu hides GPUs.
    """
    contender = get(name)
    _reexec_if_needed(contender)
    already = [m for m in ("tensorflow", "jax", "torch", "keras", "tf_keras", "keras_core") if m in sys.modules]
    if already:
        raise ContenderError(f"{', '.join(already)} imported before activate('{name}'): "
                             "one contender per process, selected before any framework import")
    missing = missing_packages(contender)
    if missing:
        raise ContenderError(
            f"contender '{name}' needs the package(s) {', '.join(missing)}, not installed for {sys.executable}. "
            f"Install them (make setup installs requirements.lock) or remove '{name}' from 'frameworks' in params.yaml")
    os.environ.update(COMMON_ENV)
    os.environ.update(contender.environ)
    if device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    else:
        # Deterministic XLA kernels on GPU (JAX, and TF when jit_compile is on).
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_gpu_deterministic_ops=true").strip()
    filter_native_stderr()
    return importlib.import_module(contender.module)


def filter_native_stderr() -> None:
    """From now until exit, pass this process's stderr (C++ output too) through a filter.

    File descriptor 2 becomes a pipe; a thread forwards every line to the real stderr except
    TensorFlow's known start-up noise, which can come at any time (Keras 3 on JAX or torch
    imports TensorFlow lazily, e.g. when it saves a model). At exit the pipe is closed and
    drained, so nothing printed last (a traceback, an error line) is lost.
    """
    sys.stderr.flush()
    real = os.dup(2)
    read, write = os.pipe()
    os.dup2(write, 2)
    os.close(write)
    no_driver = not os.path.exists("/proc/driver/nvidia/version")

    def forward():
        with os.fdopen(read, "rb") as pipe:
            for line in pipe:
                text = line.decode(errors="replace")
                if _BENIGN_NATIVE.search(text) or (no_driver and _NO_DRIVER_NATIVE.search(text)):
                    continue
                os.write(real, line)

    thread = threading.Thread(target=forward, name="stderr-filter", daemon=True)
    thread.start()

    def drain():
        sys.stderr.flush()
        os.dup2(real, 2)  # the pipe's last writer closes: the thread sees end of file
        thread.join(timeout=5)

    atexit.register(drain)


# ---- backend differences -------------------------------------------------------------

def backend_of(name: str) -> str:
    return get(name).backend


def seed_everything(name: str, keras: ModuleType, seed: int) -> None:
    """Seed Python, NumPy and the backend, and turn on the backend's deterministic mode."""
    keras.utils.set_random_seed(seed)
    backend = backend_of(name)
    if backend == "tensorflow":
        import tensorflow as tf
        tf.config.experimental.enable_op_determinism()
    elif backend == "torch":
        import torch
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    # JAX: explicit PRNG keys from the seed; its CPU and (with the XLA flag) GPU kernels are deterministic.


def visible_gpus(name: str) -> list[str]:
    """Names of the GPUs this contender's backend will use (empty on CPU)."""
    backend = backend_of(name)
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


def backend_version(name: str) -> str:
    module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}[backend_of(name)]
    return importlib.import_module(module).__version__


def reset_gpu_peak(name: str) -> None:
    backend = backend_of(name)
    if backend == "tensorflow":
        import tensorflow as tf
        tf.config.experimental.reset_memory_stats("GPU:0")
    elif backend == "torch":
        import torch
        torch.cuda.reset_peak_memory_stats()
    # JAX has no reset: its peak counts from process start, which is model build onwards here.


def gpu_peak_bytes(name: str) -> int | None:
    """Peak device memory the framework's own allocator reports for GPU 0, or None on CPU."""
    if not visible_gpus(name):
        return None
    backend = backend_of(name)
    if backend == "tensorflow":
        import tensorflow as tf
        return int(tf.config.experimental.get_memory_info("GPU:0")["peak"])
    if backend == "jax":
        import jax
        stats = jax.devices()[0].memory_stats() or {}
        return int(stats["peak_bytes_in_use"]) if "peak_bytes_in_use" in stats else None
    import torch
    return int(torch.cuda.max_memory_allocated())
