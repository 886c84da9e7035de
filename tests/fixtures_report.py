"""Fake but realistic results in the contract's formats, for the report, samples and compare tests.

`write_run` writes the files of one contender x seed: train metrics, environment, eval metrics and
eval environment, history, inference passes, confusion and per-class, plus `repeats - 1` reruns
(training and evaluation) under metrics/repeats/. `train=`, `env=` and `eval=` override single
values by dotted key, so a test can pin the numbers it checks; `slow` multiplies every time (and
divides every throughput), so a test can make one contender or one commit slower by a known factor;
`others` gives chosen repeats another `others_share` (kerasbench/interference.py), e.g. {1: 0.4}
for a disturbed second process.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from sklearn.metrics import precision_recall_fscore_support

from kerasbench.params import Params

REPO = Path(__file__).resolve().parents[1]
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
BACKEND = {"tf_keras": "tensorflow", "keras_core": "tensorflow", "keras3_tensorflow": "tensorflow",
           "keras3_jax": "jax", "keras3_torch": "torch", "torch_native": "torch", "jax_native": "jax",
           "tf_native": "tensorflow", "keras3_torch_compile": "torch", "torch_native_compile": "torch"}
MODULE = {"tf_keras": ("tf_keras", "2.21.0"), "keras_core": ("keras_core", "0.1.7"), "torch_native": (None, None),
          "jax_native": (None, None), "tf_native": (None, None), "torch_native_compile": (None, None)}
PEAK_SOURCE = {"tensorflow": "tensorflow_allocator_peak", "jax": "jax_peak_bytes_in_use",
               "torch": "torch_max_memory_allocated"}
SHA256 = "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"
MD5 = "c32a1d4ab5d03f1284b67883e8d87530"
LOCK_SHA256 = "0f3c1b6e2a9d4c8b7e6f5a4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b"
CPU = "Intel(R) Xeon(R) CPU @ 2.20GHz"
GPU = "NVIDIA H100 80GB HBM3"
TRAIN_IMAGES = 50000
TEST_IMAGES = 10000


def _set(doc: dict, dotted: str, value) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        doc = doc[part]
    if last not in doc:
        raise KeyError(f"fixture has no key {dotted!r}")
    doc[last] = value


def _override(doc: dict, changes: dict | None) -> dict:
    for key, value in (changes or {}).items():
        _set(doc, key, value)
    return doc


def epoch_times(index: int, seed: int, repeat: int, epochs: int, slow: float, noise: int = 0) -> list[float]:
    """First epoch, then steady epochs with a few per cent of seeded jitter around a known pace."""
    rng = np.random.default_rng([index, seed, repeat, noise])
    steady = (9.0 + index + 0.5 * seed) * slow
    first = (20.0 + index + seed) * slow
    return [first] + list(steady * np.exp(rng.normal(0.0, 0.03, epochs - 1)))


def train_metrics(index: int, seed: int, times: list[float], *, synthetic: bool, gpu: bool,
                  deterministic: bool) -> dict:
    epochs = len(times)
    steady = times[1:]
    med = float(np.median(steady)) if steady else None
    return {
        "synthetic": int(synthetic), "epochs": epochs, "batch_size": 32, "train_images": TRAIN_IMAGES,
        "jit_compile": int(index == 1), "gpu": int(gpu), "deterministic": int(deterministic),
        "time": {"import_s": 4.2 + index, "build_s": 0.3, "first_epoch_s": times[0],
                 "steady_epoch_s": med,
                 "steady_epoch_min_s": min(steady) if steady else None,
                 "steady_epoch_max_s": max(steady) if steady else None,
                 "fit_s": float(sum(times))},
        "throughput": {"steady_images_per_s": TRAIN_IMAGES / med if med else None,
                       "first_epoch_images_per_s": TRAIN_IMAGES / times[0]},
        "memory": {"rss_after_import_mib": 500.0 + 40 * index, "rss_after_build_mib": 1100.0 + 40 * index,
                   "rss_peak_fit_mib": 2100.0 + 100 * index + 10 * seed,
                   "rss_peak_os_mib": 2200.0 + 100 * index + 10 * seed,
                   "build_increase_mib": 600.0 + 50 * index + 10 * seed,
                   "fit_increase_mib": 1000.0 + 100 * index + 20 * seed,
                   "gpu_peak_mib": 900.0 + 50 * index if gpu else None},
        "final": {"loss": 1.1 - 0.02 * index, "accuracy": 0.61 + 0.01 * index},
        "interference": quiet(sum(times)),
        "target": None, "compile_cache": None,
    }


def quiet(window_s: float, others: float = 0.01) -> dict:
    """A process's interference summary on a quiet 2-CPU machine (others: the share other processes used)."""
    return {"cpus": 2, "window_s": window_s, "own_cpu_share": 0.96, "others_share": others,
            "others_share_max": others * 3, "steal_share": 0.0, "invol_cs_per_s": 40.0, "cpu_mhz": None}


