"""Train and evaluate every contender for real, each in its own process, on a tiny data set."""
from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from kerasbench import contenders, host, measure
from tests.helpers import run_stage, shadow_venv, write_data

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
N_TRAIN, N_TEST, EPOCHS = 384, 128, 2


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A directory with params.yaml and a tiny, learnable prepared data set."""
    d = tmp_path_factory.mktemp("contenders")
    rng = np.random.default_rng(0)
    prototypes = rng.integers(0, 256, (10, 32, 32, 3))

    def split(n):
        y = np.arange(n) % 10
        x = np.clip(prototypes[y] * 0.8 + rng.normal(0, 25, (n, 32, 32, 3)) + 25, 0, 255).astype(np.uint8)
        return x, y.astype(np.uint8)

    (x_train, y_train), (x_test, y_test) = split(N_TRAIN), split(N_TEST)
    write_data(d, x_train, y_train, x_test, y_test, CLASSES)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"].update(source="synthetic", md5=None)
    params["train"].update(epochs=EPOCHS, batch_size=32, deterministic=True)  # bitwise-reproducible on CPU
    params["evaluate"].update(batch_size=64, repeats=2)
    (d / "params.yaml").write_text(yaml.safe_dump(params))
    return d


def train_and_evaluate(d: Path, framework: str, tag: str, env: dict | None = None):
    out = {k: d / f"{k}-{framework}-{tag}{ext}" for k, ext in [
        ("model", ""), ("train", ".json"), ("env", ".json"), ("history", ".csv"),
        ("eval", ".json"), ("eval_env", ".json"), ("confusion", ".csv"), ("per_class", ".csv"), ("inference", ".csv")]}
    train = run_stage(d, "stages.train", framework, "0", "data.npz", "data.json",
                      *map(str, (out["model"], out["train"], out["env"], out["history"])), env=env)
    assert train.returncode == 0, train.stderr[-3000:]
    evaluate = run_stage(d, "stages.evaluate", framework, "0", "data.npz", "data.json",
                         *map(str, (out["model"], out["eval"], out["eval_env"], out["confusion"], out["per_class"],
                                    out["inference"])), env=env)
    assert evaluate.returncode == 0, evaluate.stderr[-3000:]
    return out, train


def leaves(tree: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat |= leaves(value, f"{prefix}{key}.")
        else:
            flat[prefix + key] = value
    return flat


# The contenders that take minutes to compile on a CPU (torch.compile): trained by their own e2e test.
COMPILED = [name for name, c in contenders.registry().items() if c.jit]
EVERY = [name for name in contenders.names() if name not in COMPILED]
# The fast tier reads the results of one contender per code path: a Keras 3 backend, tf.keras and each
# native loop (test_native.py covers tf_native's own module). The e2e tier reads the other contenders'
# results: it trains every contender anyway, twice, for the bitwise test below.
FAST = ["keras3_torch", "tf_keras", "torch_native", "jax_native"]
BY_TIER = [name if name in FAST else pytest.param(name, marks=pytest.mark.e2e) for name in EVERY]


@pytest.fixture(scope="module")
def trained(workdir):
    """Each contender trained and evaluated once per session (first asked, first trained); tests only read."""
    done: dict[tuple[str, str], tuple[dict, object]] = {}

    def get(framework: str, tag: str = "a"):
        if (framework, tag) not in done:
            done[framework, tag] = train_and_evaluate(workdir, framework, tag)
        return done[framework, tag]
    return get


@pytest.mark.slow
@pytest.mark.parametrize("framework", BY_TIER)
def test_train_metrics_are_numbers_with_the_first_epoch_apart(trained, framework):
    first, _ = trained(framework)
    m = json.loads(first["train"].read_text())
    flat = leaves(m)
    assert all(isinstance(v, (int, float)) or v is None for v in flat.values()), "metrics must be numbers"
    assert m["synthetic"] == 1 and m["epochs"] == EPOCHS and m["train_images"] == N_TRAIN and m["gpu"] == 0
    t = m["time"]
    for key in ("import_s", "build_s", "first_epoch_s", "steady_epoch_s", "fit_s"):
        assert math.isfinite(t[key]) and t[key] > 0, key
    assert t["steady_epoch_min_s"] <= t["steady_epoch_s"] <= t["steady_epoch_max_s"]
    assert t["first_epoch_s"] + t["steady_epoch_s"] <= t["fit_s"]  # epochs are inside fit
    assert m["throughput"]["steady_images_per_s"] == pytest.approx(N_TRAIN / t["steady_epoch_s"])
    mem = m["memory"]
    assert mem["rss_after_import_mib"] > 100 and math.isfinite(mem["build_increase_mib"])
    assert mem["fit_increase_mib"] == pytest.approx(mem["rss_peak_fit_mib"] - mem["rss_after_build_mib"])
    assert mem["rss_peak_fit_mib"] >= mem["rss_after_build_mib"] - 1
    assert mem["rss_peak_os_mib"] >= mem["rss_peak_fit_mib"] - 1
    assert mem["gpu_peak_mib"] is None
    assert 0 <= m["final"]["accuracy"] <= 1 and math.isfinite(m["final"]["loss"])
    assert m["jit_compile"] in (0, 1) and m["deterministic"] == 1
    assert t["context_s"] > 0 and t["fit_setup_s"] >= 0


@pytest.mark.slow
@pytest.mark.parametrize("framework", BY_TIER)
def test_the_environment_is_recorded_beside_the_result(trained, framework):
    first, _ = trained(framework)
    m, env = json.loads(first["train"].read_text()), json.loads(first["env"].read_text())
    assert env["framework"] == framework and env["device"] == "cpu" and env["visible_gpus"] == []
    contender = contenders.get(framework)
    assert env["device_name"] == host.cpu_model()
    # torch and JAX are CPU-only builds here; PyPI's TensorFlow wheel is built with CUDA (libraries not installed)
    assert (env["cuda_build"] is None) == (contender.backend != "tensorflow"), env["cuda_build"]
    assert env["backend"] == contender.backend and env["backend_version"].startswith(env["packages"][contender.backend])
    assert env["data"]["synthetic"] is True and env["cpu"]["logical_cores"] >= 1 and env["python"]
    assert env["jit_compile"]["param"] == "default" and env["jit_compile"]["effective"] == bool(m["jit_compile"])
    assert env["jit_compile"]["meaning"]
    assert env["deterministic"] is True and env["gpu_peak_source"] is None
    assert env["precision"] == {"param": "float32", "compute_dtype": "float32", "variable_dtype": "float32"}
    assert env["compile_cache"]["mode"] == "off" and m["compile_cache"] is None and m["target"] is None
    assert env["keras_module"] == contender.keras
    assert env["lock_sha256"] and len(env["lock_sha256"]) == 64
    threads = env["threads"]
    assert threads["cpus_usable"] >= 1 and "OMP_NUM_THREADS" in threads
    if contender.backend == "torch":
        assert threads["torch_intra_op"] >= 1 and threads["tf_intra_op"] is None
    if contender.backend == "tensorflow":
        assert threads["tf_intra_op"] is not None and threads["torch_intra_op"] is None
    assert threads["param"] == "default" and threads["allowed_cpus"] == sorted(os.sched_getaffinity(0))
    assert env["timed"]["from"] < env["timed"]["to"] and env["hostname"]


@pytest.mark.slow
@pytest.mark.parametrize("framework", BY_TIER)
def test_every_epoch_is_in_the_history_with_its_interference(trained, framework):
    first, train_log = trained(framework)
    m = json.loads(first["train"].read_text())
    history = pd.read_csv(first["history"])
    assert list(history["epoch"]) == list(range(1, EPOCHS + 1))
    assert {"loss", "accuracy", "epoch_s", "cpu_s", "others_share", "steal_share", "invol_cs", "cpu_mhz"} <= \
        set(history.columns)
    assert history["epoch_s"].iloc[0] == pytest.approx(m["time"]["first_epoch_s"])
    # the throughput of each epoch (images / its seconds), also in the live line
    assert history["images_per_s"].to_numpy() == pytest.approx(N_TRAIN / history["epoch_s"].to_numpy(), rel=1e-12)
    assert f"epoch 1/{EPOCHS}: " in train_log.stdout
    assert f" s ({history['images_per_s'].iloc[0]:.0f} images/s), " in train_log.stdout
    assert (history["cpu_s"] > 0).all() and history["others_share"].notna().all()   # recorded beside every epoch
    noise = m["interference"]
    assert noise["cpus"] == len(os.sched_getaffinity(0)) and noise["window_s"] >= sum(history["epoch_s"])
    assert 0 < noise["own_cpu_share"] <= 1.05 and noise["others_share"] >= 0 and noise["cpu_mhz"] is None
    assert ("quiet (others" in train_log.stdout) or ("DISTURBED" in train_log.stdout)


@pytest.mark.slow
@pytest.mark.parametrize("framework", BY_TIER)
def test_evaluation_scores_times_inference_and_writes_the_plots(trained, framework):
    first, _ = trained(framework)
    e = json.loads(first["eval"].read_text())
    for split in ("train", "test"):
        for key, value in e[split].items():
            assert 0 <= value <= 1, (split, key)
    assert e["test"]["accuracy"] > 0.2, "a learnable set must be learnt beyond chance (0.1)"
    inf = e["inference"]
    assert inf["predict_images_per_s_min"] <= inf["predict_images_per_s"] <= inf["predict_images_per_s_max"]
    assert inf["repeats"] == 2 and inf["first_predict_s"] > 0 and inf["forward_images_per_s"] > 0
    passes = pd.read_csv(first["inference"])
    assert sorted(passes["kind"].unique()) == ["forward", "predict"] and len(passes) == 4
    assert passes["images_per_s"].to_numpy() == pytest.approx(N_TEST / passes["seconds"].to_numpy())
    assert {"cpu_s", "others_share", "steal_share", "invol_cs", "cpu_mhz"} <= set(passes.columns)
    assert e["interference"]["window_s"] >= passes["seconds"].sum()
    eval_env = json.loads(first["eval_env"].read_text())
    assert eval_env["device"] == "cpu" and eval_env["framework"] == framework and eval_env["deterministic"] is True
    confusion = pd.read_csv(first["confusion"])
    assert len(confusion) == N_TEST and set(confusion["actual"]) == set(CLASSES)
    assert (confusion["actual"] == confusion["predicted"]).mean() == pytest.approx(e["test"]["accuracy"])
    per_class = pd.read_csv(first["per_class"])
    assert list(per_class["class"]) == CLASSES and per_class["support"].sum() == N_TEST


@pytest.mark.e2e
@pytest.mark.parametrize("framework", EVERY)
def test_a_fresh_process_repeats_the_results_bitwise(trained, framework):
    """Same params, a fresh train and evaluate process: identical results (timings and memory aside)."""
    first, _ = trained(framework)
    second, _ = trained(framework, "b")
    m, e = json.loads(first["train"].read_text()), json.loads(first["eval"].read_text())
    m2, e2 = json.loads(second["train"].read_text()), json.loads(second["eval"].read_text())
    assert m2["final"] == m["final"]
    assert e2["train"] == e["train"] and e2["test"] == e["test"]
    scores = ["epoch", "loss", "accuracy"]
    pd.testing.assert_frame_equal(pd.read_csv(second["history"])[scores], pd.read_csv(first["history"])[scores],
                                  check_exact=True)


@pytest.mark.e2e
@pytest.mark.parametrize("framework", COMPILED)
def test_a_compiled_contender_trains_and_evaluates_at_a_tiny_size(tmp_path, workdir, framework):
    """keras3_torch_compile and torch_native_compile: torch.compile whatever train.jit_compile says."""
    params = yaml.safe_load((workdir / "params.yaml").read_text())
    params["train"].update(epochs=2, jit_compile=False)   # the contender's own jit wins over the param
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    for name in ("data.npz", "data.json"):
        (tmp_path / name).symlink_to(workdir / name)
    out, _ = train_and_evaluate(tmp_path, framework, "compiled")
    m, env = json.loads(out["train"].read_text()), json.loads(out["env"].read_text())
    assert m["jit_compile"] == 1 and env["jit_compile"] == {"param": False, "effective": True,
                                                            "meaning": "torch.compile"}
    e = json.loads(out["eval"].read_text())
    assert 0 <= e["test"]["accuracy"] <= 1 and e["inference"]["forward_images_per_s"] > 0


def test_unknown_framework_is_a_clear_error(workdir):
    result = run_stage(workdir, "stages.train", "keras4_magic", "0", "data.npz", "data.json", "m", "t", "e", "h")
    assert result.returncode != 0
    assert "unknown framework 'keras4_magic'" in result.stderr and "keras3_jax" in result.stderr
    assert not (workdir / "m").exists()


def test_missing_backend_is_a_clear_error(workdir, tmp_path):
    """An environment without jax: keras3_jax's stage names the package and writes nothing."""
    python = shadow_venv(tmp_path, drop=("jax", "jaxlib"))

    result = run_stage(workdir, "stages.train", "keras3_jax", "0", "data.npz", "data.json", "m", "t.json",
                       "e.json", "h.csv", env={"KERASBENCH_PYTHON_JAX": str(python)})
    assert result.returncode != 0
    assert "keras3_jax" in result.stderr and "jax" in result.stderr and "not installed" in result.stderr
    assert str(python) in result.stderr  # it did run under the environment's own interpreter
    assert not any((workdir / f).exists() for f in ("m", "t.json", "e.json", "h.csv"))


