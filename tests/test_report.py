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

from stages import report
from tests import fixtures_report as fx

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TWO = ["tf_keras", "keras3_jax"]


def run_report(tmp_path: Path, monkeypatch) -> tuple[str, dict]:
    monkeypatch.chdir(tmp_path)
    assert report.main(["reports", "metrics/summary.json"]) == 0
    return (tmp_path / "reports" / "report.md").read_text(), json.loads((tmp_path / "metrics" / "summary.json").read_text())


def table_row(text: str, section: str, contender: str) -> list[str]:
    """The cells of `contender`'s row in the first table after the heading `section`."""
    body = text.split(f"## {section}", 1)[1]
    for line in body.splitlines():
        if line.startswith(f"| {contender} "):
            return [c.strip() for c in line.strip("|").split("|")]
    raise AssertionError(f"no row for {contender} under {section}")


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

    assert "## Environment" in text and "Intel(R) Xeon(R) CPU @ 2.20GHz" in text
    assert fx.SHA256 in text and "tensorflow 2.21.0" in text and "jax 0.10.2" in text
    assert "SYNTHETIC DATA" in text
    for section in ("Training time and memory", "Accuracy and F1", "Speed", "Memory", "Quality beyond the article"):
        for fw in TWO:
            table_row(text, section, fw)
        assert "How to read this" in text.split(f"## {section}", 1)[1].split("##", 1)[0]

    # medians and min-max ranges of the pinned numbers
    assert "105.0 (100.0–110.0)" in table_row(text, "Training time and memory", "tf_keras")
    assert "215.0 (200.0–230.0)" in table_row(text, "Training time and memory", "keras3_jax")
    assert "51.0 (50.0–52.0)" in table_row(text, "Accuracy and F1", "tf_keras")
    assert "52.0 (49.0–55.0)" in table_row(text, "Accuracy and F1", "keras3_jax")
    assert "3,050 (3,000–3,100)" in table_row(text, "Memory", "tf_keras")
    # effective jit_compile beside the speed figures
    assert table_row(text, "Speed", "tf_keras")[1] == "off (default)"

    # differences larger than the spread: fit time and peak memory separate, test accuracy overlaps
    diffs = text.split("## Which differences are larger than the spread", 1)[1]
    assert re.search(r"\| training time, fit \(s\) +\| tf_keras < keras3_jax \(-51%\)", diffs)
    assert re.search(r"\| process peak RSS \(MiB\) +\| keras3_jax < tf_keras \(-48%\)", diffs)
    assert re.search(r"\| test accuracy \(%\) +\| none", diffs)

    links = check_images(text, two_by_two / "reports")
    assert {"training_curves.png", "epoch_time.png", "memory.png", "confusion_matrices.png"} <= set(links)

    assert set(summary) == set(TWO)
    assert all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in numeric_leaves(summary))
    assert summary["tf_keras"]["fit_s"] == {"median": 105.0, "min": 100.0, "max": 110.0, "n": 2}
    assert summary["keras3_jax"]["fit_s"]["median"] == 215.0
    assert summary["keras3_jax"]["test_accuracy"]["median"] == pytest.approx(0.52)
    assert summary["tf_keras"]["seeds"] == 2 and summary["tf_keras"]["synthetic"] == 1
    assert "gpu_peak_mib" not in summary["tf_keras"]  # never measured on a CPU: left out, not null

    # the stale contender appears nowhere
    assert "keras3_torch" not in text


def test_one_seed_real_data_gpu(tmp_path, monkeypatch):
    for fw in TWO:
        fx.write_run(tmp_path, fw, 0, synthetic=False, gpu=True, train={"time.fit_s": 326.09})
    fx.write_params(tmp_path, TWO, [0], synthetic=False)
    text, summary = run_report(tmp_path, monkeypatch)

    assert "SYNTHETIC" not in text
    assert "One seed per contender" in text and "no spread can be computed" in text
    row = table_row(text, "Training time and memory", "tf_keras")
    assert "326.1" in row and not any("–" in cell for cell in row)
    assert "GPU peak (MiB)" in text and "NVIDIA H100 80GB HBM3" in text
    assert summary["tf_keras"]["fit_s"] == {"median": 326.09, "min": 326.09, "max": 326.09, "n": 1}
    assert summary["keras3_jax"]["gpu_peak_mib"]["median"] == 900.0 + 50 * 3
    check_images(text, tmp_path / "reports")


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
    assert table_row(text, "Speed", "keras3_torch")[3] == "—"  # steady epoch
    assert "steady_epoch_s" not in summary["keras3_torch"] and "fit_s" in summary["keras3_torch"]


def test_missing_file_is_a_clear_error_and_writes_nothing(two_by_two, monkeypatch):
    (two_by_two / "plots" / "confusion" / "keras3_jax-1.csv").unlink()
    monkeypatch.chdir(two_by_two)
    with pytest.raises(SystemExit) as exc:
        report.main(["reports", "metrics/summary.json"])
    message = str(exc.value.code)
    assert message.startswith("error: report: 1 result file(s) missing")
    assert "plots/confusion/keras3_jax-1.csv" in message
    assert not (two_by_two / "reports").exists()
    assert not (two_by_two / "metrics" / "summary.json").exists()


def test_failure_while_rendering_leaves_no_half_written_report(two_by_two, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("plotting failed")

    monkeypatch.setattr(report, "plot_confusion", broken)
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


def test_cli_reports_missing_results_in_one_line(tmp_path):
    fx.write_params(tmp_path, ["tf_keras"], [0])
    result = subprocess.run([sys.executable, "-m", "stages.report", "reports", "metrics/summary.json"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(fx.REPO)})
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "metrics/train/tf_keras-0.json" in result.stderr
    assert not (tmp_path / "reports").exists()
