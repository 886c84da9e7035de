"""Energy per epoch on an NVIDIA GPU: the GPU's cumulative energy counter, read around each timed epoch.

NVML's `nvmlDeviceGetTotalEnergyConsumption` counts millijoules since the driver loaded (Volta and
newer). The clock (kerasbench/measure.py) reads it right before an epoch's clock starts and right
after it stops, as it takes the interference snapshots, so nothing is added inside the timed region;
the difference is the epoch's joules. It is the whole GPU's energy: every process on that GPU counts,
so the figure is valid with one training run per GPU at a time (what the fan-out's exclusive cells
and a dedicated host give). On a CPU, or without NVML or the counter, nothing is measured: the
figures are recorded as null and the report says "not measured".

The GPU read is the one the process trains on: the first of CUDA_VISIBLE_DEVICES when it names one
(by index or UUID), else GPU 0, which is where every framework here puts its work. CUDA numbers GPUs
fastest first unless CUDA_DEVICE_ORDER=PCI_BUS_ID, NVML in bus order: the two agree when every GPU is
the same model, so on a host with mixed models and CUDA's default order, a GPU named by index is not
measured rather than possibly read on the wrong GPU.

Time excluded from an epoch's clock (validation, untimed work) is excluded from its energy too: the
clock reads the counter around it and subtracts.
"""
from __future__ import annotations

import os
import statistics

SOURCE = "nvml_total_energy_consumption"


class Meter:
    """Reads nothing: a CPU, or a GPU whose driver has no energy counter."""
    source: str | None = None

    def read_mj(self) -> int | None:
        return None


class NvmlMeter(Meter):
    source = SOURCE

    def __init__(self, pynvml, handle):
        self._nvml, self._handle = pynvml, handle

    def read_mj(self) -> int | None:
        try:
            return int(self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle))
        except self._nvml.NVMLError:
            return None


def _handle(pynvml):
    visible = (os.environ.get("CUDA_VISIBLE_DEVICES") or "").split(",")[0].strip()
    if visible.startswith(("GPU-", "MIG-")):
        return pynvml.nvmlDeviceGetHandleByUUID(visible)
    count = pynvml.nvmlDeviceGetCount()
    if count > 1 and os.environ.get("CUDA_DEVICE_ORDER") != "PCI_BUS_ID":
        models = {pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(i)) for i in range(count)}
        if len(models) > 1:
            raise LookupError("GPUs of several models and CUDA's fastest-first order: NVML's index may differ")
    return pynvml.nvmlDeviceGetHandleByIndex(int(visible) if visible.isdigit() else 0)


def meter(on_gpu: bool) -> Meter:
    """The meter for this process: NVML's counter on a GPU that has one, else one that reads nothing."""
    if not on_gpu:
        return Meter()
    try:
        import pynvml
        pynvml.nvmlInit()   # left open for the process's life: a read is then a few microseconds
        found = NvmlMeter(pynvml, _handle(pynvml))
    except Exception:  # noqa: BLE001 - no NVML, no such GPU: energy is simply not measured
        return Meter()
    return found if found.read_mj() is not None else Meter()


def joules(before_mj: int | None, after_mj: int | None) -> float | None:
    """The energy between two reads, in joules; None when either read had nothing."""
    if before_mj is None or after_mj is None or after_mj < before_mj:
        return None
    return (after_mj - before_mj) / 1000.0


def less(total_j: float | None, excluded_j: float | None) -> float | None:
    """An epoch's joules without those of the time its clock excluded; None when either is unknown."""
    return None if total_j is None or excluded_j is None else max(total_j - excluded_j, 0.0)


def summary(epoch_joules: list[float | None], images_per_epoch: int) -> dict[str, float | None]:
    """Over the steady epochs (2..N) with a reading: the median joules per epoch and the median of each
    epoch's images per joule (the report's rule, kerasbench/samples.py); nulls when not measured."""
    measured = [j for j in epoch_joules[1:] if j is not None and j > 0]
    if not measured:
        return {"steady_epoch_j": None, "images_per_joule": None}
    return {"steady_epoch_j": statistics.median(measured),
            "images_per_joule": statistics.median(images_per_epoch / j for j in measured)}
