"""Measurement written once for every contender: epoch timing, process memory, environment.

Nothing here imports a framework at module level: `activate()` must come first.
"""
from __future__ import annotations

import contextlib
import datetime
import hashlib
import platform
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

MIB = 1024 * 1024


def rss_mib() -> float:
    """This process's resident set size now."""
    return psutil.Process().memory_info().rss / MIB


def os_peak_rss_mib() -> float:
    """The kernel's record of this process's peak RSS since it started (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class MemorySampler:
    """Samples this process's RSS in a background thread; the thread sleeps between samples.

    GPU memory comes from each framework's own allocator (kerasbench/backends.py), not from NVML:
    NVML's per-process figures are keyed by host PIDs, which a container does not see.
    """

    def __init__(self, interval_s: float = 0.05):
        self.interval_s = interval_s
        self.peak_rss_mib = 0.0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)
        self._process = psutil.Process()

    def _sample(self) -> None:
        self.peak_rss_mib = max(self.peak_rss_mib, self._process.memory_info().rss / MIB)
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


class EpochClock:
    """The one timing method for every contender: wall time per training epoch.

    A trainer calls `fit_begin()` once, then per epoch `epoch_begin(e)` and `epoch_end(e, logs)`
    after the epoch's device work is finished; validation, between `validation_begin(e)` and
    `validation_end(e)`, and any work inside `untimed()` is not counted. After the clock stops, `epoch_end` prints one line and runs `after_epoch(row)`
    (untimed, e.g. a test-set check), whose True asks the trainer to stop training.
    """

    def __init__(self, epochs: int, after_epoch=None, echo: bool = True):
        self.total, self.after_epoch, self.echo = epochs, after_epoch, echo
        self.fit_begin_at: float | None = None
        self.epochs: list[dict] = []
        self._begin = self._excluded = 0.0

    def fit_begin(self) -> None:
        self.fit_begin_at = time.perf_counter()

    def epoch_begin(self, epoch: int) -> None:
        self._excluded = 0.0
        self._begin = time.perf_counter()

    def validation_begin(self, epoch: int) -> None:
        self._validation_begin = time.perf_counter()

    def validation_end(self, epoch: int) -> None:
        self._excluded += time.perf_counter() - self._validation_begin

    @contextlib.contextmanager
    def untimed(self):
        started = time.perf_counter()
        try:
            yield
        finally:
            self._excluded += time.perf_counter() - started

    def epoch_end(self, epoch: int, logs: dict) -> bool:
        seconds = time.perf_counter() - self._begin - self._excluded
        row = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}, "epoch_s": seconds}
        self.epochs.append(row)
        if self.echo:
            scores = ", ".join(f"{k} {v:.4f}" for k, v in row.items() if k not in ("epoch", "epoch_s"))
            print(f"epoch {epoch + 1}/{self.total}: {seconds:.2f} s, {scores}", flush=True)
        return bool(self.after_epoch(row)) if self.after_epoch else False


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


def cpu_model() -> str:
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


ROOT = Path(__file__).resolve().parent.parent


def lock_sha256(root: Path = ROOT) -> str | None:
    """One hash over every lock file of the project: requirements.lock and requirements/*.lock, the
    CPU torch lock and the container's GPU locks alike, so a change to whichever pinned this
    environment changes it (None without requirements.lock)."""
    if not (root / "requirements.lock").is_file():
        return None
    digest = hashlib.sha256()
    for path in [root / "requirements.lock", *sorted((root / "requirements").glob("*.lock"))]:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def machine() -> dict:
    """What the result was measured on: interpreter, OS, CPU, memory, GPUs, commit, time."""
    host = nvidia_host()
    return {
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "platform": platform.platform(),
        "cpu": {"model": cpu_model(), "logical_cores": psutil.cpu_count(logical=True),
                "physical_cores": psutil.cpu_count(logical=False)},
        "memory_total_gib": round(psutil.virtual_memory().total / 1024**3, 1),
        "gpus": [{**gpu, "driver": host["driver"], "cuda": host["cuda"]} for gpu in host["gpus"]],
        "git_commit": git_commit(),
        "lock_sha256": lock_sha256(),
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def run_environment(framework: str, seed: int, started, params, data_info: dict) -> dict:
    """What a result was measured with and on, for train and evaluate: `started` is contenders.start()'s."""
    from kerasbench import backends, contenders
    contender = contenders.get(framework)
    device = started.device
    return {
        "framework": framework,
        "seed": seed,
        "backend": contender.backend,
        "keras_module": contender.module if contender.is_keras else None,
        "keras_version": getattr(started.module, "__version__", None) if contender.is_keras else None,
        "backend_version": device["backend_version"],
        "cuda_build": device["cuda_build"],
        "packages": contenders.package_versions(),
        **machine(),
        "device": device["device"],
        "device_name": device["device_name"],
        "visible_gpus": device["gpus"],
        "device_param": params.device,
        "deterministic": params.train.deterministic,
        "threads": backends.threads(contender.backend),
        "data": {k: data_info.get(k) for k in ("source", "md5", "sha256", "synthetic")},
    }
