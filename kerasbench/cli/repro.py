"""`dvc repro` with the stage it is in and how many are left: what `make repro` runs.

    kerasbench repro [DVC REPRO ARGS ...]

On a host where NVML sees a GPU but the contenders of `frameworks` would run CPU builds (the
project's venv, no GPU venv configured for their backend), it stops first with one message saying
what to run (kerasbench/devices.py). Then it asks DVC which stages would run (`dvc repro --dry`,
which runs nothing), then runs `dvc repro` with the same arguments and passes its output on, each
stage's first line prefixed with `[k/N]` and the time since the start. DVC's exit status is this
command's.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from kerasbench import cli, contenders, devices, host
from kerasbench.params import load_or_exit

# DVC beside this interpreter (the venv's, found without activating it), else the one on PATH.
DVC = next((str(p) for p in [Path(sys.executable).parent / "dvc"] if p.is_file()), "dvc")
RUNNING = re.compile(r"^Running stage '([^']+)'")


def planned(args: list[str]) -> list[str]:
    """The stages `dvc repro ARGS` would run, in order (an empty list when DVC says nothing); DVC's
    error as ReproError when it refuses the arguments (an unknown option or stage)."""
    dry = subprocess.run([DVC, "repro", "--dry", *args], capture_output=True, text=True)
    if dry.returncode != 0:
        errors = [line.removeprefix("ERROR: ") for line in dry.stderr.splitlines() if line.startswith("ERROR")]
        raise ReproError(errors[-1] if errors else f"dvc repro --dry exited {dry.returncode}")
    return [m.group(1) for m in map(RUNNING.match, dry.stdout.splitlines()) if m]


class ReproError(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    parser = cli.parser("repro", __doc__)
    parser.add_argument("dvc_args", nargs="*", metavar="DVC_REPRO_ARGS",
                        help="passed to dvc repro as they are (stages, --force, --dry, ...; see dvc repro --help)")
    if not args or args[0] in ("-h", "--help"):
        parser.parse_args(args[:1])   # --help: prints and exits; nothing: runs the whole pipeline
    p = load_or_exit()
    backends = {contenders.get(name).backend for name in p.frameworks}
    hint = devices.gpu_host_hint(p.device, host.nvidia_host(), devices.cpu_builds(backends, dict(os.environ)))
    if hint:
        print(f"error: {hint}", file=sys.stderr)
        return 1
    try:
        stages = planned(args)
    except ReproError as err:
        parser.error(f"dvc repro: {err}")
    print(f"repro: {len(stages)} stage(s) to run" + (f": {', '.join(stages)}" if stages else ""), flush=True)
    started, seen = time.monotonic(), 0
    with subprocess.Popen([DVC, "repro", *args], stdout=subprocess.PIPE, text=True, bufsize=1) as dvc:
        for line in dvc.stdout:
            found = RUNNING.match(line)
            if found:
                seen += 1
                total = max(len(stages), seen)
                elapsed = round(time.monotonic() - started)
                line = f"[{seen}/{total}, {elapsed // 60} min {elapsed % 60:02d} s] {line}"
            sys.stdout.write(line)
            sys.stdout.flush()
    return dvc.returncode


if __name__ == "__main__":
    sys.exit(main())
