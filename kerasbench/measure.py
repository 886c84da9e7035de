"""Measurement written once for every contender: epoch timing (with what else the machine did
meanwhile, kerasbench/interference.py), timed passes, process memory, and the environment record.

Nothing here imports a framework at module level: `activate()` must come first.
"""
from __future__ import annotations

import contextlib
import datetime
import resource
import threading
import time

import psutil

from kerasbench import energy, host, interference, supervise

MIB = host.MIB


def rss_mib() -> float:
    """This process's resident set size now."""
    return psutil.Process().memory_info().rss / MIB


def os_peak_rss_mib() -> float:
    """The kernel's record of this process's peak RSS since it started (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class MemorySampler:
    """Samples this process's RSS in a background thread; the thread sleeps between samples.

    GPU memory comes from each framework's own allocator (kerasbench/backends/), not from NVML:
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
    `validation_end(e)`, and any work inside `untimed()` is not counted. After the clock stops,
    `epoch_end` prints one line and runs `after_epoch(row)`
    (untimed, e.g. a test-set check), whose True asks the trainer to stop training.
    """

    def __init__(self, epochs: int, after_epoch=None, echo: bool = True, probe: interference.Probe | None = None,
                 meter: energy.Meter | None = None, images: int | None = None):
        self.total, self.after_epoch, self.echo = epochs, after_epoch, echo
        self.images = images   # trained on per epoch (None: not known here), for per-epoch rates
        self.probe = probe or interference.probe()
        self.meter = meter or energy.Meter()   # the GPU's energy counter; reads nothing on a CPU
        self.fit_begin_at: float | None = None
        self.epochs: list[dict] = []
        self.windows: list[float] = []   # each epoch's interference window (the epoch, plus excluded time)
        self.timed_from: str | None = None   # UTC, first epoch's start and last epoch's end
        self.timed_to: str | None = None
        self._begin = self._excluded = 0.0
        self._excluded_j: float | None = 0.0   # energy of the excluded time (None: not measured)

    def fit_begin(self) -> None:
        self.fit_begin_at = time.perf_counter()

    def epoch_begin(self, epoch: int) -> None:
        self._excluded, self._excluded_j = 0.0, 0.0
        self.timed_from = self.timed_from or utc_now()
        self._before = self.probe.snapshot()   # before the clock starts: nothing added to the epoch
        self._energy = self.meter.read_mj()
        self._begin = time.perf_counter()

    def validation_begin(self, epoch: int) -> None:
        self._validation_begin = time.perf_counter()
        self._validation_mj = self.meter.read_mj()   # inside the excluded time, like every read below

    def validation_end(self, epoch: int) -> None:
        self._exclude_energy(self._validation_mj)
        self._excluded += time.perf_counter() - self._validation_begin

    @contextlib.contextmanager
    def untimed(self):
        started = time.perf_counter()
        started_mj = self.meter.read_mj()
        try:
            yield
        finally:
            self._exclude_energy(started_mj)
            self._excluded += time.perf_counter() - started

    def _exclude_energy(self, started_mj: int | None) -> None:
        spent = energy.joules(started_mj, self.meter.read_mj())
        self._excluded_j = None if spent is None or self._excluded_j is None else self._excluded_j + spent

    def epoch_end(self, epoch: int, logs: dict) -> bool:
        seconds = time.perf_counter() - self._begin - self._excluded
        energy_mj = self.meter.read_mj()       # after the clock stopped, like the snapshot
        after = self.probe.snapshot()
        self.timed_to = utc_now()
        self.windows.append(after.wall_s - self._before.wall_s)
        joules = energy.less(energy.joules(self._energy, energy_mj), self._excluded_j)
        rate = self.images / seconds if self.images and seconds > 0 else None
        row = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}, "epoch_s": seconds,
               "images_per_s": rate, **self.probe.between(self._before, after), "energy_j": joules}
        self.epochs.append(row)
        supervise.send({"epoch": row})   # to the stage process, which logs it live (kerasbench/live.py)
        if self.echo:
            scores = ", ".join(f"{k} {v:.4f}" for k, v in row.items()
                               if k not in ("epoch", "epoch_s", "images_per_s", "energy_j", *interference.COLUMNS))
            speed = f" ({rate:.0f} images/s)" if rate else ""
            print(f"epoch {epoch + 1}/{self.total}: {seconds:.2f} s{speed}, {scores}", flush=True)
        return bool(self.after_epoch(row)) if self.after_epoch else False

    def interference(self) -> dict:
        """The process's interference summary over its timed epochs (interference.summarize)."""
        return interference.summarize(self.epochs, self.windows, len(self.probe.cpus))


def timed_passes(run, repeats: int, probe: interference.Probe) -> list[dict]:
    """`repeats` timed calls of run(), one row each: `seconds`, the interference window `window_s`
    (the pass and the two snapshots around it) and interference.COLUMNS."""
    rows = []
    for _ in range(repeats):
        before = probe.snapshot()   # outside the clock, like the epochs'
        t = time.perf_counter()
        run()
        seconds = time.perf_counter() - t
        after = probe.snapshot()
        rows.append({"seconds": seconds, "window_s": after.wall_s - before.wall_s, **probe.between(before, after)})
    return rows


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


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


def run_environment(started, params, data_info: dict, seed: int) -> dict:
    """What a result was measured with and on, for train and evaluate: `started` is launch.start()'s."""
    from kerasbench.contenders import package_versions
    contender, device = started.contender, started.device
    return {
        "framework": contender.name,
        "seed": seed,
        "backend": contender.backend,
        "keras_module": contender.keras,
        "keras_version": getattr(started.module, "__version__", None) if contender.is_keras else None,
        "backend_version": device["backend_version"],
        "cuda_build": device["cuda_build"],
        "packages": package_versions(),
        **host.machine(),
        "device": device["device"],
        "device_name": device["device_name"],
        "visible_gpus": device["gpus"],
        "device_param": params.device,
        "deterministic": params.train.deterministic,
        "threads": started.backend.threads(params.train.threads),
        "data": {k: data_info.get(k) for k in ("source", "md5", "sha256", "synthetic")},
    }
