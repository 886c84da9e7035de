"""The report stage on fake but contract-shaped results (tests/fixtures_report.py)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import pytest

from kerasbench.report import figures
from kerasbench.report.load import result_paths
from stages import report
from tests import fixtures_report as fx

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TWO = ["tf_keras", "keras3_jax"]
PNGS = {"speed.png", "epoch_times.png", "memory.png", "training_curves.png", "confusion_matrices.png"}


def run_report(tmp_path: Path, monkeypatch) -> tuple[str, dict]:
    monkeypatch.chdir(tmp_path)
    assert report.main(["reports", "metrics/summary.json"]) == 0
    summary = json.loads((tmp_path / "metrics" / "summary.json").read_text())
    return (tmp_path / "reports" / "report.md").read_text(), summary


def section(text: str, heading: str) -> str:
    """The text under the `##`/`###` heading that starts with `heading`, up to the next heading."""
    body = re.split(rf"\n#{{2,3}} {re.escape(heading)}[^\n]*\n", text, maxsplit=1)[1]
    return re.split(r"\n#{2,3} ", body, maxsplit=1)[0]


def table_row(text: str, heading: str, contender: str) -> dict[str, str]:
    """`contender`'s row in the first table under `heading`, by column header."""
    lines = [line for line in section(text, heading).splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] == contender:
            return dict(zip(header, cells))
    raise AssertionError(f"no row for {contender} under {heading}")


def numeric_leaves(doc) -> list:
    if isinstance(doc, dict):
        return [leaf for value in doc.values() for leaf in numeric_leaves(value)]
    return [doc]


def check_images(text: str, folder: Path) -> list[str]:
    links = re.findall(r"!\[[^\]]+\]\(([^)]+)\)", text)
    assert links, "the report links no figures"
    for link in links:
        path = folder / link
        data = path.read_bytes()
        assert data.startswith(PNG_MAGIC), link
        assert len(data) > 10_000, f"{link} is suspiciously small"
        height, width = matplotlib.image.imread(path).shape[:2]
        assert height > 300 and width > 500, (link, height, width)
    return links


@pytest.fixture()
def two_by_two(tmp_path):
    """2 contenders x 2 seeds with pinned numbers; synthetic data; a stale third contender."""
    fit = {("tf_keras", 0): 100.0, ("tf_keras", 1): 110.0, ("keras3_jax", 0): 200.0, ("keras3_jax", 1): 230.0}
    acc = {("tf_keras", 0): 0.50, ("tf_keras", 1): 0.52, ("keras3_jax", 0): 0.49, ("keras3_jax", 1): 0.55}
    peak = {("tf_keras", 0): 3000.0, ("tf_keras", 1): 3100.0, ("keras3_jax", 0): 1500.0, ("keras3_jax", 1): 1700.0}
    for (fw, seed), fit_s in fit.items():
        fx.write_run(tmp_path, fw, seed, train={"time.fit_s": fit_s, "memory.rss_peak_os_mib": peak[fw, seed]},
                     eval={"test.accuracy": acc[fw, seed]})
    # Results of a contender that params.yaml no longer lists: ignored, even when broken.
    fx.write_run(tmp_path, "keras3_torch", 0)
    (tmp_path / "metrics" / "eval" / "keras3_torch-0.json").write_text("{broken")
    fx.write_params(tmp_path, TWO, [0, 1])
    return tmp_path


