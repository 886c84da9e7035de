"""The real dvc.yaml, run by the real dvc CLI in a temporary git repository on a tiny synthetic config:
repro, a no-op repro, experiments (-S, --queue with two workers), metrics show/diff, params diff, plots."""
from __future__ import annotations

import importlib.metadata
import json
import os
import re
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests import helpers
from tests.helpers import shadow_venv, write_small_params

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
FRAMEWORKS = ["keras3_jax", "keras3_torch"]

pytestmark = pytest.mark.e2e


def sh(repo: Path, *cmd: str, check: bool = True) -> str:
    result = helpers.sh(repo, *cmd, check=check)
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    repo = helpers.pipeline_copy(tmp_path_factory.mktemp("pipeline"))
    write_small_params(ROOT, repo, FRAMEWORKS, 500, 200, epochs=2, evaluate_repeats=2)
    sh(repo, sys.executable, "-m", "kerasbench.fingerprint")   # as `make repro` does; committed with the code
    sh(repo, "git", "init", "-q")
    sh(repo, "dvc", "init", "-q")
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "tiny config")
    return repo


def metrics_rows(table: str) -> dict[str, str]:
    """`dvc metrics show --md` rows by path."""
    return {line.split("|")[1].strip(): line for line in table.splitlines() if line.startswith("| metrics/")}


def test_repro_then_nothing_to_do(repo):
    out = sh(repo, "dvc", "repro")
    for fw in FRAMEWORKS:
        assert f"Running stage 'train@{fw}-0'" in out and f"Running stage 'evaluate@{fw}-0'" in out
    report = (repo / "reports/report.md").read_text()
    assert "SYNTHETIC DATA" in report and all(fw in report for fw in FRAMEWORKS)
    assert (repo / "reports/training_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    started = time.perf_counter()
    refresh = sh(repo, sys.executable, "-m", "kerasbench.fingerprint")   # `make repro`: fingerprints, then repro
    again = sh(repo, "dvc", "repro")
    noop_s = time.perf_counter() - started
    assert "0 changed" in refresh, refresh
    assert re.findall(r"Running stage '([^']+)'", again) == [], again   # nothing runs
    assert noop_s < 10, f"a no-op refresh and dvc repro took {noop_s:.1f} s"  # about 2 s on the 2-core machine
    assert sh(repo, "dvc", "status").strip() == "Data and pipelines are up to date."
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "results")


def test_settings_that_change_no_result_invalidate_nothing(repo):
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["data"]["download"]["timeout_s"] = 99
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        out = sh(repo, "dvc", "repro")
        assert re.findall(r"Running stage '([^']+)'", out) == [], out
    finally:
        sh(repo, "git", "checkout", "--", "params.yaml")


def test_a_contender_whose_packages_change_retrains_alone(repo, tmp_path):
    """keras3_torch runs under another interpreter whose keras reports another version: only it retrains."""
    python = shadow_venv(tmp_path, versions={"keras-3": "3.99.0"})
    os.environ["KERASBENCH_PYTHON_TORCH"] = str(python)
    try:
        # Plain `dvc repro` cannot see the change, but a stage that does run checks its file first.
        stale = sh(repo, "dvc", "repro", "--force", "-s", "train@keras3_torch-0", check=False)
        keras = importlib.metadata.version("keras")
        assert f"does not describe this machine (packages.keras: '{keras}' recorded, '3.99.0' here)" in stale, stale
        assert "failed to reproduce 'train@keras3_torch-0'" in stale, stale   # stopped before importing anything
        refresh = sh(repo, sys.executable, "-m", "kerasbench.fingerprint")
        out = sh(repo, "dvc", "repro")
    finally:
        del os.environ["KERASBENCH_PYTHON_TORCH"]
    # both Keras-on-torch contenders use these packages; only keras3_torch is in frameworks, so only it retrains
    assert "2 changed (keras3_torch, keras3_torch_compile)" in refresh, refresh
    ran = re.findall(r"Running stage '([^']+)'", out)
    # `repeat` reads every fingerprint; with repeats: 1 it trains nothing (0 runs).
    assert sorted(ran) == sorted(["repeat", "train@keras3_torch-0", "evaluate@keras3_torch-0", "report"]), out
    assert "repeat: 0 run(s)" in out
    env = json.loads((repo / "metrics/train/keras3_torch-0.env.json").read_text())
    assert env["packages"]["keras"] == "3.99.0"
    sh(repo, "git", "checkout", "--", ".")  # the committed results back: the real environment again
    sh(repo, "dvc", "checkout", "--force")


