"""Everything known about the machine a result was measured on, one small `collect_*`-style function each.

No framework is imported here: the CPU, the CPUs this process may use and its cgroup quota, the
NVIDIA driver and GPUs through NVML (queried once per process), the git commit, the lock files'
hash, and where a cluster placed the process. `machine()` puts them together for the environment
record written beside every result.
"""
from __future__ import annotations

import datetime
import functools
import hashlib
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path

import psutil

MIB = 1024 * 1024
ROOT = Path(__file__).resolve().parent.parent


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def allowed_cpus() -> list[int]:
    """The CPUs this process may run on (its affinity mask; every CPU where the OS has no such call)."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def available_memory() -> int:
    """Bytes of memory available to new allocations now (psutil: MemAvailable)."""
    return int(psutil.virtual_memory().available)


def quota_cpus(cpu_max: str) -> float | None:
    """CPUs' worth of time a cgroup v2 `cpu.max` line ("QUOTA PERIOD" or "max PERIOD") allows; None: no limit."""
    parts = cpu_max.split()
    if len(parts) != 2 or parts[0] == "max":
        return None
    return int(parts[0]) / int(parts[1])


def cgroup_paths(proc_self_cgroup: str) -> tuple[str | None, str | None]:
    """(cgroup v2 path, cgroup v1 path of the cpu controller) from /proc/self/cgroup's text."""
    v2 = v1 = None
    for line in proc_self_cgroup.splitlines():
        number, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if number == "0" and controllers == "":
            v2 = path
        elif "cpu" in controllers.split(","):
            v1 = path
    return v2, v1


def cgroup_cpu_quota(root: Path = Path("/sys/fs/cgroup"), proc: Path = Path("/proc/self/cgroup")) -> dict:
    """The tightest CPU quota on this process's cgroup and its ancestors: {"cpus": float or None
    (no limit), "source": the file and its text} ; {"cpus": None, "source": None} where unreadable."""
    try:
        v2, v1 = cgroup_paths(proc.read_text())
    except OSError:
        return {"cpus": None, "source": None}
    found: list[tuple[float | None, str]] = []
    if v2 is not None and (root / "cgroup.controllers").is_file():
        folder = root / v2.lstrip("/")
        for where in [folder, *folder.parents]:
            if not where.is_relative_to(root):
                break
            try:
                text = (where / "cpu.max").read_text().strip()
            except OSError:
                continue
            found.append((quota_cpus(text), f"{where / 'cpu.max'}: {text}"))
    elif v1 is not None:
        for name in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
            folder = root / name / v1.lstrip("/")
            try:
                quota = int((folder / "cpu.cfs_quota_us").read_text())
                period = int((folder / "cpu.cfs_period_us").read_text())
            except (OSError, ValueError):
                continue
            found.append((quota / period if quota > 0 else None,
                          f"{folder / 'cpu.cfs_quota_us'}: {quota} per {period}"))
            break
    if not found:
        return {"cpus": None, "source": None}
    limited = [f for f in found if f[0] is not None]
    cpus, source = min(limited) if limited else found[0]
    return {"cpus": cpus, "source": source}


@functools.lru_cache(maxsize=1)
def nvidia_host() -> dict:
    """What the NVIDIA driver reports through NVML, independent of any framework (once per process):
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


# Variables a cluster engine sets in a task (Slurm; Kubernetes' Indexed Job) and the fan-out's own.
CLUSTER_VARS = {"slurm_job": "SLURM_JOB_ID", "slurm_array_task": "SLURM_ARRAY_TASK_ID",
                "slurm_node": "SLURMD_NODENAME", "k8s_completion_index": "JOB_COMPLETION_INDEX",
                "k8s_node": "KERASBENCH_NODE_NAME", "placement": "KERASBENCH_PLACEMENT"}


def cluster() -> dict | None:
    """Where a cluster placed this process (node, job, and whether the fan-out asked for the node to
    itself: placement exclusive or shared); None outside a cluster task."""
    found = {key: os.environ[var] for key, var in CLUSTER_VARS.items() if os.environ.get(var)}
    if not found:
        return None
    return {"node": found.get("slurm_node") or found.get("k8s_node") or socket.gethostname(), **found}


def machine() -> dict:
    """What the result was measured on: interpreter, OS, CPU, memory, GPUs, commit, time."""
    host = nvidia_host()
    return {
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "platform": platform.platform(),
        "hostname": socket.gethostname(),
        "cpu": {"model": cpu_model(), "logical_cores": psutil.cpu_count(logical=True),
                "physical_cores": psutil.cpu_count(logical=False)},
        "memory_total_gib": round(psutil.virtual_memory().total / 1024**3, 1),
        "gpus": [{**gpu, "driver": host["driver"], "cuda": host["cuda"]} for gpu in host["gpus"]],
        "git_commit": git_commit(),
        "lock_sha256": lock_sha256(),
        "cluster": cluster(),
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
