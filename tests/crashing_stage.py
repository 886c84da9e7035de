"""A stage that dies on purpose, supervised exactly like the real ones (kerasbench/supervise.py).

    python -m tests.crashing_stage MODE

It writes its last words to fd 2 the way native code does (os.write, no Python buffering), then
ends as MODE says: exception, abort, _exit, segfault, sigkill, gil_write (1 MiB to fd 2 from
native code that holds the GIL), noise (TensorFlow's start-up noise around an error line),
partial (a last line without newline), sleep (prints its pid and waits to be killed), epochs
(`epochs DIR`: the stage process logs epochs with dvclive into DIR; the child sends two finished
epochs to it, then is killed in the middle of the third).
"""
from __future__ import annotations

import ctypes
import os
import signal
import sys
import time

from kerasbench import supervise


def last_words(mode: str) -> None:
    os.write(2, f"last words before {mode}\n".encode())


def main() -> None:
    mode = sys.argv[1]
    log = None
    if mode == "epochs" and not os.environ.get(supervise.CHILD_VAR):
        from kerasbench.live import EpochLog
        log = EpochLog(sys.argv[2]).open()
    supervise.become_child(sys.executable, f"crash-{mode}", log)
    import faulthandler
    faulthandler.enable()
    if mode == "exception":
        raise RuntimeError("last words before exception")
    if mode == "abort":
        last_words(mode)
        os.abort()
    if mode == "_exit":
        last_words(mode)
        os._exit(3)
    if mode == "segfault":
        last_words(mode)
        ctypes.string_at(0)
    if mode == "sigkill":
        last_words(mode)
        os.kill(os.getpid(), signal.SIGKILL)
    if mode == "gil_write":
        data = b"x" * (1 << 20) + b"\n"
        ctypes.PyDLL(None).write(2, data, len(data))  # PyDLL: the GIL stays held during the call
        last_words(mode)
        os._exit(0)
    if mode == "noise":
        os.write(2, b"2026-01-01 00:00:00.000000: I external/local_xla/xla/tsl/cuda/cudart_stub.cc:31] "
                    b"Could not find cuda drivers on your machine, GPU will not be used.\n")
        os.write(2, b"I0000 00:00:1700000000.000000 1 port.cc:153] oneDNN custom operations are on.\n")
        os.write(2, b"a real warning that must be kept\n")
        os.write(2, b"All log messages before absl::InitializeLog() is called are written to STDERR\n")
        last_words(mode)
        os._exit(0)
    if mode == "partial":
        os.write(2, b"last words before partial, no newline")
        os._exit(4)
    if mode == "epochs":
        for epoch in (1, 2):
            supervise.send({"epoch": {"epoch": epoch, "loss": 2.0 / epoch, "accuracy": 0.1 * epoch,
                                      "epoch_s": 1.5, "others_share": None}})
        last_words(mode)
        os.kill(os.getpid(), signal.SIGKILL)   # in the middle of epoch 3
    if mode == "sleep":
        print(os.getpid(), flush=True)
        time.sleep(60)
    sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
