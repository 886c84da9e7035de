"""The prepared GPU check: the real train and evaluate stages for keras3_jax and keras3_torch on a GPU.

    bash scripts/gpu_check.sh            # on a machine with an NVIDIA GPU (installs what is missing)
    kerasbench gpu-check [--device gpu] [--train 50000] [--test 10000] [--epochs 3] [--out DIR]

Builds a synthetic data set in the official format (50,000/10,000 images), prepares it with the
prepare stage, then runs `stages.train` and `stages.evaluate` (each in its own processes, as
DVC runs them) for keras3_jax and keras3_torch with `device: gpu`: batch 32 and 256 with the
frameworks' default kernels (`deterministic: false`), then batch 32 with `deterministic: true`.
Prints one table: steady images/s, first-epoch seconds, peak GPU memory and its source,
predict() and forward-pass images/s, and what the device check saw. It writes results under
--out (default: a temporary folder) and nothing in the checkout. `--device cpu` and small sizes
try the same path on a machine without a GPU.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from kerasbench import cli, supervise
from kerasbench.params import read_yaml

ROOT = cli.checkout()
FRAMEWORKS = ("keras3_jax", "keras3_torch")
# What the stages need on a machine with torch, JAX, numpy, pandas, scikit-learn, psutil, PyYAML
# and matplotlib: keras and its dependencies, pydantic, ruamel.yaml, NVML's bindings, tabulate.
WHEELS = ("keras", "absl-py", "h5py", "ml-dtypes", "namex", "optree", "rich", "markdown-it-py", "mdurl",
          "pygments", "packaging", "pydantic", "pydantic-core", "annotated-types", "typing-inspection",
          "typing-extensions", "ruamel.yaml", "nvidia-ml-py", "tabulate")
CONFIGS = ((32, False), (256, False), (32, True))  # (batch size, deterministic)


def run(cmd: list[str], cwd: Path) -> None:
    env = supervise.child_env(PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}".rstrip(os.pathsep))
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", *cmd], cwd=cwd, env=env)
    print(f"  ({time.perf_counter() - started:.0f} s) {' '.join(cmd[:3])}", flush=True)
    if done.returncode:
        sys.exit(f"error: {' '.join(cmd[:3])} failed with exit code {done.returncode}")


def wheel_pins() -> list[str]:
    import re
    pins = {re.sub(r"[-_.]+", "-", m[1]).lower(): m[0] for m in
            re.finditer(r"(?m)^([A-Za-z0-9_.\-]+)==\S+", (ROOT / "requirements.lock").read_text())}
    return [pins[re.sub(r"[-_.]+", "-", name).lower()] for name in WHEELS]


def write_params(work: Path, device: str, epochs: int, batch: int, deterministic: bool, evaluate_repeats: int) -> None:
    params = read_yaml((ROOT / "params.yaml").read_text())  # as DVC reads it; PyYAML only writes
    params["data"].update(source="synthetic", md5=None)
    params.update(device=device, frameworks=list(FRAMEWORKS))
    params["train"].update(epochs=epochs, batch_size=batch, deterministic=deterministic)
    params["evaluate"].update(repeats=evaluate_repeats)
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def prepare(work: Path, n_train: int, n_test: int) -> None:
    """The synthetic archive as the download stage builds it (without its HTTP dependencies), then prepare."""
    from kerasbench import synthetic
    archive = work / "raw" / "cifar-10-binary.tar.gz"
    archive.parent.mkdir(parents=True)
    synthetic.build(archive, 0, n_train, n_test)
    data = archive.read_bytes()
    record = {"source": "synthetic", "md5": hashlib.md5(data).hexdigest(), "sha256": hashlib.sha256(data).hexdigest(),
              "bytes": len(data), "synthetic": True}
    (work / "raw" / "cifar-10-binary.json").write_text(json.dumps(record))
    run(["stages.prepare", str(archive), str(work / "raw/cifar-10-binary.json"),
         str(work / "cifar10.npz"), str(work / "cifar10.json")], work)


def row(work: Path, name: str, batch: int, deterministic: bool) -> dict:
    from kerasbench import records
    m = records.read_file(work / f"{name}.train.json", records.TrainResult)
    env = json.loads((work / f"{name}.env.json").read_text())
    e = records.read_file(work / f"{name}.eval.json", records.EvalResult)
    evaluated = json.loads((work / f"{name}.eval-env.json").read_text())
    gpu = m.memory.gpu_peak_mib
    return {"contender": name.split("-")[0], "batch": batch, "deterministic": deterministic,
            "device (train / evaluate)": f"{env['device']} / {evaluated['device']} ({env['device_name']})",
            "jit": env["jit_compile"]["meaning"],
            "steady images/s": m.throughput.steady_images_per_s,
            "first epoch s": m.time.first_epoch_s,
            "GPU peak MiB": "—" if gpu is None else f"{gpu:,.0f} ({env['gpu_peak_source']})",
            "predict() images/s": e.inference.predict_images_per_s,
            "forward images/s": e.inference.forward_images_per_s,
            "backend": f"{env['backend']} {env['backend_version']} ({env['cuda_build'] or 'CPU build'})"}


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser("gpu-check", __doc__)
    parser.add_argument("--device", default="gpu", choices=("gpu", "cpu", "auto"))
    parser.add_argument("--train", type=int, default=50_000)
    parser.add_argument("--test", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--evaluate-repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, help="keep the results here (default: a temporary folder)")
    parser.add_argument("--list-wheels", action="store_true",
                        help="print the pinned wheels the check needs (from requirements.lock) and exit")
    args = parser.parse_args(argv)
    if args.list_wheels:
        print(" ".join(wheel_pins()))
        return
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kerasbench-gpu-check-") as tmp:
        work = args.out or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        write_params(work, args.device, args.epochs, 32, False, args.evaluate_repeats)
        prepare(work, args.train, args.test)
        rows = []
        for batch, deterministic in CONFIGS:
            write_params(work, args.device, args.epochs, batch, deterministic, args.evaluate_repeats)
            for framework in FRAMEWORKS:
                name = f"{framework}-{batch}{'-det' if deterministic else ''}"
                data = [str(work / "cifar10.npz"), str(work / "cifar10.json"), str(work / f"{name}.model")]
                run(["stages.train", framework, "0", *data, str(work / f"{name}.train.json"),
                     str(work / f"{name}.env.json"), str(work / f"{name}.history.csv")], work)
                run(["stages.evaluate", framework, "0", *data, str(work / f"{name}.eval.json"),
                     str(work / f"{name}.eval-env.json"), str(work / f"{name}.confusion.csv"),
                     str(work / f"{name}.per-class.csv"), str(work / f"{name}.inference.csv")], work)
                rows.append(row(work, name, batch, deterministic))
        print_table(rows, args, time.perf_counter() - started)


def print_table(rows: list[dict], args, seconds: float) -> None:
    import pandas as pd

    from kerasbench.host import nvidia_host
    host = nvidia_host()
    frame = pd.DataFrame(rows)
    for column in ("steady images/s", "predict() images/s", "forward images/s"):
        frame[column] = frame[column].map(lambda v: f"{v:,.0f}")
    frame["first epoch s"] = frame["first epoch s"].map(lambda v: f"{v:.2f}")
    print(f"\nkerasbench GPU check: {args.train:,}/{args.test:,} synthetic images, {args.epochs} epochs, "
          f"device: {args.device}; GPUs: {', '.join(g['name'] for g in host['gpus']) or 'none'}; "
          f"driver {host['driver'] or 'none'} (CUDA {host['cuda'] or '-'}); Python {sys.version.split()[0]}; "
          f"{seconds:.0f} s in all\n")
    print(frame.to_markdown(index=False))


if __name__ == "__main__":
    main()