def environment(framework: str, seed: int, *, synthetic: bool, gpu: bool, jit_effective: bool,
                deterministic: bool) -> dict:
    backend = BACKEND[framework]
    module, version = MODULE.get(framework, ("keras", "3.15.1"))
    tf = backend == "tensorflow"
    return {
        "framework": framework, "seed": seed, "backend": backend, "keras_module": module, "keras_version": version,
        "backend_version": {"tensorflow": "2.21.0", "jax": "0.10.2", "torch": "2.13.0"}[backend],
        "python": "3.11.7", "packages": {"tensorflow": "2.21.0", "keras": "3.15.1", "numpy": "2.3.1", "torch": None},
        "platform": "Linux-6.8.0-x86_64-with-glibc2.39",
        "cpu": {"model": CPU, "logical_cores": 2, "physical_cores": 1},
        "memory_total_gib": 7.8,
        "gpus": [{"name": GPU, "driver": "550.54", "cuda": "12.4", "memory_total_mib": 81559}] if gpu else [],
        "device": "gpu" if gpu else "cpu", "device_name": GPU if gpu else CPU,
        "deterministic": deterministic,
        "jit_compile": {"param": "default", "effective": jit_effective,
                        "meaning": "XLA" if tf and jit_effective else "jax.jit" if backend == "jax" else "none"},
        "threads": {"tf_intra_op": 2 if tf else None, "tf_inter_op": 2 if tf else None,
                    "torch": 2 if backend == "torch" else None, "OMP_NUM_THREADS": None, "MKL_NUM_THREADS": None},
        "gpu_peak_source": PEAK_SOURCE[backend] if gpu else None,
        "compile_cache": {"mode": "off", "directory": None, "kept_by_backend": True, "why_not": None},
        "precision": {"param": "float32", "compute_dtype": "float32", "variable_dtype": "float32"},
        "lock_sha256": LOCK_SHA256,
        "data": {"source": "synthetic" if synthetic else "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
                 "md5": MD5, "sha256": SHA256, "synthetic": synthetic},
        "git_commit": "d749aaa0123456789abcdef0123456789abcdef0", "timestamp": f"2026-01-0{seed + 1}T12:00:00+00:00",
        "hostname": "bench-1", "cluster": None,
        "timed": {"from": f"2026-01-0{seed + 1}T11:58:00.000+00:00", "to": f"2026-01-0{seed + 1}T11:59:59.000+00:00"},
    }


def eval_env(*, gpu: bool) -> dict:
    return {"device": "gpu" if gpu else "cpu", "device_name": GPU if gpu else CPU,
            "visible_gpus": [GPU] if gpu else []}


def predictions(index: int, seed: int, per_class: int = 20) -> pd.DataFrame:
    """Test-set predictions: mostly right, wrong in a seeded pattern (cat/dog mixed up more)."""
    rng = np.random.default_rng(100 * index + seed)
    actual = np.repeat(np.arange(len(CLASSES)), per_class)
    wrong = rng.random(actual.size) < 0.35 + 0.3 * np.isin(actual, [3, 5])
    predicted = np.where(wrong, rng.integers(0, len(CLASSES), actual.size), actual)
    return pd.DataFrame({"actual": np.array(CLASSES)[actual], "predicted": np.array(CLASSES)[predicted]})


def inference_passes(index: int, seed: int, passes: int, slow: float, noise: int = 0) -> pd.DataFrame:
    """`passes` timed passes of each kind; the forward pass on device data is faster than predict()."""
    rng = np.random.default_rng([index, seed, 7, noise])
    rows = []
    for kind, rate in (("predict", 30000.0 + 1000 * index + 100 * seed), ("forward", 60000.0 + 2000 * index)):
        for i in range(passes):
            images_per_s = rate / slow * float(np.exp(rng.normal(0.0, 0.02)))
            rows.append({"pass": i + 1, "kind": kind, "seconds": TEST_IMAGES / images_per_s,
                         "images_per_s": images_per_s, "cpu_s": 1.9 * TEST_IMAGES / images_per_s,
                         "others_share": 0.01, "steal_share": 0.0, "invol_cs": 3, "cpu_mhz": None})
    return pd.DataFrame(rows)


def eval_metrics(index: int, *, synthetic: bool, confusion: pd.DataFrame, passes: pd.DataFrame) -> dict:
    p, r, f, _ = precision_recall_fscore_support(confusion["actual"], confusion["predicted"],
                                                 average="weighted", zero_division=0)
    pm, rm, fm, _ = precision_recall_fscore_support(confusion["actual"], confusion["predicted"],
                                                    average="macro", zero_division=0)
    test_acc = float((confusion["actual"] == confusion["predicted"]).mean())
    test = {"accuracy": test_acc, "precision_weighted": p, "recall_weighted": r, "f1_weighted": f,
            "precision_macro": pm, "recall_macro": rm, "f1_macro": fm}
    train = {k: min(1.0, v + 0.15) for k, v in test.items()}
    rate = passes.groupby("kind")["images_per_s"].median()
    return {"synthetic": int(synthetic), "train": train, "test": test,
            "inference": {"predict_images_per_s": float(rate["predict"]),
                          "forward_images_per_s": float(rate["forward"]),
                          "first_predict_s": 0.8 + 0.1 * index, "batch_size": 256,
                          "repeats": int(passes["pass"].max())},
            "interference": quiet(float(passes["seconds"].sum()))}


