"""Measurement written once for every contender: epoch timing, process memory, environment.

Nothing here imports a framework at module level: `activate()` must come first.
"""
from __future__ import annotations

import datetime
import os
import platform
import resource
import subprocess
import sys
import threading
import time

import psutil

MIB = 1024 * 1024


def rss_mib() -> float:
    """This process's resident set size now."""
    return psutil.Process().memory_info().rss / MIB


def os_peak_rss_mib() -> float:
    """The kernel's record of this process's peak RSS since it started (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class MemorySampler:
    """Samples this process's RSS (and its GPU memory through NVML, if asked) in a background thread.

    The thread sleeps between samples, so its cost is one syscall per interval.
    """

    def __init__(self, interval_s: float = 0.05, nvml: bool = False):
        self.interval_s = interval_s
        self.peak_rss_mib = 0.0
        self.peak_gpu_mib: float | None = None
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)
        self._process = psutil.Process()
        self._nvml = _NvmlProcessMemory() if nvml else None

    def _sample(self) -> None:
        self.peak_rss_mib = max(self.peak_rss_mib, self._process.memory_info().rss / MIB)
        if self._nvml is not None:
            used = self._nvml.used_mib()
            if used is not None:
                self.peak_gpu_mib = max(self.peak_gpu_mib or 0.0, used)
        self.samples += 1

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def __enter__(self) -> "MemorySampler":
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


class _NvmlProcessMemory:
    """GPU memory NVML attributes to this process (all GPUs), or None where NVML can't tell."""

    def __init__(self):
        try:
            import pynvml
            pynvml.nvmlInit()
            self._pynvml = pynvml
            self._handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
        except Exception:  # no driver, no GPU: nothing to sample
            self._handles = []
        self._pid = os.getpid()

    def used_mib(self) -> float | None:
        total, seen = 0, False
        for handle in self._handles:
            try:
                procs = self._pynvml.nvmlDeviceGetComputeRunningProcesses(handle)
            except Exception:
                continue
            for proc in procs:
                if proc.pid == self._pid and proc.usedGpuMemory is not None:
                    total, seen = total + proc.usedGpuMemory, True
        return total / MIB if seen else None


def epoch_timer(keras, epochs: int | None = None):
    """A callback that times each training epoch, validation excluded, with the contender's Keras.

    It only implements epoch and test hooks, so Keras keeps its fast path (no per-batch
    callback calls, no extra device synchronisation). Use it with fit(verbose=0): Keras'
    progress bar hooks every batch. Given `epochs`, it prints one line per epoch instead,
    after the epoch's clock has stopped.
    """

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.train_begin = None
            self.epochs: list[dict] = []

        def on_train_begin(self, logs=None):
            self.train_begin = time.perf_counter()

        def on_epoch_begin(self, epoch, logs=None):
            self._begin = time.perf_counter()
            self._validation = 0.0

        def on_test_begin(self, logs=None):
            self._test_begin = time.perf_counter()

        def on_test_end(self, logs=None):
            self._validation += time.perf_counter() - self._test_begin

        def on_epoch_end(self, epoch, logs=None):
            seconds = time.perf_counter() - self._begin - self._validation
            row = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}, "epoch_s": seconds}
            self.epochs.append(row)
            if epochs:
                scores = ", ".join(f"{k} {v:.4f}" for k, v in row.items() if k not in ("epoch", "epoch_s"))
                print(f"epoch {epoch + 1}/{epochs}: {seconds:.2f} s, {scores}", flush=True)

    return EpochTimer()


def epoch_summary(epoch_seconds: list[float]) -> dict:
    """First epoch (tracing and compilation included) apart from the steady state (epochs 2..N)."""
    import numpy as np
    first, steady = epoch_seconds[0], epoch_seconds[1:]
    return {
        "first_epoch_s": first,
        "steady_epoch_s": float(np.median(steady)) if steady else None,
        "steady_epoch_min_s": float(np.min(steady)) if steady else None,
        "steady_epoch_max_s": float(np.max(steady)) if steady else None,
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def nvidia_host() -> dict:
    """What the NVIDIA driver reports through NVML, independent of any framework:
    driver, CUDA driver version, each GPU's name and memory, and NVML's error where it has none."""
    import pynvml
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as err:
        return {"driver": None, "cuda": None, "gpus": [], "nvml_error": str(err)}
    try:
        cuda = pynvml.nvmlSystemGetCudaDriverVersion()
        gpus = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            gpus.append({"name": pynvml.nvmlDeviceGetName(handle),
                         "memory_total_mib": round(pynvml.nvmlDeviceGetMemoryInfo(handle).total / MIB)})
        return {"driver": pynvml.nvmlSystemGetDriverVersion(), "cuda": f"{cuda // 1000}.{cuda % 1000 // 10}",
                "gpus": gpus, "nvml_error": None}
    finally:
        pynvml.nvmlShutdown()


def git_commit() -> str | None:
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
        return rev + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def machine() -> dict:
    """What the result was measured on: interpreter, OS, CPU, memory, GPUs, commit, time."""
    host = nvidia_host()
    return {
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "platform": platform.platform(),
        "cpu": {"model": _cpu_model(), "logical_cores": psutil.cpu_count(logical=True),
                "physical_cores": psutil.cpu_count(logical=False)},
        "memory_total_gib": round(psutil.virtual_memory().total / 1024**3, 1),
        "gpus": [{**gpu, "driver": host["driver"], "cuda": host["cuda"]} for gpu in host["gpus"]],
        "git_commit": git_commit(),
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
