"""Fake but realistic results in the contract's formats, for the report tests.

`write_run` writes the six files of one contender x seed (train metrics, environment,
eval metrics, history, confusion, per-class) with plausible numbers; `train=` and
`eval=` override single values by dotted key so a test can pin the numbers it checks.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from sklearn.metrics import precision_recall_fscore_support

REPO = Path(__file__).resolve().parents[1]
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
BACKEND = {"tf_keras": "tensorflow", "keras_core": "tensorflow", "keras3_tensorflow": "tensorflow",
           "keras3_jax": "jax", "keras3_torch": "torch"}
MODULE = {"tf_keras": ("tf_keras", "2.21.0"), "keras_core": ("keras_core", "0.1.7")}
SHA256 = "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"
MD5 = "c32a1d4ab5d03f1284b67883e8d87530"


def _set(doc: dict, dotted: str, value) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        doc = doc[part]
    if last not in doc:
        raise KeyError(f"fixture has no key {dotted!r}")
    doc[last] = value


def train_metrics(index: int, seed: int, *, synthetic: bool, gpu: bool, epochs: int) -> dict:
    steady = 9.0 + index + 0.5 * seed
    first = 20.0 + index + seed
    return {
        "synthetic": int(synthetic), "epochs": epochs, "batch_size": 32, "train_images": 50000,
        "jit_compile": int(index == 1), "gpu": int(gpu),
        "time": {"import_s": 4.2 + index, "build_s": 0.3, "first_epoch_s": first,
                 "steady_epoch_s": steady if epochs > 1 else None,
                 "steady_epoch_min_s": steady - 0.2 if epochs > 1 else None,
                 "steady_epoch_max_s": steady + 0.3 if epochs > 1 else None,
                 "fit_s": first + steady * (epochs - 1)},
        "throughput": {"steady_images_per_s": 50000 / steady if epochs > 1 else None,
                       "first_epoch_images_per_s": 50000 / first},
        "memory": {"rss_after_import_mib": 500.0 + 40 * index, "rss_after_build_mib": 1100.0 + 40 * index,
                   "rss_peak_fit_mib": 2100.0 + 100 * index + 10 * seed,
                   "rss_peak_os_mib": 2200.0 + 100 * index + 10 * seed,
                   "build_increase_mib": 600.0 + 50 * index + 10 * seed,
                   "fit_increase_mib": 1000.0 + 100 * index + 20 * seed,
                   "gpu_peak_mib": 900.0 + 50 * index if gpu else None},
        "final": {"loss": 1.1 - 0.02 * index, "accuracy": 0.61 + 0.01 * index},
    }


def env(framework: str, seed: int, *, synthetic: bool, gpu: bool, jit_effective: bool) -> dict:
    backend = BACKEND[framework]
    module, version = MODULE.get(framework, ("keras", "3.15.1"))
    return {
        "framework": framework, "seed": seed, "backend": backend, "keras_module": module, "keras_version": version,
        "backend_version": {"tensorflow": "2.21.0", "jax": "0.10.2", "torch": "2.13.0"}[backend],
        "python": "3.11.7", "packages": {"tensorflow": "2.21.0", "keras": "3.15.1", "numpy": "2.3.1", "torch": None},
        "platform": "Linux-6.8.0-x86_64-with-glibc2.39",
        "cpu": {"model": "Intel(R) Xeon(R) CPU @ 2.20GHz", "logical_cores": 2, "physical_cores": 1},
        "memory_total_gib": 7.8,
        "gpus": [{"name": "NVIDIA H100 80GB HBM3", "driver": "550.54", "cuda": "12.4",
                  "memory_total_mib": 81559}] if gpu else [],
        "device": "gpu" if gpu else "cpu", "jit_compile": {"param": "default", "effective": jit_effective},
        "data": {"source": "synthetic" if synthetic else "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
                 "md5": MD5, "sha256": SHA256, "synthetic": synthetic},
        "git_commit": "d749aaa0123456789abcdef0123456789abcdef0", "timestamp": f"2026-01-0{seed + 1}T12:00:00+00:00",
    }


def predictions(index: int, seed: int, per_class: int = 20) -> pd.DataFrame:
    """Test-set predictions: mostly right, wrong in a seeded pattern (cat/dog mixed up more)."""
    rng = np.random.default_rng(100 * index + seed)
    actual = np.repeat(np.arange(len(CLASSES)), per_class)
    wrong = rng.random(actual.size) < 0.35 + 0.3 * np.isin(actual, [3, 5])
    predicted = np.where(wrong, rng.integers(0, len(CLASSES), actual.size), actual)
    return pd.DataFrame({"actual": np.array(CLASSES)[actual], "predicted": np.array(CLASSES)[predicted]})


def eval_metrics(index: int, seed: int, *, synthetic: bool, confusion: pd.DataFrame) -> dict:
    p, r, f, _ = precision_recall_fscore_support(confusion["actual"], confusion["predicted"],
                                                 average="weighted", zero_division=0)
    pm, rm, fm, _ = precision_recall_fscore_support(confusion["actual"], confusion["predicted"],
                                                    average="macro", zero_division=0)
    test_acc = float((confusion["actual"] == confusion["predicted"]).mean())
    test = {"accuracy": test_acc, "precision_weighted": p, "recall_weighted": r, "f1_weighted": f,
            "precision_macro": pm, "recall_macro": rm, "f1_macro": fm}
    train = {k: min(1.0, v + 0.15) for k, v in test.items()}
    images_per_s = 30000.0 + 1000 * index + 100 * seed
    return {"synthetic": int(synthetic), "train": train, "test": test,
            "inference": {"predict_images_per_s": images_per_s, "predict_images_per_s_min": images_per_s - 500,
                          "predict_images_per_s_max": images_per_s + 400, "predict_pass_s": 10000 / images_per_s,
                          "forward_images_per_s": 2 * images_per_s,
                          "first_predict_s": 0.8 + 0.1 * index, "batch_size": 256, "repeats": 5}}


def history(index: int, seed: int, epochs: int, first: float, steady: float | None) -> pd.DataFrame:
    e = np.arange(1, epochs + 1)
    return pd.DataFrame({"epoch": e, "loss": 2.1 / (1 + 0.25 * e) + 0.02 * index + 0.01 * seed,
                         "accuracy": 0.25 + 0.4 * (1 - np.exp(-0.3 * e)) - 0.01 * index,
                         "epoch_s": [first] + [steady] * (epochs - 1)})


def write_run(root: Path, framework: str, seed: int, *, index: int | None = None, synthetic: bool = True,
              gpu: bool = False, epochs: int = 3, train: dict | None = None, eval: dict | None = None) -> None:
    """The six result files of one contender x seed under root/metrics and root/plots."""
    index = list(BACKEND).index(framework) if index is None else index
    name = f"{framework}-{seed}"
    t = train_metrics(index, seed, synthetic=synthetic, gpu=gpu, epochs=epochs)
    for key, value in (train or {}).items():
        _set(t, key, value)
    confusion = predictions(index, seed)
    ev = eval_metrics(index, seed, synthetic=synthetic, confusion=confusion)
    for key, value in (eval or {}).items():
        _set(ev, key, value)
    p, r, f, support = precision_recall_fscore_support(confusion["actual"], confusion["predicted"],
                                                       labels=CLASSES, zero_division=0)
    files = {
        root / "metrics" / "train" / f"{name}.json": json.dumps(t, indent=2),
        root / "metrics" / "train" / f"{name}.env.json": json.dumps(
            env(framework, seed, synthetic=synthetic, gpu=gpu, jit_effective=bool(t["jit_compile"])), indent=2),
        root / "metrics" / "eval" / f"{name}.json": json.dumps(ev, indent=2),
        root / "plots" / "history" / f"{name}.csv":
            history(index, seed, epochs, t["time"]["first_epoch_s"], t["time"]["steady_epoch_s"]).to_csv(index=False),
        root / "plots" / "confusion" / f"{name}.csv": confusion.to_csv(index=False),
        root / "plots" / "per_class" / f"{name}.csv": pd.DataFrame(
            {"class": CLASSES, "precision": p, "recall": r, "f1": f, "support": support}).to_csv(index=False),
    }
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def write_params(root: Path, frameworks: list[str], seeds: list[int], *, synthetic: bool = True) -> Path:
    """The repository's params.yaml with the contenders and seeds of a test."""
    params = copy.deepcopy(yaml.safe_load((REPO / "params.yaml").read_text()))
    params["frameworks"] = list(frameworks)
    params["seeds"] = list(seeds)
    if synthetic:
        params["data"]["source"] = "synthetic"
    path = root / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path