def test_two_contenders_two_seeds(two_by_two, monkeypatch):
    text, summary = run_report(two_by_two, monkeypatch)

    assert "## Environment" in text and fx.CPU in text
    assert fx.SHA256 in text and fx.LOCK_SHA256 in text and "tensorflow 2.21.0" in text and "jax 0.10.2" in text
    assert "SYNTHETIC DATA" in text and "Warning" not in text   # same device, determinism and jit everywhere
    for heading in ("Training time and memory", "Accuracy and F1", "Speed", "Inference", "Memory",
                    "Quality beyond the article"):
        for fw in TWO:
            table_row(text, heading, fw)
        assert "How to read this" in section(text, heading)

    # speed and memory: median [interval] (n); two runs give min–max, marked † (below 99%)
    article = table_row(text, "Training time and memory", "tf_keras")
    assert article["training time, fit (s)"] == "105.0 [100.0–110.0]† (n=2)"
    assert table_row(text, "Training time and memory", "keras3_jax")["training time, fit (s)"] == \
        "215.0 [200.0–230.0]† (n=2)"
    assert table_row(text, "Memory", "tf_keras")["process peak RSS (MiB)"] == "3,050 [3,000–3,100]† (n=2)"
    # accuracy over seeds: median (min–max)
    assert table_row(text, "Accuracy and F1", "tf_keras")["test accuracy (%)"] == "51.0 (50.0–52.0)"
    assert table_row(text, "Accuracy and F1", "keras3_jax")["test accuracy (%)"] == "52.0 (49.0–55.0)"
    # device and effective jit_compile beside every speed and memory figure
    speed = table_row(text, "Speed", "tf_keras")
    assert speed["device"] == f"cpu ({fx.CPU})" and speed["jit_compile (effective)"] == "off"
    assert speed["steady epoch (s)"].endswith("(n=4)")   # 2 seeds x 2 steady epochs
    assert table_row(text, "Memory", "keras3_jax")["device"] == f"cpu ({fx.CPU})"
    inference = table_row(text, "Inference", "keras3_jax")
    assert inference["device"] == f"cpu ({fx.CPU})" and inference["predict() throughput (images/s)"].endswith("(n=10)")
    assert "forward pass on device (images/s)" in inference
    assert "drops `jax.jit` entirely" in section(text, "Speed") and "`torch.compile`" in section(text, "Speed")
    assert "GPU peak (MiB)" not in table_row(text, "Memory", "tf_keras") and "no GPU peak" in section(text, "Memory")

    # environment: per contender the devices, deterministic and CPU threads
    assert re.search(r"\| tf_keras +\| tf_keras 2\.21\.0 +\| tensorflow 2\.21\.0 +\| cpu \(Intel.*\| off +"
                     r"\| tf_intra_op=2, tf_inter_op=2 +\| — +\|", section(text, "Environment"))
    assert re.search(r"\| deterministic \(param\) +\|", section(text, "Settings"))

    # the old "non-overlapping min–max" section is gone; two processes a side decide a 1.3× difference,
    # the spread moderated by the prior of every contender and figure (alone: 2 df, t > 22)
    assert "Which differences are larger than the spread" not in text
    pairs = section(text, "Which contender is faster")
    assert re.search(r"\| steady training \(images/s\) +\| tf_keras vs keras3_jax +\| `-` tf_keras is 1\.3\d× faster "
                     r"than keras3_jax +\| ratio 1\.3\d \[1\.\d\d, 1\.\d\d\] \(t on log process means, 2 \+ 2 "
                     r"processes, \d+ df, moderated with \d+ prior df\)", pairs)
    assert re.search(r"\| first epoch \(s\) +\| tf_keras vs keras3_jax +\| `\?` undecided .*could only have seen "
                     r"≥ 1\.\d\d×", pairs)

    links = check_images(text, two_by_two / "reports")
    assert PNGS <= set(links)

    assert set(summary) == set(TWO)
    assert all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in numeric_leaves(summary))
    assert summary["tf_keras"]["fit_s"] == {"median": 105.0, "ci_low": 100.0, "ci_high": 110.0, "n": 2}
    assert summary["keras3_jax"]["fit_s"]["median"] == 215.0
    assert summary["keras3_jax"]["test_accuracy"]["median"] == pytest.approx(0.52)
    assert summary["tf_keras"]["predict_images_per_s"]["n"] == 10
    assert summary["tf_keras"]["seeds"] == 2 and summary["tf_keras"]["synthetic"] == 1
    assert summary["tf_keras"]["repeats"] == 1 and summary["tf_keras"]["deterministic"] == 0
    assert "gpu_peak_mib" not in summary["tf_keras"]  # never measured on a CPU: left out, not null

    # the stale contender appears nowhere
    assert "keras3_torch" not in text


