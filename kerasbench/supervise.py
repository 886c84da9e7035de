"""A stage's work runs in a child process whose stderr the stage process owns.

`run_supervised()` re-runs the current `python -m MODULE ARGS...` command as a child (under the
contender's interpreter), reads the child's stderr through a pipe and passes every byte on to its
own stderr, except whole lines of TensorFlow's known start-up noise. Because the reader is another
process, not a thread that competes for the child's GIL:

- nothing the child writes to fd 2 can block for long: the pipe is drained continuously;
- whatever the child wrote before it died, by an exception, `os.abort()`, `os._exit()`, a signal
  or SIGKILL, is still in the pipe and reaches the terminal (a pipe keeps its data after its
  writer dies), followed by one line that names the signal, if it was one;
- the child dies with its parent (PR_SET_PDEATHSIG), so a killed stage leaves no trainer behind.

The child can also send the parent messages, one JSON object per line on a pipe of their own
(`send()`; the descriptor is in MESSAGE_VAR): the train stage sends each finished epoch's row, and
the parent logs it where DVC's tools look (kerasbench/live.py). A message is written after the
epoch's clock stopped, and the parent reads it in a thread of its own process.

The parent imports no framework and exits with the child's status (128 + N for signal N).
"""
from __future__ import annotations

import ctypes
import json
import os
import re
import signal
import subprocess
import sys
import threading
from typing import Callable

CHILD_VAR = "KERASBENCH_ACTIVE"  # set in the child: the contender it runs
MESSAGE_VAR = "KERASBENCH_MESSAGE_FD"   # set in the child: the pipe to its parent's message reader

# Native (C++) lines that TensorFlow prints on a healthy run and TF_CPP_MIN_LOG_LEVEL cannot hide
# (most come before its logging is set up). Anything else is passed on, byte for byte.
BENIGN_NATIVE = re.compile("|".join([
    r"All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    r"oneDNN custom operations are on",
    r"Could not find cuda drivers on your machine",
    r"Unable to register cu(DNN|FFT|BLAS) factory",
    r"computation placer already registered",
    r"TF-TRT Warning: Could not find TensorRT",
    r"This TensorFlow binary is optimized to use available CPU instructions",
    r"To enable the following instructions",
    # tf.data graphs built by a newer op set than the runtime; TF itself says it may be expected.
    r"NodeDef mentions attribute use_unbounded_threadpool which is not in the op definition",
]).encode())
NO_DRIVER_NATIVE = re.compile(rb"failed call to cuInit")  # expected only where no NVIDIA driver is installed

