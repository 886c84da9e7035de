"""What every stage does before any work: die with whoever started it, hold its outputs exclusively, and
make sure it can write them; and what it says when writing fails anyway.

- `die_with_parent()`: the stage process asks the kernel for SIGTERM when its parent (DVC, or the
  repeat stage) dies, so `kill -9` of `dvc repro` leaves no stage behind; a supervising stage passes
  the signal on and its trainer child dies with it (kerasbench/supervise.py), so no orphan trains
  on and writes results out of step with dvc.lock. DVC starts a stage through `$SHELL -c CMD`; bash
  replaces itself with the command, but dash (`/bin/sh` on Debian, DVC's choice when SHELL is unset,
  as under cron or CI) stays in between and outlives DVC, so the stage also watches the first
  ancestor that is not such a shell (`owner()`), through a pidfd.
- `hold(outputs)`: an exclusive lock on the set of output paths, kept until the process ends; a
  second run of the same stage while the first lives refuses with the first one's pid, and changes
  nothing.
- `check_writable(outputs)`: every output's folder exists or can be made, and a file can be
  created there, checked at the start, not after a whole fit.
- `run(main)`: a stage's entry point; an output that cannot be written (no space left, read-only,
  permission) ends it with one line naming the file, and Ctrl-C or SIGTERM with one line naming the
  stage (exit status 130): outputs are written atomically, so an interrupted stage left none behind.
  A stage started by another stage (the repeat stage's runs, NESTED_VAR set) and a stage's measuring
  child (kerasbench/child.py) leave that line to whoever started them.
"""
from __future__ import annotations

import ctypes
import errno
import fcntl
import hashlib
import os
import select
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import Callable, Iterable

_PR_SET_PDEATHSIG = 1
SHELLS = frozenset({"sh", "dash", "bash", "zsh", "ksh", "mksh", "fish", "busybox"})
_held: dict[Path, int] = {}   # lock file -> descriptor, open for the life of the process
WRITE_ERRORS = {errno.ENOSPC: "no space left on the device", errno.EROFS: "the file system is read-only",
                errno.EACCES: "permission denied", errno.EDQUOT: "disk quota exceeded",
                errno.ENOTDIR: "a part of the path is a file, not a folder"}


class OutputError(RuntimeError):
    """An output cannot be written; the message names it and why."""


NESTED_VAR = "KERASBENCH_NESTED"   # set by a stage for the stage processes it starts
_stage = {"label": "the stage"}


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM: raised once; a second signal while the stage unwinds is ignored."""


def _interrupt(signum, _frame) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    raise Interrupted(signal.Signals(signum).name)


def catch_interrupts(stage: str) -> None:
    """Ctrl-C and SIGTERM raise Interrupted (once), so that atomic writes clean up and `run` says one line.
    `stage` names it in that line, e.g. train@torch_native-0."""
    _stage["label"] = stage
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, _interrupt)


def is_shell_wrapper(argv: list[str]) -> bool:
    """Whether a command line is a shell running one command string (`sh [options] -c CMD`), as DVC starts
    a stage's cmd."""
    return bool(argv) and Path(argv[0]).name.lstrip("-") in SHELLS and "-c" in argv[1:]


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
    except OSError:
        return []


def _parent_of(pid: int) -> int:
    try:   # the fields after the command name, which is in parentheses and may hold anything
        return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def owner(pid: int | None = None) -> int:
    """The process that started `pid` (default: this one), looking through `sh -c` wrappers."""
    parent = _parent_of(pid) if pid is not None else os.getppid()
    while parent > 1 and is_shell_wrapper(_cmdline(parent)):
        parent = _parent_of(parent)
    return parent


def _watch(pidfd: int, signum: int) -> None:
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)   # readable once the process has ended
    poller.poll()
    os.kill(os.getpid(), signum)


def die_with_parent(signum: int = signal.SIGTERM) -> None:
    """Receive `signum` when the parent process, or the owner behind a shell wrapper, dies (Linux; elsewhere
    nothing happens)."""
    parent = os.getppid()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:   # it died before the request took effect
        os.kill(os.getpid(), signum)
    ancestor = owner()
    if ancestor in (parent, 0, 1) or not hasattr(os, "pidfd_open"):
        return
    try:
        pidfd = os.pidfd_open(ancestor)
    except ProcessLookupError:   # it is gone already
        os.kill(os.getpid(), signum)
        return
    except OSError:   # a kernel older than 5.3: the shell's own death still reaches us
        return
    threading.Thread(target=_watch, args=(pidfd, signum), name="owner-watch", daemon=True).start()


def lock_path(outputs: Iterable[str | Path]) -> Path:
    """The lock file of a set of outputs: one per user, keyed by their absolute paths."""
    key = "\0".join(sorted(str(Path(p).resolve()) for p in outputs))
    folder = Path(tempfile.gettempdir()) / f"kerasbench-locks-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.lock"


def hold(outputs: list[str | Path], stage: str) -> None:
    """Take the exclusive lock of these outputs for the rest of this process, or exit naming its holder."""
    path = lock_path(outputs)
    if path in _held:   # this process holds it already (a stage's main run twice in one process)
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)   # not inherited by children
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        sys.exit(f"error: {stage}: another run (pid {holder}) is still writing {', '.join(map(str, outputs))}; "
                 "wait for it to end or stop it, then run again (nothing was changed)")
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    _held[path] = fd


def check_writable(outputs: list[str | Path]) -> None:
    """Raise OutputError unless a file can be created where every output goes: in its folder, or, where the
    folder does not exist yet, in the nearest one that does (nothing is left behind: no folder, no file)."""
    for output in outputs:
        folder = Path(output).parent
        existing = next(p for p in (folder, *folder.parents) if p.exists() or p == Path(p.anchor or "."))
        if not existing.is_dir():
            raise OutputError(f"cannot write {output}: {existing} is a file, not a folder")
        try:
            fd, probe = tempfile.mkstemp(prefix=".kerasbench-write-check-", dir=existing)
            os.close(fd)
            os.unlink(probe)
        except OSError as err:
            raise OutputError(f"cannot write {output}: {WRITE_ERRORS.get(err.errno, err.strerror)} ({existing})") \
                from None


def start(outputs: list[str | Path], stage: str) -> None:
    """A stage's first step, in the stage process (its measuring child has nothing to hold): all of the above."""
    catch_interrupts(stage)
    die_with_parent()
    hold(outputs, stage)
    check_writable(outputs)


def explain(err: OSError, path: str | Path | None = None) -> OutputError:
    """An OutputError naming the file and why, for an error while writing an output."""
    where = path or err.filename
    return OutputError(f"cannot write {where}: {WRITE_ERRORS.get(err.errno, err.strerror)}")


def run(main: Callable[[], object], quiet: bool = False) -> None:
    """A stage's entry point: main(), with an unwritable output reported in one line (exit status 1).
    `quiet`: the process was started by a stage (its measuring child) that says the interrupt line itself."""
    quiet = quiet or os.environ.get(NESTED_VAR) == "1"
    try:
        code = main()
    except OutputError as err:
        sys.exit(f"error: {err}")
    except KeyboardInterrupt:
        code = 130
    except SystemExit as done:   # a supervised child's status, passed on by the stage process
        code = done.code
        if code != 130:
            raise
    if code == 130 and not quiet:
        print(f"interrupted during {_stage['label']}; nothing was written; run `dvc repro` again",
              file=sys.stderr, flush=True)
    sys.exit(code if isinstance(code, int) else 0)