def test_repeats_give_real_intervals_and_significant_pairs(tmp_path, monkeypatch):
    """Three contenders, one seed, four training processes of 5 epochs: 16 steady epochs each."""
    three = ["tf_keras", "keras3_jax", "keras3_torch"]
    for fw in three:
        fx.write_run(tmp_path, fw, 0, repeats=4, epochs=5)
    fx.write_params(tmp_path, three, [0], repeats=4)
    text, summary = run_report(tmp_path, monkeypatch)

    assert "Energy: not measured." in section(text, "Energy")   # a CPU: no energy counter
    assert "training ran 4 times per contender and seed" in text
    steady = table_row(text, "Speed", "tf_keras")["steady epoch (s)"]
    median, low, high = map(float, re.fullmatch(r"(\S+) \[(\S+)–(\S+)\] \(n=16\)", steady).groups())  # 99%: no †
    assert low < median < high and median == pytest.approx(9.0, rel=0.05)
    assert table_row(text, "Speed", "tf_keras")["first epoch (s)"] == "20.0 [20.0–20.0]† (n=4)"
    pairs = section(text, "Which contender is faster")
    # fixture paces: tf_keras 9 s, keras3_jax 12 s, keras3_torch 13 s per steady epoch
    assert re.search(r"\| tf_keras vs keras3_torch +\| `-` tf_keras is 1\.4\d× faster than keras3_torch +\| "
                     r"ratio 1\.4\d \[1\.\d\d, 1\.\d\d\] \(t on log process means, 4 \+ 4 processes", pairs)
    assert re.search(r"\| keras3_jax vs keras3_torch +\| `~` keras3_jax is 1\.0\d× faster than keras3_torch, "
                     r"a difference under 1\.10× +\| ratio 1\.0\d \[1\.0\d, 1\.\d\d\]; could only have seen ≥ 1\.\d\d×",
                     pairs)
    # the first epoch is one value per process: four a side decide a 1.15× difference
    assert re.search(r"\| first epoch \(s\) +\| tf_keras vs keras3_jax +\| `-` tf_keras is 1\.15× faster", pairs)
    assert summary["keras3_jax"]["steady_epoch_s"]["n"] == 16 and summary["keras3_jax"]["repeats"] == 4
    s = summary["keras3_jax"]["steady_epoch_s"]
    assert s["ci_low"] < s["median"] < s["ci_high"]
    # every training process's model was evaluated in its own process: inference has 4 processes too
    assert table_row(text, "Inference", "tf_keras")["predict() throughput (images/s)"].endswith("(n=20)")
    # quiet processes: no banner, and the interference table says so
    assert "disturbed by the rest of the machine" not in text
    assert table_row(text, "Interference", "keras3_torch") == {
        "contender": "keras3_torch", "training processes": "4", "disturbed": "0", "CPUs": "2",
        "own CPU use (% of them)": "96.0", "others (% of them)": "1.0", "others, worst epoch (%)": "3.0",
        "steal (%)": "0.0", "involuntary switches per s": "40", "CPU MHz": "—"}


def test_disturbed_processes_are_named_in_a_banner(tmp_path, monkeypatch):
    fx.write_run(tmp_path, "tf_keras", 0, repeats=3)
    fx.write_run(tmp_path, "keras3_jax", 0, repeats=3, others={2: 0.45})
    fx.write_params(tmp_path, TWO, [0], repeats=3)
    text, _ = run_report(tmp_path, monkeypatch)
    banner = next(line for line in text.splitlines() if "timed processes were disturbed" in line)
    assert banner.startswith("> **Warning: 2 of 12 timed processes were disturbed** by the rest of the machine "
                             "(others share above 10%, steal share above 5%): keras3_jax-0-r2 (training: other "
                             "processes used 45% of its CPUs (limit 10%)); keras3_jax-0-r2 (evaluation:")
    row = table_row(text, "Interference", "keras3_jax")
    assert row["disturbed"] == "1" and row["training processes"] == "3"
    assert table_row(text, "Interference", "tf_keras")["disturbed"] == "0"