SIGNAL_HINTS = {
    signal.SIGKILL: "killed from outside: the kernel's out-of-memory killer, a scheduler, or kill -9",
    signal.SIGSEGV: "a crash in native code (framework, driver or extension)",
    signal.SIGABRT: "an abort in native code, e.g. a failed XLA/CUDA check; its message is above",
    signal.SIGBUS: "a crash in native code (bad memory access)",
    signal.SIGTERM: "terminated from outside",
}
_PR_SET_PDEATHSIG = 1


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment for a new stage process that selects and supervises its own contender
    (without CHILD_VAR, which would make it skip both, or a message pipe that is not its own), plus `extra`."""
    return {**{k: v for k, v in os.environ.items() if k not in (CHILD_VAR, MESSAGE_VAR)}, **extra}


def send(message: dict) -> None:
    """In a supervised child: one message to the parent (nothing happens without a parent listening)."""
    fd = os.environ.get(MESSAGE_VAR)
    if not fd:
        return
    try:
        os.write(int(fd), (json.dumps(message) + "\n").encode())
    except OSError:   # the parent stopped listening: the child's own work goes on
        pass


def _receive(read_fd: int, on_message: Callable[[dict], None]) -> None:
    with os.fdopen(read_fd, "rb") as stream:
        for line in stream:
            try:
                on_message(json.loads(line))
            except Exception as err:  # noqa: BLE001 - a broken logger must not take the stage down
                print(f"warning: message from the child not handled: {err}", file=sys.stderr, flush=True)


def benign(line: bytes, no_driver: bool) -> bool:
    """Whether a whole stderr line is known start-up noise that a healthy run may drop."""
    return bool(BENIGN_NATIVE.search(line) or (no_driver and NO_DRIVER_NATIVE.search(line)))


def forward(read_fd: int, write_fd: int, no_driver: bool) -> None:
    """Copy everything from read_fd to write_fd until end of file, dropping benign whole lines.

    Each complete line is written as soon as it is read; a last line without a newline is
    written at end of file (when the child has exited, however it died).
    """
    pending = b""
    while True:
        chunk = os.read(read_fd, 65536)
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        out = b"".join(line + b"\n" for line in lines if not benign(line, no_driver))
        if out:
            _write_all(write_fd, out)
    if pending and not benign(pending, no_driver):
        _write_all(write_fd, pending)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the child may outlive a killed parent
        pass


def describe_exit(returncode: int) -> str | None:
    """One line for a child that died from a signal; None for an ordinary exit."""
    if returncode >= 0:
        return None
    sig = signal.Signals(-returncode)
    hint = SIGNAL_HINTS.get(sig, "a signal")
    return f"error: the stage's process died from {sig.name} ({hint})"


def become_child(python: str, tag: str, on_message: Callable[[dict], None] | None = None) -> None:
    """For a script (a stage hands a plan instead, kerasbench/launch.py): re-run this `python -m MODULE ...`
    under `python`, supervised, and exit with its status (never returns); `on_message` receives what the
    child send()s. In the child (CHILD_VAR set to `tag`): return at once."""
    if os.environ.get(CHILD_VAR):
        return
    spec = getattr(sys.modules["__main__"], "__spec__", None)
    if spec is None:
        raise RuntimeError("a supervised process must be run as `python -m MODULE`")
    try:
        code = run_supervised(python, spec.name, sys.argv[1:], {**os.environ, CHILD_VAR: tag}, on_message=on_message)
    finally:
        close = getattr(on_message, "close", None)
        if close is not None:
            close()
    sys.exit(code)


def run_supervised(python: str, module: str, args: list[str], env: dict[str, str], join_s: float = 2.0,
                   on_message: Callable[[dict], None] | None = None) -> int:
    """Run `python -m module args` as a filtered child; return the status this process should exit with."""
    no_driver = not os.path.exists("/proc/driver/nvidia/version")
    sys.stdout.flush()
    sys.stderr.flush()
    receiver, pass_fds = None, ()
    if on_message is not None:
        read_fd, write_fd = os.pipe()
        env, pass_fds = {**env, MESSAGE_VAR: str(write_fd)}, (write_fd,)
        receiver = threading.Thread(target=_receive, args=(read_fd, on_message), name="messages", daemon=True)
    child = subprocess.Popen([python, "-m", module, *args], env=env, stderr=subprocess.PIPE,
                             preexec_fn=_die_with_parent, pass_fds=pass_fds)
    if receiver is not None:
        os.close(write_fd)   # the child holds the only write end: its exit ends the reader's stream
        receiver.start()
    reader = threading.Thread(target=forward, args=(child.stderr.fileno(), sys.stderr.fileno(), no_driver),
                              name="stderr-forward", daemon=True)
    reader.start()

    def pass_on(signum, _frame):
        child.send_signal(signum)

    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, pass_on)  # Ctrl-C reaches the child through the process group as well
    returncode = child.wait()
    # A grandchild that inherited the pipe (a worker process) may keep it open: don't wait for it.
    reader.join(join_s)
    if receiver is not None:
        receiver.join(join_s)   # every message the child sent before it ended is handled
    message = describe_exit(returncode)
    if message:
        print(message, file=sys.stderr, flush=True)
        return 128 - returncode
    return returncode
