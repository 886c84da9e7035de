"""What else the machine did while a process was being timed, and whether that disturbed it.

A `Probe` takes a `Snapshot` right before a timed region's clock starts and right after it stops
(an epoch, an inference pass), so nothing is added inside the timed region. Between two
snapshots, `between()` gives:

- `cpu_s`: CPU time (user + system) of this process and its descendants;
- `others_share`: CPU time that everything else used on the CPUs this process may run on
  (their busy time in /proc/stat minus this process tree's), as a share of those CPUs' capacity
  over the window (wall time x number of CPUs);
- `steal_share`: time the hypervisor gave those CPUs to other guests, the same way;
- `invol_cs`: involuntary context switches of this process (all its threads: the scheduler took
  the CPU away);
- `cpu_mhz`: the mean current frequency of those CPUs where the OS exposes it (cpufreq).

Where a source is missing (no /proc/stat on macOS, no cpufreq in most VMs and containers) the
figure is None: recorded as unavailable, never a failure. KERASBENCH_INTERFERENCE=off swaps in a
probe that reads nothing (`probe()`), to measure what the probe itself costs.

The verdict (`disturbed`) is made over all of a process's timed regions together: /proc/stat is
tick-sampled (USER_HZ, usually 10 ms per CPU), so one short window's `others_share` is an estimate
that may come out slightly negative (own CPU time is exact, the machine's busy time sampled); it is
kept unclipped so that the sum over a process's windows stays unbiased, and only the summary is
clipped at 0.
THRESHOLDS and their reasoning are below, in one place; the report, `kerasbench compare` and the
train stage's last line all use `disturbed()`.
"""
from __future__ import annotations

import math
import os
import resource
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import psutil

PROC_STAT = Path("/proc/stat")
CPUFREQ = "/sys/devices/system/cpu/cpu{}/cpufreq/scaling_cur_freq"

# A process is disturbed when, over its timed regions, other processes used more than OTHERS_SHARE
# of the capacity of the CPUs it may run on, or the hypervisor stole more than STEAL_SHARE of it.
# Reasoning, from the 2-core development VM (docs/methodology.md, "Interference"): over 80 quiet
# training processes (8 contenders x 5, default threads and pinned) the others' share was 0.02%
# at the median and 2.2% at most (7% in the single worst epoch, short epochs being coarse), and
# steal at most 0.15%; one CPU-burning process beside a 2-thread trainer gave 36%, and two
# trainers at once give each other 30-50%. 10% sits far from both, and a tenth of the machine
# already moves an epoch by more than its spread. Steal takes the CPU away outright: lower bar.
THRESHOLDS = {"others_share": 0.10, "steal_share": 0.05}
COLUMNS = ("cpu_s", "others_share", "steal_share", "invol_cs", "cpu_mhz")


@dataclass(frozen=True)
class Snapshot:
    wall_s: float                  # time.perf_counter()
    own_cpu_s: float               # this process tree, user + system
    busy_ticks: int | None         # the allowed CPUs' busy time in /proc/stat (user nice system irq softirq)
    steal_ticks: int | None
    invol_cs: int                  # this process's involuntary context switches, all threads
    cpu_mhz: float | None


def parse_proc_stat(text: str, cpus: Iterable[int]) -> tuple[int, int] | None:
    """(busy, steal) ticks summed over `cpus` from /proc/stat's per-CPU lines; None when a CPU is absent.

    Columns: user nice system idle iowait irq softirq steal guest guest_nice. guest and guest_nice
    are already inside user and nice, so busy = user + nice + system + irq + softirq.
    """
    wanted = {f"cpu{c}" for c in cpus}
    busy = steal = 0
    seen = set()
    for line in text.splitlines():
        name, *fields = line.split()
        if name not in wanted:
            continue
        values = [int(v) for v in fields] + [0] * (8 - len(fields))
        user, nice, system, _idle, _iowait, irq, softirq, stolen = values[:8]
        busy += user + nice + system + irq + softirq
        steal += stolen
        seen.add(name)
    return (busy, steal) if seen == wanted and wanted else None


def between(a: Snapshot, b: Snapshot, n_cpus: int, hz: int) -> dict[str, float | None]:
    """The figures of the window from snapshot a to snapshot b (the module docstring says what each is)."""
    window = b.wall_s - a.wall_s
    cpu_s = b.own_cpu_s - a.own_cpu_s
    others = steal = None
    if a.busy_ticks is not None and b.busy_ticks is not None and window > 0 and n_cpus > 0:
        capacity = window * n_cpus
        others = ((b.busy_ticks - a.busy_ticks) / hz - cpu_s) / capacity   # not clipped: see below
        steal = (b.steal_ticks - a.steal_ticks) / hz / capacity
    mhz = [m for m in (a.cpu_mhz, b.cpu_mhz) if m is not None]
    return {"cpu_s": cpu_s, "others_share": others, "steal_share": steal, "invol_cs": b.invol_cs - a.invol_cs,
            "cpu_mhz": sum(mhz) / len(mhz) if mhz else None}