def test_a_shared_cluster_node_is_a_banner(tmp_path, monkeypatch):
    fx.write_run(tmp_path, "tf_keras", 0, env={"cluster": {"node": "n1", "placement": "exclusive"}})
    fx.write_run(tmp_path, "keras3_jax", 0, env={"cluster": {"node": "n2", "placement": "shared", "slurm_job": "7"}})
    fx.write_params(tmp_path, TWO, [0])
    text, _ = run_report(tmp_path, monkeypatch)
    assert ("> **Warning: shared cluster nodes.** keras3_jax-0 ran on nodes the fan-out did not reserve (`--shared`)"
            in text)


def test_what_keras_costs_time_to_target_and_compile_cache(tmp_path, monkeypatch):
    """keras3_torch at 1.5x torch_native's pace; keras3_jax with a warm JAX cache; a target reached 3 of 4 times."""
    pair = ["keras3_torch", "torch_native"]
    for fw, slow in (("keras3_torch", 1.5), ("torch_native", 1.0)):
        fx.write_run(tmp_path, fw, 0, index=0, slow=slow, repeats=4, epochs=5,
                     train={"target": {"accuracy": 0.5, "reached": 1, "epochs_to_target": 3,
                                       "seconds_to_target": 40.0 * slow}})
    # one rerun of torch_native never reached the target
    rerun = tmp_path / "metrics/repeats/torch_native-0-r2.json"
    doc = json.loads(rerun.read_text())
    doc["target"] = {"accuracy": 0.5, "reached": 0, "epochs_to_target": None, "seconds_to_target": None}
    rerun.write_text(json.dumps(doc))
    fx.write_params(tmp_path, pair, [0], repeats=4, target_accuracy=0.5)
    text, summary = run_report(tmp_path, monkeypatch)

    costs = section(text, "What Keras costs")
    row = table_row(text, "What Keras costs", "torch")
    assert row["Keras"] == "keras3_torch" and row["baseline"] == "torch_native"
    assert re.fullmatch(r"`\+` 0\.6\d× \[0\.6\d, 0\.\d\d\] \(Keras is worse beyond the factor\)",
                        row["steady training: Keras / baseline"]), costs
    assert re.fullmatch(r"`\+` 1\.50× \[1\.4\d, 1\.5\d\] \(Keras is worse beyond the factor\)",
                        row["first epoch: Keras / baseline"]), costs

    target = section(text, "Time to target accuracy")
    native = table_row(text, "Time to target accuracy", "torch_native")
    assert native["runs that reached it"] == "3 of 4" and native["time to target (s)"].startswith("40.0 [40.0–40.0]†")
    assert table_row(text, "Time to target accuracy", "keras3_torch")["runs that reached it"] == "4 of 4", target
    assert summary["torch_native"]["seconds_to_target"]["n"] == 3
    assert "Compilation: cold and warm cache" not in text  # no run used a compile cache


