"""Which device every contender would run on here, each in its own process: the device rule of the
train and evaluate stages (kerasbench/devices.py), checked before a long run (e.g. in the container).

    kerasbench devices [--params params.yaml] [--framework NAME ...]

It imports each framework, so it is not a pipeline stage. Exit status 1 when a contender could not
run as params.yaml's `device` asks.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys

from kerasbench import backends, cli, devices, launch, supervise
from kerasbench.contenders import ContenderError, get
from kerasbench.params import load_or_exit

ROOT = cli.checkout()


def probe_all(names: list[str], device: str) -> list[dict]:
    records = []
    for name in names:
        done = subprocess.run([sys.executable, "-m", "kerasbench.cli.devices", "--probe", name, device], cwd=ROOT,
                              env=supervise.child_env(), capture_output=True, text=True)
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        last = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        records.append(json.loads(lines[-1]) if lines else {"framework": name, "error": last})
    return records


def probe(name: str, device: str) -> None:
    try:
        launch.reexec(name)   # under the contender's interpreter (one per backend in the container)
        launch.activate(name, device)
        contender = get(name)
        record = devices.inspect(contender, backends.get(contender.backend))
    except ContenderError as err:
        sys.exit(f"error: {err}")
    print(json.dumps({**record, "problem": devices.problem(record, device)}), flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser("devices", __doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--framework", action="append", metavar="NAME", help="default: params.yaml's frameworks")
    parser.add_argument("--probe", nargs=2, metavar=("FRAMEWORK", "DEVICE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe:
        probe(*args.probe)
        return
    params = load_or_exit(args.params)
    records = probe_all(args.framework or list(params.frameworks), params.device)
    for r in records:
        seen = r.get("error") or r.get("problem") or f"{r['device']} ({r['device_name']})"
        print(f"{r['framework']:<20} {r.get('backend', ''):<10} {r.get('backend_version') or '':<10} "
              f"{r.get('cuda_build') or 'CPU-only build':<32} {seen}")
    if any(r.get("error") or r.get("problem") for r in records):
        sys.exit(1)


if __name__ == "__main__":
    main()
