"""kerasbench/interference.py and kerasbench/host.py's CPU placement: arithmetic on recorded inputs with known
answers, the verdict on generated summaries, missing sources, and one real loaded-against-quiet measurement."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from kerasbench import host, interference
from kerasbench.interference import Snapshot
from tests.helpers import write_data

ROOT = Path(__file__).resolve().parents[1]

# /proc/stat as Linux writes it: user nice system idle iowait irq softirq steal guest guest_nice (ticks)
STAT_A = """cpu  1000 10 300 9000 50 0 20 40 0 0
cpu0 500 5 150 4500 25 0 10 20 0 0
cpu1 500 5 150 4500 25 0 10 20 0 0
intr 123456 0 0
ctxt 987654
"""
STAT_B = """cpu  1400 10 400 9300 50 0 30 60 100 0
cpu0 560 5 170 4800 25 0 12 20 0 0
cpu1 840 5 230 4500 25 0 18 40 100 0
intr 123999 0 0
"""


def test_proc_stat_busy_and_steal_of_chosen_cpus():
    assert interference.parse_proc_stat(STAT_A, [0, 1]) == (1330, 40)     # 500+5+150+0+10 per CPU; steal 20 each
    assert interference.parse_proc_stat(STAT_B, [1]) == (1093, 40)        # guest (100) is inside user already
    assert interference.parse_proc_stat(STAT_B, [0]) == (747, 20)
    assert interference.parse_proc_stat(STAT_A, [0, 7]) is None           # a CPU the file does not list
    assert interference.parse_proc_stat("cpu0 1 2 3 4\n", [0]) == (6, 0)  # old kernels: fewer columns


def snap(wall, own, busy, steal, invol=0, mhz=None) -> Snapshot:
    return Snapshot(wall, own, busy, steal, invol, mhz)


def test_others_and_steal_between_two_snapshots():
    # 2 s on 2 CPUs = 4 CPU-seconds of capacity; the CPUs were busy 300 ticks = 3.0 s, 2.0 s of it ours
    got = interference.between(snap(10.0, 5.0, 1000, 40, 7, 2000.0), snap(12.0, 7.0, 1300, 60, 19, 3000.0), 2, 100)
    assert got == pytest.approx({"cpu_s": 2.0, "others_share": 0.25, "steal_share": 0.05, "invol_cs": 12,
                                 "cpu_mhz": 2500.0})
    # tick sampling can put the machine's busy time a tick under our exact own time: kept, not clipped
    low = interference.between(snap(0.0, 0.0, 0, 0), snap(1.0, 1.0, 99, 0), 1, 100)
    assert low["others_share"] == pytest.approx(-0.01)


def test_the_summary_weights_windows_and_clips_only_at_the_end():
    rows = [{"cpu_s": 1.0, "others_share": 0.5, "steal_share": 0.0, "invol_cs": 10, "cpu_mhz": None},
            {"cpu_s": 3.0, "others_share": -0.02, "steal_share": 0.1, "invol_cs": 30, "cpu_mhz": None}]
    got = interference.summarize(rows, [1.0, 3.0], 2)
    assert got["others_share"] == pytest.approx((0.5 * 1 - 0.02 * 3) / 4)   # 0.11: the long quiet epoch weighs more
    assert got["steal_share"] == pytest.approx(0.075) and got["others_share_max"] == 0.5
    assert got["own_cpu_share"] == pytest.approx(4.0 / (4.0 * 2)) and got["invol_cs_per_s"] == pytest.approx(10.0)
    assert got["window_s"] == 4.0 and got["cpus"] == 2 and got["cpu_mhz"] is None
    quiet = interference.summarize([{**rows[1], "others_share": -0.01}], [3.0], 2)
    assert quiet["others_share"] == 0.0


@pytest.mark.parametrize("summary, flagged", [
    ({"others_share": 0.38, "steal_share": 0.0}, "other processes used 38% of its CPUs (limit 10%)"),
    ({"others_share": 0.02, "steal_share": 0.12}, "the hypervisor stole 12% of its CPUs (limit 5%)"),
    ({"others_share": 0.02, "steal_share": 0.01}, None),
    ({"others_share": 0.10, "steal_share": 0.05}, None),          # at the limit is not over it
    ({"others_share": None, "steal_share": None}, None),          # not measured: no verdict
    (None, None), ({}, None),
])
def test_the_verdict_flags_a_loaded_process_and_not_a_quiet_one(summary, flagged):
    assert interference.disturbed(summary) == flagged


def test_without_proc_stat_or_cpufreq_the_figures_are_unavailable(monkeypatch, tmp_path):
    monkeypatch.setattr(interference, "PROC_STAT", tmp_path / "no-such-stat")
    monkeypatch.setattr(interference, "CPUFREQ", str(tmp_path / "cpu{}" / "scaling_cur_freq"))
    probe = interference.Probe()
    a = probe.snapshot()
    b = probe.snapshot()
    got = probe.between(a, b)
    assert got["others_share"] is None and got["steal_share"] is None and got["cpu_mhz"] is None
    assert got["cpu_s"] >= 0 and got["invol_cs"] >= 0
    summary = interference.summarize([got], [b.wall_s - a.wall_s], len(probe.cpus))
    assert summary["others_share"] is None and interference.disturbed(summary) is None
    assert "not measured" in interference.verdict_line(summary)
    for cpu in probe.cpus:   # where cpufreq exists, the mean of the allowed CPUs' current frequencies
        (tmp_path / f"cpu{cpu}").mkdir()
        (tmp_path / f"cpu{cpu}" / "scaling_cur_freq").write_text(f"{2_000_000 + 1000 * cpu}\n")
    expected = sum(2000 + cpu for cpu in probe.cpus) / len(probe.cpus)
    assert probe.snapshot().cpu_mhz == pytest.approx(expected)


def test_cgroup_quota_v2_and_v1(tmp_path):
    assert host.quota_cpus("max 100000") is None and host.quota_cpus("150000 100000") == 1.5
    assert host.cgroup_paths("0::/user.slice/job\n") == ("/user.slice/job", None)
    assert host.cgroup_paths("4:cpu,cpuacct:/docker/abc\n1:name=systemd:/\n") == (None, "/docker/abc")
    v2 = tmp_path / "v2"
    (v2 / "a" / "b").mkdir(parents=True)
    (v2 / "cgroup.controllers").write_text("cpu memory\n")
    (v2 / "a" / "cpu.max").write_text("200000 100000\n")
    (v2 / "a" / "b" / "cpu.max").write_text("max 100000\n")
    proc = tmp_path / "cgroup"
    proc.write_text("0::/a/b\n")
    assert host.cgroup_cpu_quota(v2, proc) == {"cpus": 2.0, "source": f"{v2 / 'a' / 'cpu.max'}: 200000 100000"}
    v1 = tmp_path / "v1"
    (v1 / "cpu,cpuacct" / "k8s").mkdir(parents=True)
    (v1 / "cpu,cpuacct" / "k8s" / "cpu.cfs_quota_us").write_text("50000\n")
    (v1 / "cpu,cpuacct" / "k8s" / "cpu.cfs_period_us").write_text("100000\n")
    proc.write_text("3:cpu,cpuacct:/k8s\n")
    assert host.cgroup_cpu_quota(v1, proc)["cpus"] == 0.5
    assert host.cgroup_cpu_quota(tmp_path / "none", tmp_path / "missing") == {"cpus": None, "source": None}


MEASURED = textwrap.dedent("""
    import json, os, sys, time
    from kerasbench import interference
    os.sched_setaffinity(0, {int(sys.argv[1])})
    probe = interference.Probe()
    rows, windows = [], []
    for _ in range(3):                      # three 0.7 s "epochs" of pure Python work
        a = probe.snapshot()
        end = time.perf_counter() + 0.7
        while time.perf_counter() < end:
            pass
        b = probe.snapshot()
        rows.append(probe.between(a, b))
        windows.append(b.wall_s - a.wall_s)
    print(json.dumps(interference.summarize(rows, windows, len(probe.cpus))))
