"""Ctrl-C and SIGTERM during a real stage: one line naming the stage, no traceback, no output left."""
from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import write_random_data, write_stage_params

ROOT = Path(__file__).resolve().parents[1]
LINE = "interrupted during train@torch_native-0; nothing was written; run `dvc repro` again"


@pytest.fixture
def workdir(tmp_path) -> Path:
    write_random_data(tmp_path, 512, 64)
    write_stage_params(tmp_path, ["torch_native"], epochs=200, batch_size=8)   # long enough to interrupt mid-fit
    return tmp_path


def train_until_first_epoch(workdir: Path) -> subprocess.Popen:
    stage = subprocess.Popen([sys.executable, "-m", "stages.train", "torch_native", "0", "data.npz", "data.json",
                              "models/m", "metrics/m.json", "metrics/m.env.json", "plots/m.csv"], cwd=workdir,
                             env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 120
    seen = b""
    while b"epoch 1/" not in seen:
        assert time.monotonic() < deadline and stage.poll() is None, seen + stage.stderr.read()
        if select.select([stage.stdout], [], [], 1)[0]:
            seen += os.read(stage.stdout.fileno(), 4096)
    return stage


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_an_interrupted_training_says_one_line_and_leaves_nothing(workdir, how):
    stage = train_until_first_epoch(workdir)
    if how == "ctrl-c":
        os.killpg(stage.pid, signal.SIGINT)        # what the terminal does: the whole process group
    else:
        stage.send_signal(signal.SIGTERM)          # a scheduler or kill: the stage process alone
    _, err = stage.communicate(timeout=60)
    text = err.decode()
    assert stage.returncode == 130, text
    assert "Traceback" not in text and text.strip().splitlines()[-1] == LINE
    assert text.count("interrupted during") == 1
    assert not (workdir / "metrics" / "m.json").exists() and not (workdir / "models" / "m").exists()
    assert not list(workdir.glob("metrics/.*")) and not list(workdir.glob("models/.*"))


def test_ctrl_c_during_a_download_says_one_line(tmp_path, make_archive, http_server, write_params):
    """The server does not answer (a stall): Ctrl-C ends the stage with one line, the partial kept."""
    archive = make_archive()
    (http_server.root / "cifar.tar.gz").write_bytes(archive.path.read_bytes())
    http_server.script, http_server.stall_s = ["stall"], 60
    write_params(tmp_path, {"data": {"source": http_server.url("cifar.tar.gz"), "md5": archive.md5,
                                     "download": {"timeout_s": 30, "retries": 0}}})
    stage = subprocess.Popen([sys.executable, "-m", "stages.download", "data/raw/a.tar.gz", "data/raw/a.json"],
                             cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)}, stderr=subprocess.PIPE,
                             start_new_session=True)
    deadline = time.monotonic() + 30
    while not http_server.requests and time.monotonic() < deadline:
        time.sleep(0.1)
    os.killpg(stage.pid, signal.SIGINT)
    _, err = stage.communicate(timeout=30)
    text = err.decode()
    assert stage.returncode == 130 and "Traceback" not in text
    assert text.strip().splitlines()[-1] == ("interrupted during download; nothing was written; "
                                             "run `dvc repro` again")
    assert not (tmp_path / "data/raw/a.tar.gz").exists() and not (tmp_path / "data/raw/a.json").exists()