def test_metrics_show_the_headline_and_every_run_on_request(repo):
    """What DVC shows by default is the headline; the per-run files stay readable by name."""
    rows = metrics_rows(sh(repo, "dvc", "metrics", "show", "--md"))
    assert list(rows) == ["metrics/headline.json"]
    header = sh(repo, "dvc", "metrics", "show", "--md").splitlines()[0]
    for fw in FRAMEWORKS:
        assert f"{fw}.steady_images_per_s" in header and f"{fw}.test_accuracy" in header
    assert "keras3_torch.keras_vs_baseline" not in header   # its baseline (torch_native) did not run
    header = sh(repo, "dvc", "metrics", "show", "--md", *[f"metrics/eval/{fw}-0.json" for fw in FRAMEWORKS])
    assert "test.accuracy" in header and "test.f1_weighted" in header
    header = sh(repo, "dvc", "metrics", "show", "--md", *[f"metrics/train/{fw}-0.json" for fw in FRAMEWORKS])
    assert "time.steady_epoch_s" in header and "memory.rss_peak_os_mib" in header
    shown = sh(repo, "dvc", "exp", "show", "--md").splitlines()[0]
    columns = [c.strip() for c in shown.split("|") if c.strip()]
    params = yaml.safe_load((repo / "params.yaml").read_text())
    metrics = [c for c in columns if c not in ("Experiment", "Created") and "/" not in c   # a dependency's path
               and c.split(".")[0] not in params]
    headline = json.loads((repo / "metrics/headline.json").read_text())
    leaves = ["synthetic"] + [f"{fw}.{key}" for fw in FRAMEWORKS for key in headline[fw]]
    assert sorted(metrics) == sorted(leaves)   # one column per contender and figure: was 647 (NOTES.md)
    for fw in FRAMEWORKS:   # 7 figures on a CPU (no GPU peak), and the ratio where the baseline ran
        assert len(headline[fw]) == 7, headline[fw]


def test_experiments_and_diffs(repo):
    out = sh(repo, "dvc", "exp", "run", "-n", "epochs3", "-S", "train.epochs=3")
    assert "Running stage 'train@keras3_jax-0'" in out and "Running stage 'download'" not in out
    history = (repo / "plots/history/keras3_torch-0.csv").read_text().splitlines()
    assert len(history) == 1 + 3  # header and three epochs

    diff = sh(repo, "dvc", "metrics", "diff", "HEAD", "--md").splitlines()
    assert diff[2].startswith("| metrics/headline.json")   # the headline figures first
    assert any("keras3_jax.fit_s" in line for line in diff)
    params = sh(repo, "dvc", "params", "diff", "HEAD", "--md")
    assert "train.epochs" in params and "| 2 " in params and "| 3 " in params

    out = sh(repo, "dvc", "exp", "run", "-n", "torch-only", "-S", "frameworks=[keras3_torch]", "-S", "train.epochs=2")
    assert "train@keras3_jax" not in out  # unchanged contender results are reused from the cache
    summary = json.loads((repo / "metrics/summary.json").read_text())
    assert list(summary) == ["keras3_torch"]

    for batch in (64, 128):
        sh(repo, "dvc", "exp", "run", "--queue", "-n", f"bs{batch}", "-S", f"train.batch_size={batch}")
    sh(repo, "dvc", "queue", "start", "-j", "2")
    deadline = time.time() + 600
    while re.search(r"Queued|Running", sh(repo, "dvc", "queue", "status")) and time.time() < deadline:
        time.sleep(3)
    status = sh(repo, "dvc", "queue", "status")
    assert status.count("Success") == 2, status

    shown = sh(repo, "dvc", "exp", "show", "--md", "--drop", ".*", "--keep",
               r"Experiment|train\.(epochs|batch_size)|keras3_torch\.steady_images_per_s")
    print(shown)   # docs/comparing.md shows this table
    for name in ("epochs3", "torch-only", "bs64", "bs128"):
        assert name in shown, shown
    assert "keras3_torch.steady_images_per_s" in shown and "train.batch_size" in shown


def test_plots_render_offline_and_diff(repo, tmp_path):
    out = sh(repo, "dvc", "plots", "show", "-o", str(tmp_path / "plots"))
    html = (tmp_path / "plots/index.html").read_text()
    assert "index.html" in out
    # Every contender on one chart (the template in plots/templates/), the report's figures as image plots,
    # and one confusion matrix per contender and seed.
    assert html.count("Seconds per epoch, every contender") >= 1 and "Training accuracy per epoch" in html
    for image in ("speed.png", "epoch_times.png", "memory.png", "training_curves.png", "confusion_matrices.png"):
        assert image in html
    for fw in FRAMEWORKS:
        assert f"plots_confusion_{fw}-0_csv" in html
    assert not any(f"plots_history_{fw}" in html for fw in FRAMEWORKS)   # no longer one chart per run
    # the live epochs (dvclive/dvc.yaml, written with the fingerprints): one chart a series, every run on it
    assert "Seconds per epoch, live" in html and "Training accuracy per epoch, live" in html
    for fw in FRAMEWORKS:
        assert f"{fw}-0/plots/metrics/epoch_s.tsv" in html
    sh(repo, "dvc", "plots", "diff", "HEAD", "-o", str(tmp_path / "diff"))
    assert (tmp_path / "diff/index.html").exists()
