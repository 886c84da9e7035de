"""The one place that knows what a contender is and how one is selected.

A contender is a way of training LeNet-5: a Keras generation on a backend, or (issue 11) the
backend's own code with no Keras. Selecting one means: running in the Python environment that
holds its packages, in a child process whose stderr the stage owns (kerasbench/supervise.py),
setting environment variables before any framework is imported, and importing the module that
plays the part of `keras`. Backend differences (seeding, devices, GPU memory, threads) live in
kerasbench/backends.py.

Environments: on a CPU machine one virtual environment holds every contender. In the container
there is one per backend, named by KERASBENCH_PYTHON_TENSORFLOW, KERASBENCH_PYTHON_JAX and
KERASBENCH_PYTHON_TORCH (paths to interpreters); a stage's child runs under the right one.
"""
from __future__ import annotations

import faulthandler
import importlib
import importlib.metadata
import os
import sys
import time
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Callable, Protocol

from kerasbench import backends, supervise

if TYPE_CHECKING:
    import numpy as np

# Set before any framework import, for every contender.
COMMON_ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "2",               # no C++ log wall on a healthy run
    "TF_FORCE_GPU_ALLOW_GROWTH": "true",       # TF allocates as it needs: its peak means something
    "XLA_PYTHON_CLIENT_PREALLOCATE": "false",  # likewise for JAX (default grabs 75% of the GPU)
}
# Packages whose versions are recorded beside every result.
RECORDED_PACKAGES = ("tensorflow", "tf-keras", "keras", "keras-core", "jax", "jaxlib", "torch", "optax",
                     "numpy", "scikit-learn", "dvc")
# Packages that change every contender's results, besides its own (in the environment fingerprint).
SHARED_PACKAGES = ("numpy",)
FRAMEWORK_MODULES = ("tensorflow", "jax", "torch", "keras", "tf_keras", "keras_core")


class Trainer(Protocol):
    """What the train and evaluate stages need from a contender, Keras or native, after activate().

    fit() runs train.epochs epochs and drives the clock (measure.EpochClock): fit_begin(), then per
    epoch epoch_begin(e), the epoch's batches, validation between validation_begin(e) and
    validation_end(e), and once the device has finished, epoch_end(e, logs) with the epoch's mean
    loss and accuracy; a True from epoch_end stops training. Weights are exchanged in Keras' layout
    and order. Keras contenders: kerasbench/lenet.py; native ones: kerasbench/native/.
    """
    def build(self, seed: int) -> None: ...
    def count_params(self) -> int: ...
    def fit(self, x: np.ndarray, y: np.ndarray, clock) -> None: ...
    def predict(self, x: np.ndarray, batch_size: int) -> np.ndarray: ...
    def forward_pass(self, x: np.ndarray, batch_size: int) -> Callable[[], None]: ...
    def get_weights(self) -> list[np.ndarray]: ...
    def set_weights(self, weights: list[np.ndarray]) -> None: ...
    def save(self, directory) -> None: ...
    def load(self, directory) -> None: ...
    def describe(self) -> dict: ...  # jit_compile (effective), jit_meaning, compute_dtype, variable_dtype


class ContenderError(RuntimeError):
    """A contender cannot run here; the message says why and what to do."""


@dataclass(frozen=True)
class Contender:
    name: str
    module: str                      # the module imported as `keras` (Keras contenders) or the backend
    backend: str                     # tensorflow | jax | torch
    packages: tuple[str, ...]        # distributions that must be installed
    environ: dict = field(default_factory=dict)
    trainer: str = "kerasbench.lenet:KerasTrainer"  # module:class implementing the Trainer protocol

    @property
    def python_var(self) -> str:
        """Environment variable naming the interpreter of this contender's environment."""
        return f"KERASBENCH_PYTHON_{self.backend.upper()}"

    @property
    def is_keras(self) -> bool:
        return self.module in ("tf_keras", "keras_core", "keras")


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
    # The same LeNet-5 in each backend's own code, no Keras: what Keras costs (kerasbench/native/).
    Contender("torch_native", "kerasbench.native.torch_lenet", "torch", ("torch",),
              trainer="kerasbench.native.torch_lenet:Trainer"),
    Contender("jax_native", "kerasbench.native.jax_lenet", "jax", ("jax", "jaxlib", "optax"),
              trainer="kerasbench.native.jax_lenet:Trainer"),
    Contender("tf_native", "kerasbench.native.tf_lenet", "tensorflow", ("tensorflow",),
              trainer="kerasbench.native.tf_lenet:Trainer"),
)}


def keras_native_pairs() -> list[tuple[str, str, str]]:
    """(backend, Keras 3 contender, native contender) for every backend that has both: what Keras costs."""
    keras3 = {c.backend: c.name for c in CONTENDERS.values() if c.module == "keras"}
    return [(c.backend, keras3[c.backend], c.name) for c in CONTENDERS.values()
            if not c.is_keras and c.backend in keras3]


