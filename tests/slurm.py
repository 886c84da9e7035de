"""A real one-node Slurm cluster for tests, started as root in a folder of its own.

munged, slurmctld and slurmd run with every path (config, key, socket, state, spool, logs, pids)
under that folder and with ports picked free at start, so two clusters never collide and
nothing is left behind once `stop()` has run. Clients find the cluster through SLURM_CONF.

    python -m tests.slurm up DIR      # start one by hand; prints the SLURM_CONF to export
    python -m tests.slurm down DIR    # stop it
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

PACKAGES = "slurm-wlm munge"
DAEMONS = ("munged", "slurmctld", "slurmd")

CONF = """\
ClusterName=kerasbench-test
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
AuthType=auth/munge
AuthInfo=socket={base}/munge/munge.socket
StateSaveLocation={base}/state
SlurmdSpoolDir={base}/spool
SlurmctldPidFile={base}/slurmctld.pid
SlurmdPidFile={base}/slurmd.pid
SlurmctldLogFile={base}/log/slurmctld.log
SlurmdLogFile={base}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
KillWait=5
NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""


class SlurmUnavailable(RuntimeError):
    pass


def missing() -> list[str]:
    """The daemons and clients that are not installed."""
    needed = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "scontrol")
    return [c for c in needed if shutil.which(c) is None]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self, base: Path, cpus: int = 2):
        self.base, self.cpus = Path(base), cpus
        self.conf = self.base / "slurm.conf"

    @property
    def env(self) -> dict[str, str]:
        """os.environ plus SLURM_CONF: what every Slurm client of this cluster needs."""
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def _write_config(self) -> None:
        for sub in ("munge", "state", "spool", "log", "key"):
            (self.base / sub).mkdir(parents=True, exist_ok=True)
        # munged insists that everyone can reach its socket's folder, and that only root reads the key.
        os.chmod(self.base, 0o755)
        os.chmod(self.base / "munge", 0o755)
        os.chmod(self.base / "key", 0o700)
        key = self.base / "key" / "munge.key"
        key.write_bytes(os.urandom(1024))
        os.chmod(key, 0o400)
        ports = _free_port(), _free_port()
        self.conf.write_text(CONF.format(base=self.base, ctld_port=ports[0], slurmd_port=ports[1], cpus=self.cpus))

    def _run(self, *cmd: str) -> None:
        result = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise SlurmUnavailable(f"{' '.join(cmd)} failed: {result.stderr.strip()}\n{self.logs()}")

    def start(self, timeout_s: float = 60) -> "Cluster":
        if missing():
            raise SlurmUnavailable(f"Slurm is not installed ({', '.join(missing())} missing): "
                                   f"apt-get install {PACKAGES}")
        if os.geteuid() != 0:
            raise SlurmUnavailable("the test cluster runs its daemons as root")
        self._write_config()
        m = self.base / "munge"
        self._run("munged", f"--key-file={self.base}/key/munge.key", f"--socket={m}/munge.socket",
                  f"--pid-file={m}/munged.pid", f"--log-file={m}/munged.log", f"--seed-file={m}/munged.seed")
        self._run("slurmctld", "-f", str(self.conf))
        self._run("slurmd", "-f", str(self.conf))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            out = subprocess.run(["sinfo", "--noheader", "--format", "%T"], env=self.env,
                                 capture_output=True, text=True).stdout.split()
            if out == ["idle"]:
                return self
            time.sleep(0.5)
        raise SlurmUnavailable(f"the node did not become idle within {timeout_s:.0f} s\n{self.logs()}")

    def _pids(self) -> dict[str, int]:
        files = {"slurmd": self.base / "slurmd.pid", "slurmctld": self.base / "slurmctld.pid",
                 "munged": self.base / "munge" / "munged.pid"}
        pids = {}
        for name, path in files.items():
            try:
                pids[name] = int(path.read_text().split()[0])
            except (FileNotFoundError, IndexError, ValueError):
                pass
        return pids

    def stop(self, timeout_s: float = 15) -> None:
        """Cancel every job, then stop slurmd, slurmctld and munged, each by its own pid."""
        subprocess.run(["scancel", "--full", "--user", "root"], env=self.env, capture_output=True, timeout=30)
        deadline = time.monotonic() + timeout_s
        while self.jobs() and time.monotonic() < deadline:  # let slurmstepd end each job's processes
            time.sleep(0.5)
        for pid in self._pids().values():
            _terminate(pid, timeout_s)

    def jobs(self) -> list[str]:
        """Ids of the jobs (array tasks one by one) still in the queue."""
        result = subprocess.run(["squeue", "--noheader", "--array", "--format", "%i"], env=self.env,
                                capture_output=True, text=True, timeout=30)
        return result.stdout.split() if result.returncode == 0 else []

    def logs(self) -> str:
        parts = []
        for path in (self.base / "log" / "slurmctld.log", self.base / "log" / "slurmd.log",
                     self.base / "munge" / "munged.log"):
            if path.is_file():
                parts.append(f"--- {path.name} (last lines)\n" + "\n".join(path.read_text().splitlines()[-15:]))
        return "\n".join(parts)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (our own child not yet reaped) counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _terminate(pid: int, timeout_s: float) -> None:
    if not _alive(pid):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)


if __name__ == "__main__":
    action, folder = sys.argv[1], Path(sys.argv[2]).resolve()
    cluster = Cluster(folder)
    if action == "up":
        folder.mkdir(parents=True, exist_ok=True)
        cluster.start()
        print(f"export SLURM_CONF={cluster.conf}")
    else:
        cluster.stop()