def test_device_gpu_without_a_gpu_fails_naming_the_contender(workdir, tmp_path):
    """No silent CPU fallback: device: gpu on this GPU-less machine stops train at its start."""
    params = yaml.safe_load((workdir / "params.yaml").read_text())
    params["device"] = "gpu"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    for name in ("data.npz", "data.json"):
        (tmp_path / name).symlink_to(workdir / name)
    result = run_stage(tmp_path, "stages.train", "torch_native", "0", "data.npz", "data.json", "m", "t.json",
                       "e.json", "h.csv")
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: torch_native: device: gpu is set in params.yaml, but torch 2.13.0")
    assert "CPU-only build" in last and "no NVIDIA driver found" in last and "Likely fix:" in last
    assert not any((tmp_path / f).exists() for f in ("m", "t.json", "e.json", "h.csv"))


def test_unknown_contender_lookup():
    with pytest.raises(contenders.ContenderError, match="unknown framework 'tf'"):
        contenders.get("tf")


def test_memory_sampler_sees_a_known_allocation():
    size_mib = 256
    with measure.MemorySampler(interval_s=0.01) as sampler:
        before = measure.rss_mib()
        block = np.ones(size_mib * measure.MIB // 8)  # float64: every page touched
        time.sleep(0.2)
        del block
        time.sleep(0.05)
    assert sampler.samples >= 5
    assert sampler.peak_rss_mib - before == pytest.approx(size_mib, rel=0.1)
    assert measure.os_peak_rss_mib() >= sampler.peak_rss_mib - 1


def test_epoch_clock_excludes_untimed_work_and_summary_excludes_first_epoch():
    checked = []
    clock = measure.EpochClock(3, after_epoch=lambda row: checked.append(row["epoch"]) or row["epoch"] == 2,
                               echo=False)
    clock.fit_begin()
    stops = []
    for epoch, (train_s, val_s) in enumerate([(0.20, 0.0), (0.05, 0.10), (0.06, 0.10)]):
        clock.epoch_begin(epoch)
        time.sleep(train_s)
        with clock.untimed():
            time.sleep(val_s)
        stops.append(clock.epoch_end(epoch, {"loss": 1.0}))
    seconds = [row["epoch_s"] for row in clock.epochs]
    assert seconds[0] == pytest.approx(0.20, abs=0.03)
    assert seconds[1] == pytest.approx(0.05, abs=0.03) and seconds[2] == pytest.approx(0.06, abs=0.03)
    assert checked == [1, 2, 3] and stops == [False, True, False]  # after_epoch's True asks to stop

    summary = measure.epoch_summary([5.0, 1.0, 3.0, 2.0])
    assert summary == {"first_epoch_s": 5.0, "steady_epoch_s": 2.0, "steady_epoch_min_s": 1.0,
                       "steady_epoch_max_s": 3.0}
    assert measure.epoch_summary([4.0])["steady_epoch_s"] is None


def run_train(d: Path, framework: str, tag: str, changes: dict) -> tuple[dict, dict, pd.DataFrame, str]:
    """One train stage with params' train section changed; returns (metrics, env, history, stdout)."""
    work = d / f"run-{framework}-{tag}"
    work.mkdir()
    params = yaml.safe_load((d / "params.yaml").read_text())
    params["train"].update(changes)
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    done = run_stage(work, "stages.train", framework, "0", str(d / "data.npz"), str(d / "data.json"), "model",
                     "m.json", "e.json", "h.csv")
    assert done.returncode == 0, done.stderr[-3000:]
    return (json.loads((work / "m.json").read_text()), json.loads((work / "e.json").read_text()),
            pd.read_csv(work / "h.csv"), done.stdout)


@pytest.mark.slow
@pytest.mark.parametrize("framework", ["keras3_torch", "torch_native"])
def test_time_to_target_accuracy(workdir, framework):
    m, _, history, out = run_train(workdir, framework, "target", {"target_accuracy": 0.15, "epochs": 3})
    target = m["target"]
    assert target["reached"] == 1 and target["accuracy"] == 0.15
    first = int(history.index[history["test_accuracy"] >= 0.15][0])
    assert target["epochs_to_target"] == first + 1
    assert target["seconds_to_target"] == pytest.approx(history["epoch_s"].iloc[:first + 1].sum())  # training time only
    assert "target accuracy 0.15 reached after epoch" in out


@pytest.mark.slow
def test_an_unreached_target_is_scored_outside_fit(workdir):
    m, _, history, _ = run_train(workdir, "torch_native", "unreached", {"target_accuracy": 1.0, "epochs": 2})
    assert m["target"] == {"accuracy": 1.0, "reached": 0, "epochs_to_target": None, "seconds_to_target": None,
                           "scoring_s": pytest.approx(m["target"]["scoring_s"])}
    assert m["target"]["scoring_s"] > 0  # the scoring inside fit, taken out of fit_s
    assert m["time"]["fit_s"] >= sum(history["epoch_s"])  # the epochs are inside fit; the scoring is not
    assert len(history) == 2 and history["test_accuracy"].max() < 1.0


@pytest.mark.slow
def test_warm_compile_cache_fills_then_reuses_the_jax_cache(workdir):
    m, env, _, out = run_train(workdir, "keras3_jax", "warm", {"compile_cache": "warm"})
    cache = m["compile_cache"]
    assert cache["warm"] == 1 and cache["supported"] == 1
    assert cache["cold_first_epoch_s"] > 0 and cache["warm_first_epoch_s"] == m["time"]["first_epoch_s"]
    folder = Path(env["compile_cache"]["directory"])
    assert folder.is_dir() and any(folder.iterdir()), "the JAX persistent cache holds compiled programs"
    assert "compile cache: filling" in out


# One training process per contender with every non-default setting the tests below check (threads,
# precision and, on keras3_torch, the compile cache): the settings are independent, and a process is seconds.
VARIANTS = {"keras3_torch": {"threads": 1, "precision": "mixed_bfloat16", "compile_cache": "cold"},
            "tf_keras": {"threads": 1}, "jax_native": {"threads": 1, "precision": "mixed_bfloat16"},
            "keras3_tensorflow": {"precision": "mixed_bfloat16"}}


@pytest.fixture(scope="module")
def variant(workdir):
    done: dict[str, tuple] = {}

    def get(framework: str) -> tuple[dict, dict, pd.DataFrame, str]:
        if framework not in done:
            done[framework] = run_train(workdir, framework, "variant", {**VARIANTS[framework], "epochs": 2})
        return done[framework]
    return get


@pytest.mark.slow
def test_a_backend_without_a_cache_says_so(variant):
    m, env, _, _ = variant("keras3_torch")
    assert m["compile_cache"] == {"warm": 0, "supported": 0, "cold_first_epoch_s": None, "warm_first_epoch_s": None}
    assert env["compile_cache"]["why_not"].startswith("eager PyTorch compiles nothing")


@pytest.mark.slow
@pytest.mark.parametrize("framework", ["tf_keras", "keras3_torch", "jax_native"])
def test_threads_pin_the_process_and_size_the_frameworks_pools(variant, framework):
    """train.threads: 1 on every backend: one allowed CPU (the last), no thread of the process outside it,
    and the framework reports the pool sizes that were set (JAX sizes its pool from the allowed CPUs)."""
    m, env, _, _ = variant(framework)
    threads, last = env["threads"], max(os.sched_getaffinity(0))
    assert threads["param"] == 1 and threads["allowed_cpus"] == [last] and threads["cpus_usable"] == 1
    assert threads["process_threads"] >= 1 and threads["threads_off_pin"] == 0
    assert threads["OMP_NUM_THREADS"] == "1" and threads["TF_NUM_INTRAOP_THREADS"] == "1"
    backend = contenders.get(framework).backend
    if backend == "tensorflow":
        assert (threads["tf_intra_op"], threads["tf_inter_op"]) == (1, 1)
    if backend == "torch":
        assert (threads["torch_intra_op"], threads["torch_inter_op"]) == (1, 1)
    assert m["interference"]["cpus"] == 1 and m["interference"]["own_cpu_share"] <= 1.05


@pytest.mark.slow
@pytest.mark.parametrize("framework", ["keras3_torch", "keras3_tensorflow", "jax_native"])
def test_mixed_precision_takes_effect(variant, framework):
    _, env, history, _ = variant(framework)
    assert env["precision"] == {"param": "mixed_bfloat16", "compute_dtype": "bfloat16", "variable_dtype": "float32"}
    assert np.isfinite(history["loss"]).all()