def test_cold_and_warm_compile_cache(tmp_path, monkeypatch):
    cached = {"mode": "warm", "directory": "/x", "kept_by_backend": True, "why_not": None}
    fx.write_run(tmp_path, "keras3_jax", 0, env={"compile_cache": cached},
                 train={"compile_cache": {"warm": 1, "supported": 1, "cold_first_epoch_s": 8.0,
                                          "warm_first_epoch_s": 2.5}})
    none = {"mode": "warm", "directory": "/y", "kept_by_backend": False, "why_not": "eager PyTorch compiles nothing"}
    fx.write_run(tmp_path, "keras3_torch", 0, env={"compile_cache": none},
                 train={"compile_cache": {"warm": 1, "supported": 0, "cold_first_epoch_s": None,
                                          "warm_first_epoch_s": None}})
    fx.write_params(tmp_path, ["keras3_jax", "keras3_torch"], [0], compile_cache="warm")
    text, _ = run_report(tmp_path, monkeypatch)
    jax = table_row(text, "Compilation: cold and warm cache", "keras3_jax")
    assert jax["first epoch, cold cache (s)"] == "8.00 (n=1)" and jax["first epoch, warm cache (s)"] == "2.50 (n=1)"
    torch = table_row(text, "Compilation: cold and warm cache", "keras3_torch")
    assert torch["first epoch, cold cache (s)"] == "no persistent cache: eager PyTorch compiles nothing"


def test_one_seed_real_data_gpu(tmp_path, monkeypatch):
    for fw in TWO:
        fx.write_run(tmp_path, fw, 0, synthetic=False, gpu=True, train={"time.fit_s": 326.09})
    fx.write_params(tmp_path, TWO, [0], synthetic=False)
    text, summary = run_report(tmp_path, monkeypatch)

    assert "SYNTHETIC" not in text
    assert "One training process per contender" in text
    assert table_row(text, "Training time and memory", "tf_keras")["training time, fit (s)"] == "326.1 (n=1)"
    memory = table_row(text, "Memory", "keras3_jax")
    assert memory["GPU peak (MiB)"] == "1,050 (n=1)" and memory["GPU peak source"] == "jax_peak_bytes_in_use"
    assert memory["device"] == f"gpu ({fx.GPU})"
    assert table_row(text, "Memory", "tf_keras")["GPU peak source"] == "tensorflow_allocator_peak"
    assert "these are different definitions" in section(text, "Memory")
    energy = table_row(text, "Energy", "keras3_jax")   # 300 W while training (the fixture's GPU)
    steady = json.loads((tmp_path / "metrics/train/keras3_jax-0.json").read_text())["time"]["steady_epoch_s"]
    assert float(energy["energy per steady epoch (J)"].split()[0].replace(",", "")) == pytest.approx(300 * steady,
                                                                                                    abs=0.1)
    assert energy["steady training per joule (images/J)"].startswith(f"{fx.TRAIN_IMAGES / (300 * steady):.1f} [")
    assert "valid with one run per GPU at a time" in section(text, "Energy")
    assert summary["tf_keras"]["fit_s"] == {"median": 326.09, "ci_low": 326.09, "ci_high": 326.09, "n": 1}
    assert summary["keras3_jax"]["gpu_peak_mib"]["median"] == 900.0 + 50 * 3 and summary["keras3_jax"]["gpu"] == 1
    check_images(text, tmp_path / "reports")


@pytest.mark.parametrize("differs, banner", [
    ({"gpu": True}, "the contenders ran on different devices"),
    ({"deterministic": True}, "the contenders ran with different `deterministic` settings"),
    ({"env": {"jit_compile.effective": True}}, "the contenders ran with different effective `jit_compile`"),
])
def test_a_banner_when_contenders_ran_differently(tmp_path, monkeypatch, differs, banner):
    fx.write_run(tmp_path, "tf_keras", 0)
    fx.write_run(tmp_path, "keras3_jax", 0, **differs)
    fx.write_params(tmp_path, TWO, [0])
    text, _ = run_report(tmp_path, monkeypatch)
    banners = text.split("## How to read the numbers", 1)[0]
    assert banner in banners and "tf_keras" in banners.split(banner, 1)[1]
    assert banners.count("**Warning") == 1


def test_an_evaluation_on_another_device_is_a_banner(tmp_path, monkeypatch):
    fx.write_run(tmp_path, "tf_keras", 0)
    fx.write_run(tmp_path, "keras3_jax", 0)
    (tmp_path / "metrics" / "eval" / "keras3_jax-0.env.json").write_text(json.dumps(fx.eval_env(gpu=True)))
    fx.write_params(tmp_path, TWO, [0])
    text, _ = run_report(tmp_path, monkeypatch)
    assert "the contenders ran on different devices" in text
    assert table_row(text, "Inference", "keras3_jax")["device"] == f"gpu ({fx.GPU})"
    assert table_row(text, "Speed", "keras3_jax")["device"] == f"cpu ({fx.CPU})"