def history(index: int, seed: int, times: list[float], gpu: bool = False) -> pd.DataFrame:
    """Per epoch; on a GPU with 300 W drawn while training, so joules = 300 x seconds (None on a CPU)."""
    e = np.arange(1, len(times) + 1)
    return pd.DataFrame({"epoch": e, "loss": 2.1 / (1 + 0.25 * e) + 0.02 * index + 0.01 * seed,
                         "accuracy": 0.25 + 0.4 * (1 - np.exp(-0.3 * e)) - 0.01 * index,
                         "epoch_s": times, "cpu_s": [1.9 * t for t in times], "others_share": 0.01,
                         "steal_share": 0.0, "invol_cs": 40, "cpu_mhz": None,
                         "energy_j": [300.0 * t for t in times] if gpu else None})


def write_run(root: Path, framework: str, seed: int, *, index: int | None = None, synthetic: bool = True,
              gpu: bool = False, epochs: int = 3, repeats: int = 1, passes: int = 5, slow: float = 1.0,
              deterministic: bool = False, noise: int = 0, train: dict | None = None, env: dict | None = None,
              eval: dict | None = None, others: dict[int, float] | None = None,
              inference_slow: float | None = None) -> None:
    """Every result file of one contender x seed under root/metrics and root/plots; `noise` draws other jitter;
    `inference_slow` (default `slow`) slows the inference passes alone."""
    index = list(BACKEND).index(framework) if index is None else index
    name = f"{framework}-{seed}"
    files: dict[Path, str] = {}
    confusion = predictions(index, seed)
    for k in range(repeats):
        times = epoch_times(index, seed, k, epochs, slow, noise)
        t = train_metrics(index, seed, times, synthetic=synthetic, gpu=gpu, deterministic=deterministic)
        _override(t, train)
        hist = history(index, seed, times, gpu).to_csv(index=False)
        passes_frame = inference_passes(index, seed, passes, slow if inference_slow is None else inference_slow,
                                        noise + 1000 * k)
        ev = _override(eval_metrics(index, synthetic=synthetic, confusion=confusion, passes=passes_frame), eval)
        if k in (others or {}):
            t["interference"] = quiet(t["interference"]["window_s"], others[k])
            ev["interference"] = quiet(ev["interference"]["window_s"], others[k])
        if k:
            stem = root / "metrics" / "repeats" / f"{name}-r{k}"
            files[stem.with_suffix(".json")] = json.dumps(t, indent=2)
            files[stem.with_suffix(".csv")] = hist
            files[stem.with_suffix(".eval.json")] = json.dumps(ev, indent=2)
            files[stem.with_suffix(".inference.csv")] = passes_frame.to_csv(index=False)
            continue
        files[root / "metrics" / "train" / f"{name}.json"] = json.dumps(t, indent=2)
        files[root / "plots" / "history" / f"{name}.csv"] = hist
        e = _override(environment(framework, seed, synthetic=synthetic, gpu=gpu,
                                  jit_effective=bool(t["jit_compile"]), deterministic=deterministic), env)
        files[root / "metrics" / "train" / f"{name}.env.json"] = json.dumps(e, indent=2)
        first_eval, first_passes = ev, passes_frame
    ev, passes_frame = first_eval, first_passes
    p, r, f, support = precision_recall_fscore_support(confusion["actual"], confusion["predicted"],
                                                       labels=CLASSES, zero_division=0)
    files.update({
        root / "metrics" / "eval" / f"{name}.json": json.dumps(ev, indent=2),
        root / "metrics" / "eval" / f"{name}.env.json": json.dumps(eval_env(gpu=gpu), indent=2),
        root / "plots" / "inference" / f"{name}.csv": passes_frame.to_csv(index=False),
        root / "plots" / "confusion" / f"{name}.csv": confusion.to_csv(index=False),
        root / "plots" / "per_class" / f"{name}.csv": pd.DataFrame(
            {"class": CLASSES, "precision": p, "recall": r, "f1": f, "support": support}).to_csv(index=False),
    })
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


PARAMS_HAVE_REPEATS = "repeats" in Params.model_fields


def write_params(root: Path, frameworks: list[str], seeds: list[int], *, synthetic: bool = True,
                 repeats: int = 1, **train) -> Path:
    """The repository's params.yaml with the contenders and seeds of a test (and train.* overrides).

    `repeats` goes into the file only once kerasbench/params.py knows the key; before that the
    report takes the reruns it finds under metrics/repeats/.
    """
    params = copy.deepcopy(yaml.safe_load((REPO / "params.yaml").read_text()))
    params["frameworks"] = list(frameworks)
    params["seeds"] = list(seeds)
    params["train"].update(train)
    if PARAMS_HAVE_REPEATS:
        params["repeats"] = repeats
    if synthetic:
        params["data"]["source"] = "synthetic"
    path = root / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path