""")


def measure_on(cpu: int) -> dict:
    import json
    done = subprocess.run([sys.executable, "-c", MEASURED, str(cpu)], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)
    return json.loads(done.stdout)


@pytest.mark.skipif(not Path("/proc/stat").exists(), reason="needs Linux's /proc/stat")
@pytest.mark.quiet
def test_a_cpu_burner_beside_the_process_is_seen_and_a_quiet_run_is_not():
    cpu = max(os.sched_getaffinity(0))
    quiet = measure_on(cpu)
    burn = f"import os; os.sched_setaffinity(0, {{{cpu}}})\nwhile True: pass"
    burner = subprocess.Popen([sys.executable, "-c", burn])
    try:
        time.sleep(0.3)
        loaded = measure_on(cpu)
    finally:
        burner.kill()
        burner.wait()
    assert interference.disturbed(quiet) is None, quiet
    assert quiet["own_cpu_share"] > 0.8            # it had its CPU to itself
    assert interference.disturbed(loaded) and loaded["others_share"] > 0.3, loaded
    assert loaded["own_cpu_share"] < 0.7           # and the burner took a share of it


@pytest.mark.e2e
@pytest.mark.quiet
def test_two_trainers_at_once_are_both_disturbed_and_one_alone_is_not(tmp_path):
    """What `dvc queue start -j 2` (or two `dvc repro` in two clones) does to a machine: two training processes
    at once. Each must come out disturbed, not merely slower; the same process alone must not."""
    import json

    import numpy as np
    import yaml
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (3000, 32, 32, 3), dtype=np.uint8)
    y = (np.arange(3000) % 10).astype(np.uint8)
    write_data(tmp_path, x, y, x[:100], y[:100])
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"].update(source="synthetic", md5=None)
    params["train"].update(epochs=4, batch_size=32)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))

    def start(tag):
        return subprocess.Popen([sys.executable, "-m", "stages.train", "keras3_torch", "0", "data.npz", "data.json",
                                 "-", f"{tag}.json", f"{tag}.env.json", f"{tag}.csv"], cwd=tmp_path,
                                env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, text=True)

    def verdict(tag):
        return json.loads((tmp_path / f"{tag}.json").read_text())["interference"]

    alone = start("alone")
    assert alone.wait(timeout=300) == 0
    pair = [start("first"), start("second")]
    outs = [p.communicate(timeout=300)[0] for p in pair]
    assert [p.returncode for p in pair] == [0, 0]
    assert interference.disturbed(verdict("alone")) is None, verdict("alone")
    for tag, out in zip(("first", "second"), outs):
        assert interference.disturbed(verdict(tag)), verdict(tag)
        assert "DISTURBED: other processes used" in out
