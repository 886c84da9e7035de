"""Selecting a contender: the stage hands its plan to a supervised child under the contender's interpreter
(`hand_over`); the child sets the environment variables before the framework import, applies the device
rule and builds the trainer (`start`).

Environments: on a CPU machine one virtual environment holds every contender. In the container
there is one per backend, named by KERASBENCH_PYTHON_TENSORFLOW,
KERASBENCH_PYTHON_JAX and KERASBENCH_PYTHON_TORCH (paths to interpreters); a stage's child runs
under the right one. What a contender is comes from the registry (kerasbench/contenders/).
"""
from __future__ import annotations

import faulthandler
import importlib
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Callable, Protocol

from kerasbench import backends, devices, supervise
from kerasbench.contenders import Contender, ContenderError, get, interpreter, missing_packages
from kerasbench.plan import Plan

if TYPE_CHECKING:
    import numpy as np

# Set before any framework import, for every contender.
COMMON_ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "2",               # no C++ log wall on a healthy run
    "TF_FORCE_GPU_ALLOW_GROWTH": "true",       # TF allocates as it needs: its peak means something
    "XLA_PYTHON_CLIENT_PREALLOCATE": "false",  # likewise for JAX (default grabs 75% of the GPU)
}
FRAMEWORK_MODULES = ("tensorflow", "jax", "torch", "keras", "tf_keras", "keras_core")
CHILD_MODULE = "kerasbench.child"   # the measuring process of a stage: `python -m kerasbench.child PLAN`


class Trainer(Protocol):
    """What the train and evaluate stages need from a contender, Keras or native, built as
    `Class(contender, module, train)` (module: what activate() returned; train: params' train section).

    fit() runs train.epochs epochs and drives the clock (measure.EpochClock): fit_begin(), then per
    epoch epoch_begin(e), the epoch's batches, validation between validation_begin(e) and
    validation_end(e), and once the device has finished, epoch_end(e, logs) with the epoch's mean
    loss and accuracy; a True from epoch_end stops training. Weights are exchanged in Keras' layout
    and order. Keras contenders: kerasbench/trainers/keras_fit.py; native ones: kerasbench/trainers/.
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


def activate(name: str, device: str = "auto", deterministic: bool = False,
             compile_cache: str | None = None, threads: int | str = "default") -> ModuleType:
    """Select a contender in this (fresh) process and return its `keras` module (or its backend's module).

    Sets the environment, imports the framework and returns the module. `device` is auto, cpu or gpu;
    cpu hides GPUs from the framework. `deterministic` sets the variables some backends read at import
    for deterministic kernels; `compile_cache` names the folder of the backend's persistent compilation
    cache (None: the framework's default). `threads` N pins the process to N CPUs and sizes the
    framework's thread pools to N; `default` leaves both to the framework.
    """
    contender = get(name)
    already = [m for m in FRAMEWORK_MODULES if m in sys.modules]
    if already:
        raise ContenderError(f"{', '.join(already)} imported before activate('{name}'): "
                             "one contender per process, selected before any framework import")
    missing = missing_packages(contender)
    if missing:
        raise ContenderError(
            f"contender '{name}' needs the package(s) {', '.join(missing)}, not installed for {sys.executable}. "
            f"Install them (make setup installs the locks) or remove '{name}' from 'frameworks' in params.yaml")
    backend = backends.get(contender.backend)
    faulthandler.enable()  # a native crash prints the Python stack first (the parent passes it on)
    os.environ.update(COMMON_ENV)
    os.environ.update(contender.environ)
    if device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    if deterministic:
        os.environ.update(backend.deterministic_env(on_cpu_only=device == "cpu"))
    if compile_cache:
        os.environ.update(backend.compile_cache_env(compile_cache))
    if threads != "default":
        backend.pin(int(threads))
    module = importlib.import_module(contender.framework_module)
    if threads != "default":
        backend.set_threads(int(threads))
    return module


def _python(contender: Contender) -> str:
    python = interpreter(contender)
    if not os.access(python, os.X_OK):
        raise ContenderError(f"{contender.python_var}={python} is not an executable Python interpreter")
    return python


def hand_over(plan: Plan, on_message: Callable[[dict], None] | None = None) -> int:
    """In the stage process: run the plan's measuring child (kerasbench/child.py) under the contender's
    interpreter, supervised; return the status to exit with. `on_message` receives what the child sends
    (kerasbench/supervise.py) and is closed, if it can be, whatever the child did."""
    python = _python(get(plan.contender))
    try:
        with tempfile.TemporaryDirectory(prefix="kerasbench-plan-") as folder:
            path = Path(folder) / "plan.json"
            plan.write(path)
            return supervise.run_supervised(python, CHILD_MODULE, [str(path)],
                                            {**os.environ, supervise.CHILD_VAR: plan.contender},
                                            on_message=on_message)
    finally:
        close = getattr(on_message, "close", None)
        if close is not None:   # e.g. the epoch log: its last files written, whatever the child did
            close()


def reexec(name: str) -> None:
    """For a script run as `python -m MODULE`: go on under the contender's interpreter, supervised (in the
    container each backend has its own); returns at once in that process, never in this one."""
    try:
        supervise.become_child(_python(get(name)), name)
    except RuntimeError as err:
        raise ContenderError(str(err)) from None


@dataclass
class Started:
    """A contender selected in this process: what it is, its module, its device record and start-up timings."""
    contender: Contender
    backend: backends.Backend
    module: ModuleType
    device: dict          # kerasbench.devices.inspect(): device, device_name, gpus, cuda_build, host
    import_s: float       # importing the framework
    context_s: float      # creating its context on the device and running one tiny op

    @property
    def name(self) -> str:
        return self.contender.name

    def seed(self, value: int, deterministic: bool) -> None:
        """Seed everything once (through Keras for Keras contenders) and set deterministic mode."""
        self.backend.seed(value, deterministic, keras=self.module if self.contender.is_keras else None)

    def trainer(self, train) -> Trainer:
        """This contender's trainer, built from params' `train` section."""
        where, cls = self.contender.trainer.split(":")
        return getattr(importlib.import_module(where), cls)(self.contender, self.module, train)


def start(name: str, device: str, deterministic: bool, compile_cache: str | None = None,
          threads: int | str = "default") -> Started:
    """activate(), then bring the backend to its starting point and check the device rule.

    Every backend reaches the same point here (context created, one op run) before any memory
    baseline is taken. Raises ContenderError when the contender cannot run as asked.
    """
    started = time.perf_counter()
    module = activate(name, device, deterministic, compile_cache, threads)
    import_s = time.perf_counter() - started
    contender = get(name)
    backend = backends.get(contender.backend)
    started = time.perf_counter()
    backend.warm_up()
    context_s = time.perf_counter() - started
    return Started(contender, backend, module, devices.select(contender, backend, device), import_s, context_s)