def summarize(rows: list[dict], windows: list[float], n_cpus: int) -> dict[str, float | int | None]:
    """One process's figures over its timed regions: shares weighted by each window's length."""
    total = sum(windows)

    def weighted(key):
        pairs = [(r[key], w) for r, w in zip(rows, windows) if r.get(key) is not None]
        if not pairs or total <= 0:
            return None
        return max(0.0, sum(v * w for v, w in pairs) / sum(w for _, w in pairs))

    mhz = sorted(r["cpu_mhz"] for r in rows if r.get("cpu_mhz") is not None)
    shares = [r["others_share"] for r in rows if r.get("others_share") is not None]
    return {
        "cpus": n_cpus,
        "window_s": total,
        "own_cpu_share": sum(r["cpu_s"] for r in rows) / (total * n_cpus) if total > 0 and n_cpus else None,
        "others_share": weighted("others_share"),
        "others_share_max": max(shares) if shares else None,
        "steal_share": weighted("steal_share"),
        "invol_cs_per_s": sum(r["invol_cs"] for r in rows) / total if total > 0 else None,
        "cpu_mhz": mhz[len(mhz) // 2] if mhz else None,
    }


def disturbed(summary: dict | None) -> str | None:
    """Why a process with this summary counts as disturbed ('others used 38% of the CPUs'), or None."""
    if not summary:
        return None
    reasons = []
    for key, limit in THRESHOLDS.items():
        value = summary.get(key)
        if isinstance(value, (int, float)) and not math.isnan(value) and value > limit:
            what = "other processes used" if key == "others_share" else "the hypervisor stole"
            reasons.append(f"{what} {value:.0%} of its CPUs (limit {limit:.0%})")
    return "; ".join(reasons) or None


def verdict_line(summary: dict | None) -> str:
    """For a stage's last line: 'disturbed: ...' or 'quiet (others 1% of 2 CPUs, steal 0%)'."""
    why = disturbed(summary)
    if why:
        return f"DISTURBED: {why}"
    if not summary or summary.get("others_share") is None:
        return "interference not measured (no /proc/stat here, or KERASBENCH_INTERFERENCE=off)"
    return (f"quiet (others {summary['others_share']:.0%} of {summary['cpus']} CPU(s), "
            f"steal {summary['steal_share']:.0%})")


# ---------------------------------------------------------------- reading the machine

def _tree_cpu_s(process: psutil.Process) -> float:
    """User + system CPU seconds of this process (all threads) and of its live descendants."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    total = usage.ru_utime + usage.ru_stime
    try:
        for child in process.children(recursive=True):
            try:
                times = child.cpu_times()
                total += times.user + times.system
            except psutil.Error:   # ended between listing and reading
                pass
    except psutil.Error:
        pass
    return total


def _cpu_mhz(cpus: list[int]) -> float | None:
    values = []
    for cpu in cpus:
        try:
            values.append(int(Path(CPUFREQ.format(cpu)).read_text()) / 1000)
        except (OSError, ValueError):
            return None
    return sum(values) / len(values) if values else None


class Probe:
    """Snapshots for one process, on the CPUs it may run on (fixed when the probe is made)."""

    def __init__(self):
        self.cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
            list(range(os.cpu_count() or 1))
        self.hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.process = psutil.Process()

    def snapshot(self) -> Snapshot:
        try:
            ticks = parse_proc_stat(PROC_STAT.read_text(), self.cpus)
        except OSError:
            ticks = None
        own = _tree_cpu_s(self.process)
        invol = resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw
        busy, steal = ticks if ticks else (None, None)
        return Snapshot(time.perf_counter(), own, busy, steal, invol, _cpu_mhz(self.cpus))

    def between(self, a: Snapshot, b: Snapshot) -> dict[str, float | None]:
        return between(a, b, len(self.cpus), self.hz)


class NullProbe(Probe):
    """Reads nothing but the clock: every figure unavailable (KERASBENCH_INTERFERENCE=off)."""

    def snapshot(self) -> Snapshot:
        return Snapshot(time.perf_counter(), 0.0, None, None, 0, None)


def probe() -> Probe:
    """The probe for this process: a real one unless KERASBENCH_INTERFERENCE=off."""
    return NullProbe() if os.environ.get("KERASBENCH_INTERFERENCE") == "off" else Probe()