def get(name: str) -> Contender:
    try:
        return CONTENDERS[name]
    except KeyError:
        raise ContenderError(f"unknown framework '{name}'; known: {', '.join(CONTENDERS)}") from None


def interpreter(contender: Contender) -> str:
    """The Python that runs this contender: its environment's, else the current one."""
    return os.environ.get(contender.python_var) or sys.executable


def missing_packages(contender: Contender) -> list[str]:
    return [dist for dist in contender.packages if version_of(dist) is None]


def version_of(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def package_versions() -> dict[str, str | None]:
    return {dist: version_of(dist) for dist in RECORDED_PACKAGES}


def activate(name: str, device: str = "auto", deterministic: bool = False,
             compile_cache: str | None = None, threads: int | str = "default") -> ModuleType:
    """Select a contender for this stage and return its `keras` module (or its backend's module).

    Called first in a stage's main(). In the stage process it does not return: it re-runs the
    stage as a supervised child under the contender's interpreter and exits with the child's
    status. In the child it sets the environment, imports the framework and returns the module.
    `device` is auto, cpu or gpu; cpu hides GPUs from the framework. `deterministic` sets the
    variables some backends read at import for deterministic kernels; `compile_cache` names the
    folder of the backend's persistent compilation cache (None: the framework's default).
    `threads` N pins the process to N CPUs and sizes the framework's thread pools to N
    (backends.pin, backends.set_threads); `default` leaves both to the framework.
    """
    contender = get(name)
    if not supervise.is_child():
        _run_as_child(contender)
    already = [m for m in FRAMEWORK_MODULES if m in sys.modules]
    if already:
        raise ContenderError(f"{', '.join(already)} imported before activate('{name}'): "
                             "one contender per process, selected before any framework import")
    missing = missing_packages(contender)
    if missing:
        raise ContenderError(
            f"contender '{name}' needs the package(s) {', '.join(missing)}, not installed for {sys.executable}. "
            f"Install them (make setup installs the locks) or remove '{name}' from 'frameworks' in params.yaml")
    faulthandler.enable()  # a native crash prints the Python stack first (the parent passes it on)
    os.environ.update(COMMON_ENV)
    os.environ.update(contender.environ)
    if device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    if deterministic:
        os.environ.update(backends.deterministic_env(contender.backend, on_cpu_only=device == "cpu"))
    if compile_cache:
        os.environ.update(backends.compile_cache_env(contender.backend, compile_cache))
    if threads != "default":
        backends.pin(int(threads))
    module = importlib.import_module(contender.module)
    if threads != "default":
        backends.set_threads(contender.backend, int(threads))
    return module


def _run_as_child(contender: Contender) -> None:
    python = interpreter(contender)
    if not os.access(python, os.X_OK):
        raise ContenderError(f"{contender.python_var}={python} is not an executable Python interpreter")
    try:
        supervise.become_child(python, contender.name)
    except RuntimeError as err:
        raise ContenderError(str(err)) from None


@dataclass
class Started:
    """A contender selected in this process: its module, its device record and start-up timings."""
    name: str
    module: ModuleType
    device: dict          # kerasbench.devices.inspect(): device, device_name, gpus, cuda_build, host
    import_s: float       # importing the framework
    context_s: float      # creating its context on the device and running one tiny op


def start(name: str, device: str, deterministic: bool, compile_cache: str | None = None,
          threads: int | str = "default") -> Started:
    """activate(), then bring the backend to its starting point and check the device rule.

    Every backend reaches the same point here (context created, one op run) before any memory
    baseline is taken. Raises ContenderError when the contender cannot run as asked.
    """
    from kerasbench import devices
    started = time.perf_counter()
    module = activate(name, device, deterministic, compile_cache, threads)
    import_s = time.perf_counter() - started
    started = time.perf_counter()
    backends.warm_up(get(name).backend)
    context_s = time.perf_counter() - started
    return Started(name, module, devices.select(name, device), import_s, context_s)


def seed(name: str, module: ModuleType, value: int, deterministic: bool) -> None:
    contender = get(name)
    backends.seed_everything(contender.backend, value, deterministic, keras=module if contender.is_keras else None)


def trainer(name: str, module: ModuleType, train, *, deterministic: bool) -> Trainer:
    """This contender's Trainer, built from params' `train` section."""
    contender = get(name)
    where, cls = contender.trainer.split(":")
    factory = getattr(importlib.import_module(where), cls)
    if contender.is_keras:
        return factory(module, contender.backend, train, deterministic=deterministic, precision=train.precision)
    jit = None if train.jit_compile == "default" else bool(train.jit_compile)
    return factory(train, deterministic=deterministic, precision=train.precision, jit=jit)
