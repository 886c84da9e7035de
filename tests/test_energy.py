"""kerasbench/energy.py: joules per epoch and images per joule from NVML's cumulative counter, with a fake NVML
(this machine has no GPU), and "not measured" on a CPU."""
from __future__ import annotations

import sys
import types

import pytest

from kerasbench import energy, measure


class FakeNvml(types.SimpleNamespace):
    """Counts millijoules as a GPU would: each read returns the next value of `counter`."""

    def __init__(self, counter, models=("NVIDIA H200",)):
        super().__init__(NVMLError=RuntimeError, handles=[])
        self.counter, self.models = iter(counter), list(models)

    def nvmlInit(self):
        pass

    def nvmlDeviceGetHandleByIndex(self, i):
        self.handles.append(("index", i))
        return i

    def nvmlDeviceGetCount(self):
        return len(self.models)

    def nvmlDeviceGetName(self, handle):
        return self.models[handle]

    def nvmlDeviceGetHandleByUUID(self, uuid):
        self.handles.append(("uuid", uuid))
        return uuid

    def nvmlDeviceGetTotalEnergyConsumption(self, handle):
        return next(self.counter)


def test_known_counter_values_give_known_joules(monkeypatch):
    # the first read checks the counter; then two reads per epoch, before and after its clock
    fake = FakeNvml([5_000_000, 5_000_000, 5_250_000, 5_300_000, 5_500_000, 5_600_000, 5_820_000])
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    meter = energy.meter(on_gpu=True)
    assert meter.source == "nvml_total_energy_consumption" and fake.handles == [("index", 0)]
    clock = measure.EpochClock(3, echo=False, meter=meter)
    clock.fit_begin()
    for epoch in range(3):
        clock.epoch_begin(epoch)
        clock.epoch_end(epoch, {"loss": 1.0})
    assert [row["energy_j"] for row in clock.epochs] == [250.0, 200.0, 220.0]
    assert energy.summary([row["energy_j"] for row in clock.epochs], 1000) == {   # the report's rule: the median
        "steady_epoch_j": 210.0, "images_per_joule": pytest.approx((1000 / 200 + 1000 / 220) / 2)}   # of images/J


def test_validation_and_untimed_work_are_left_out_of_an_epochs_energy(monkeypatch):
    # reads: the check; epoch start; validation start, end; untimed start, end; epoch end
    fake = FakeNvml([0, 1_000_000, 1_100_000, 1_150_000, 1_200_000, 1_230_000, 1_400_000])
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    clock = measure.EpochClock(1, echo=False, meter=energy.meter(on_gpu=True))
    clock.fit_begin()
    clock.epoch_begin(0)
    clock.validation_begin(0)
    clock.validation_end(0)
    with clock.untimed():
        pass
    clock.epoch_end(0, {})
    assert clock.epochs[0]["energy_j"] == pytest.approx(400 - 50 - 30)   # 400 J in all, 80 J excluded


@pytest.mark.parametrize("visible, handle", [("1", ("index", 1)), ("GPU-8d3f", ("uuid", "GPU-8d3f")),
                                             ("2,3", ("index", 2))])
def test_the_gpu_read_is_the_one_the_process_trains_on(monkeypatch, visible, handle):
    fake = FakeNvml([1, 2], models=["NVIDIA H200"] * 4)
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    energy.meter(on_gpu=True)
    assert fake.handles == [handle]


@pytest.mark.parametrize("order, measured", [(None, False), ("FASTEST_FIRST", False), ("PCI_BUS_ID", True)])
def test_mixed_gpus_in_cudas_own_order_are_not_measured(monkeypatch, order, measured):
    # CUDA numbers GPUs fastest first, NVML by bus: with two models, index 0 may be two different GPUs
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml([1, 2], models=["Tesla T4", "NVIDIA H200"]))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    if order:
        monkeypatch.setenv("CUDA_DEVICE_ORDER", order)
    else:
        monkeypatch.delenv("CUDA_DEVICE_ORDER", raising=False)
    assert (energy.meter(on_gpu=True).source is not None) == measured


def test_a_cpu_or_a_gpu_without_the_counter_measures_nothing(monkeypatch):
    assert energy.meter(on_gpu=False).read_mj() is None
    broken = FakeNvml([])
    broken.nvmlDeviceGetTotalEnergyConsumption = lambda handle: (_ for _ in ()).throw(RuntimeError("not supported"))
    monkeypatch.setitem(sys.modules, "pynvml", broken)
    assert energy.meter(on_gpu=True).source is None
    clock = measure.EpochClock(2, echo=False)
    clock.fit_begin()
    for epoch in range(2):
        clock.epoch_begin(epoch)
        clock.epoch_end(epoch, {})
    assert [row["energy_j"] for row in clock.epochs] == [None, None]
    assert energy.summary([None, None], 1000) == {"steady_epoch_j": None, "images_per_joule": None}
    assert energy.joules(10, 5) is None   # a counter that went back (driver reloaded): no figure