def test_one_synthetic_flag_is_enough_for_the_banner(tmp_path, monkeypatch):
    fx.write_run(tmp_path, "tf_keras", 0, synthetic=False)
    fx.write_run(tmp_path, "keras3_jax", 0, synthetic=False, eval={"synthetic": 1})
    fx.write_params(tmp_path, TWO, [0], synthetic=False)
    text, summary = run_report(tmp_path, monkeypatch)
    assert "SYNTHETIC DATA" in text and "mixed data" in text and "keras3_jax-0" in text
    assert summary["keras3_jax"]["synthetic"] == 1 and summary["tf_keras"]["synthetic"] == 0


def test_one_epoch_has_no_steady_state(tmp_path, monkeypatch):
    fx.write_run(tmp_path, "keras3_torch", 0, epochs=1)
    fx.write_params(tmp_path, ["keras3_torch"], [0])
    text, summary = run_report(tmp_path, monkeypatch)
    assert table_row(text, "Speed", "keras3_torch")["steady epoch (s)"] == "—"
    assert "steady_epoch_s" not in summary["keras3_torch"] and "fit_s" in summary["keras3_torch"]
    assert "Fewer than two contenders" in section(text, "Which contender is faster")


def test_missing_files_are_one_clear_error_and_write_nothing(two_by_two, monkeypatch):
    (two_by_two / "plots" / "confusion" / "keras3_jax-1.csv").unlink()
    (two_by_two / "plots" / "inference" / "tf_keras-0.csv").unlink()
    monkeypatch.chdir(two_by_two)
    with pytest.raises(SystemExit) as exc:
        report.main(["reports", "metrics/summary.json"])
    message = str(exc.value.code)
    assert message.startswith("error: report: 2 result file(s) missing")
    assert "plots/confusion/keras3_jax-1.csv" in message and "plots/inference/tf_keras-0.csv" in message
    assert not (two_by_two / "reports").exists()
    assert not (two_by_two / "metrics" / "summary.json").exists()


def test_failure_while_rendering_leaves_no_half_written_report(two_by_two, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("plotting failed")

    monkeypatch.setattr(figures, "confusion", broken)
    monkeypatch.chdir(two_by_two)
    with pytest.raises(RuntimeError):
        report.main(["reports", "metrics/summary.json"])
    assert not (two_by_two / "reports").exists() or not any((two_by_two / "reports").iterdir())
    assert not (two_by_two / "metrics" / "summary.json").exists()


def test_malformed_metric_names_file_and_key(tmp_path, monkeypatch):
    fx.write_run(tmp_path, "tf_keras", 0, train={"time.fit_s": "fast"})
    fx.write_params(tmp_path, ["tf_keras"], [0])
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit, match=r"metrics/train/tf_keras-0.json: 'time.fit_s' must be a number"):
        report.main(["reports", "metrics/summary.json"])


def test_result_paths_are_every_file_the_report_reads(tmp_path, monkeypatch):
    fx.write_run(tmp_path, "keras3_jax", 1, repeats=2)
    written = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    assert set(result_paths("keras3_jax", 1, repeats=2)) == written
    fx.write_params(tmp_path, ["keras3_jax"], [1], repeats=2)
    run_report(tmp_path, monkeypatch)


def test_cli_reports_missing_results_in_one_line(tmp_path):
    fx.write_params(tmp_path, ["tf_keras"], [0])
    result = subprocess.run([sys.executable, "-m", "stages.report", "reports", "metrics/summary.json"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(fx.REPO)})
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "metrics/train/tf_keras-0.json" in result.stderr
    assert not (tmp_path / "reports").exists()
