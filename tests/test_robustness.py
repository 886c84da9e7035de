"""Bad input and faults, as a hostile or careless user brings them: each gets one line and loses nothing.

Stages (no orphan, no race, outputs checked first, a full disk named), params (aliases, long values,
physical limits), the CPU lock's hashes, and impossible results in compare and the report. Grids and
archives have theirs in test_fanout.py and test_prepare.py.
"""
from __future__ import annotations

import errno
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from kerasbench import files, guard
from kerasbench.params import ParamsError, load, parse
from tests import fixtures_report as fx
from tests.helpers import ROOT, run_stage, write_data

# ---------------------------------------------------------------- params


@pytest.fixture
def raw(repo_params) -> dict:
    return repo_params


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return path


def test_yaml_aliases_are_refused_before_anything_expands(tmp_path):
    """A 'billion laughs' params.yaml of about 1 KB: refused at once, in one short line."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    path = write(tmp_path, "\n".join(lines) + "\n")
    started = time.perf_counter()
    with pytest.raises(ParamsError) as exc:
        load(path)
    assert time.perf_counter() - started < 2   # today: minutes and gigabytes, then SIGABRT
    assert str(exc.value) == f"{path}: not valid YAML: YAML aliases (*name) are not allowed: write every value out"


def test_a_long_wrong_value_is_shortened_in_the_message(raw):
    raw["train"]["optimizer"] = "x" * 100_000
    with pytest.raises(ParamsError) as exc:
        parse(raw)
    message = str(exc.value)
    assert len(message) < 300 and "(100,002 characters)" in message and message.count("\n") == 0


@pytest.mark.parametrize("key, value, expected", [
    (("data", "download", "timeout_s"), math.inf, "data.download.timeout_s"),
    (("data", "download", "timeout_s"), 1e9, "less than or equal to 3600"),
    (("train", "learning_rate"), math.nan, "train.learning_rate"),
    (("data", "synthetic", "train"), 10**12, "less than or equal to 50000"),
])
def test_impossible_numbers_are_refused(raw, key, value, expected):
    *parents, last = key
    section = raw
    for part in parents:
        section = section[part]
    section[last] = value
    with pytest.raises(ParamsError, match=expected.replace(".", r"\.")):
        parse(raw)


@pytest.fixture
def data_dir(tmp_path) -> Path:
    """A prepared data set of 100 training images, like stages/prepare.py writes."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (100, 32, 32, 3), dtype=np.uint8)
    y = (np.arange(100) % 10).astype(np.uint8)
    write_data(tmp_path, x, y, x[:20], y[:20])
    return tmp_path


def train_with(data_dir: Path, **train) -> subprocess.CompletedProcess:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"].update(source="synthetic", md5=None)
    params["frameworks"] = ["torch_native"]
    params["train"].update(epochs=1, **train)
    (data_dir / "params.yaml").write_text(yaml.safe_dump(params))
    return run_stage(data_dir, "stages.train", "torch_native", "0", "data.npz", "data.json", "model", "m.json",
                     "e.json", "h.csv")


@pytest.mark.parametrize("train, message", [
    ({"batch_size": 512}, "error: train.batch_size 512 is larger than the 100 images each epoch trains on; "
                          "use at most 100"),
    ({"validation_split": 0.999}, "error: train.validation_split 0.999 of 100 images leaves no image to train on"),
    # so small that 1 - split rounds to 1.0: Keras would validate on nothing and divide by zero
    ({"validation_split": 1e-17}, "error: train.validation_split 1e-17 of 100 images leaves no image to validate on; "
                                  "use at least 0.01, or 0"),
])
def test_a_batch_or_split_the_data_cannot_hold_fails_before_training(data_dir, train, message):
    done = train_with(data_dir, **train)
    assert done.returncode == 1 and done.stderr.strip().splitlines()[-1] == message, done.stderr
    assert "Traceback" not in done.stderr and "ZeroDivisionError" not in done.stderr
    assert not any((data_dir / f).exists() for f in ("model", "m.json", "e.json", "h.csv"))


def test_a_data_summary_without_the_image_count_names_the_stage_that_writes_it(data_dir):
    (data_dir / "data.json").write_text('{"source": "synthetic", "synthetic": true}')
    done = train_with(data_dir)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        "error: data.json has no train image count; it is written by the prepare stage (dvc repro prepare)")


# ---------------------------------------------------------------- outputs


def test_an_unwritable_output_fails_before_the_work(data_dir):
    (data_dir / "metrics").write_text("a file where the metrics folder should be")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"].update(source="synthetic", md5=None)
    params["train"].update(epochs=1)
    (data_dir / "params.yaml").write_text(yaml.safe_dump(params))
    started = time.perf_counter()
    done = run_stage(data_dir, "stages.train", "torch_native", "0", "data.npz", "data.json", "model",
                     "metrics/m.json", "e.json", "h.csv")
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        "error: cannot write metrics/m.json: metrics is a file, not a folder")
    assert "epoch 1/1" not in done.stdout and time.perf_counter() - started < 20   # nothing was trained
    assert not (data_dir / "model").exists()


def test_a_full_disk_names_the_file(tmp_path, monkeypatch):
    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(guard.OutputError) as exc:
        files.write_json(tmp_path / "metrics" / "m.json", {"a": 1})
    assert str(exc.value) == f"cannot write {tmp_path / 'metrics' / 'm.json'}: no space left on the device"
    assert list((tmp_path / "metrics").iterdir()) == []   # no half-written file


def test_a_second_run_of_a_stage_refuses_while_the_first_lives(data_dir):
    first = subprocess.Popen([sys.executable, "-c", "import sys, time; from kerasbench import guard; "
                              "guard.start(sys.argv[1:], 'train'); print('held', flush=True); time.sleep(60)",
                              "model", "m.json"], cwd=data_dir, stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert first.stdout.readline().strip() == "held"
        done = train_with(data_dir)   # the same outputs: model, m.json, ...
        second = subprocess.run([sys.executable, "-c", "import sys; from kerasbench import guard; "
                                 "guard.start(sys.argv[1:], 'train')", "m.json", "model"], cwd=data_dir,
                                capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    finally:
        first.kill()
        first.wait()
    assert done.returncode == 0, done.stderr      # other outputs (e.json, h.csv too): another lock
    assert second.returncode == 1
    assert second.stderr.strip() == (f"error: train: another run (pid {first.pid}) is still writing m.json, model; "
                                     "wait for it to end or stop it, then run again (nothing was changed)")
    again = subprocess.run([sys.executable, "-c", "import sys; from kerasbench import guard; "
                            "guard.start(sys.argv[1:], 'train'); print('held')", "m.json", "model"],
                           cwd=data_dir, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert again.stdout.strip() == "held"         # the first is gone: its lock went with it


def test_a_stage_dies_with_its_parent():
    """The stage process asks for SIGTERM when its parent dies; a supervised trainer dies with the stage."""
    code = ("import os, subprocess, sys, time\n"
            "child = subprocess.Popen([sys.executable, '-c', 'from kerasbench import guard; guard.die_with_parent(); "
            "import time; time.sleep(60)'])\n"
            "print(child.pid, flush=True)\n"
            "time.sleep(60)\n")
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    child = int(parent.stdout.readline())
    time.sleep(0.5)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and Path(f"/proc/{child}").exists() and \
            Path(f"/proc/{child}/stat").read_text().split()[2] != "Z":
        time.sleep(0.1)
    assert not Path(f"/proc/{child}").exists() or Path(f"/proc/{child}/stat").read_text().split()[2] == "Z"


def gone(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().rpartition(")")[2].split()[0] == "Z"


def test_a_shell_wrapper_is_recognised():
    assert guard.is_shell_wrapper(["/bin/sh", "-c", "python -m stages.train"])
    assert guard.is_shell_wrapper(["/usr/bin/bash", "--noprofile", "--norc", "-c", "x"])   # as DVC starts bash
    assert guard.is_shell_wrapper(["-bash", "-c", "x"])
    assert not guard.is_shell_wrapper(["bash"])                                           # an interactive shell
    assert not guard.is_shell_wrapper(["/usr/bin/python3", "-c", "x"])
    assert not guard.is_shell_wrapper([])


@pytest.mark.parametrize("shell", [s for s in ("/bin/sh", "/bin/dash", "/bin/bash") if Path(s).exists()])
def test_a_stage_behind_a_shell_dies_with_the_owner(shell, tmp_path):
    """As DVC starts a stage (`$SHELL -c CMD`): dash stays in between, so killing the owner must still end
    the stage, though its direct parent, the shell, lives on until then."""
    stage = ("from kerasbench import guard; import os, time; guard.die_with_parent(); "
             "print(os.getpid(), guard.owner(), flush=True); time.sleep(60)")
    owner_code = ("import subprocess, sys\n"
                  f"subprocess.run([{shell!r}, '-c', sys.executable + ' -c \"{stage}\" > {tmp_path}/pid; true'])\n")
    parent = subprocess.Popen([sys.executable, "-c", owner_code], env={**os.environ, "PYTHONPATH": str(ROOT)})
    written = tmp_path / "pid"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(written.read_text().split() if written.exists() else []) < 2:
        time.sleep(0.1)
    pid, seen_owner = map(int, written.read_text().split())
    assert seen_owner == parent.pid                # the shell between them was looked through
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not gone(pid):
        time.sleep(0.1)
    assert gone(pid), f"the stage outlived its owner behind {shell}"


# ---------------------------------------------------------------- the CPU lock


def test_every_pin_of_the_cpu_lock_carries_hashes():
    lock = (ROOT / "requirements.lock").read_text()
    entries = [e for e in lock.split("\n") if e and not e.startswith((" ", "#"))]
    assert len(entries) > 100
    for entry in entries:
        assert entry.endswith(" \\") and "==" in entry, entry
    assert lock.count("--hash=sha256:") >= len(entries)
    assert "pip==" in (ROOT / "requirements" / "pip.lock").read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert "--require-hashes -r $(PIP_LOCK)" in makefile                  # pip and uv, by pip
    assert "UV_INSTALL  = $(BIN)/uv pip install --quiet --no-deps --require-hashes" in makefile
    assert "$(UV_INSTALL) --python $(BIN)/python -r $(LOCK)" in makefile  # the rest, by uv, hash-checked


def test_a_tampered_hash_fails_setup_with_the_installers_message(tmp_path):
    """requirements.lock is installed by uv the Makefile's way (UV_INSTALL), pip.lock and torch's by pip:
    a hash that does not match stops either, naming the package, and installs nothing."""
    lock = (ROOT / "requirements.lock").read_text()
    entry = next(e for e in lock.split("\n") if e.startswith("appdirs=="))
    tampered = tmp_path / "tampered.lock"
    tampered.write_text(f"{entry}\n    --hash=sha256:{'0' * 64}\n")
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--no-deps",
                           "--require-hashes", "-r", str(tampered)], capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert "THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE" in done.stderr, done.stderr
    target = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(target)], check=True)
    uv_install = re.search(r"^UV_INSTALL  = \$\(BIN\)/uv (.*)$", (ROOT / "Makefile").read_text(), re.M)[1]
    uv_install = uv_install.replace("$(PYPI_INDEX)", "https://pypi.org/simple").split()
    done = subprocess.run([str(Path(sys.executable).parent / "uv"), *uv_install, "--python", str(target / "bin/python"),
                           "-r", str(tampered)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "UV_CACHE_DIR": str(tmp_path / "uv-cache")})
    assert done.returncode != 0
    assert f"Hash mismatch for `{entry.split()[0]}`" in done.stderr, done.stderr   # appdirs==<its pin>
    assert not list((target / "lib").glob("python3*/site-packages/appdirs*")), "nothing installed"


# ---------------------------------------------------------------- impossible results


def results(tmp_path: Path, **changes) -> Path:
    fx.write_run(tmp_path, "tf_keras", 0, repeats=2, train=changes or None)
    fx.write_params(tmp_path, ["tf_keras"], [0], repeats=2)
    return tmp_path


@pytest.mark.parametrize("key, value, shown", [
    ("time.first_epoch_s", -3.0, "first epoch (s) is -3.0"),
    ("time.import_s", 0.0, "import (s) is 0.0"),
    ("memory.rss_peak_os_mib", math.inf, "process peak RSS (MiB) is inf"),
])
def test_compare_and_the_report_refuse_impossible_figures(tmp_path, key, value, shown):
    root = results(tmp_path, **{key: value})
    for cmd in ([sys.executable, "-m", "kerasbench", "compare", "workspace", "workspace", "--repo", str(root)],
                [sys.executable, "-m", "stages.report", "reports", "metrics/summary.json"]):
        done = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=120,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert done.returncode in (1, 2) and "Traceback" not in done.stderr, done.stderr
        last = done.stderr.strip().splitlines()[-1]
        assert "metrics/train/tf_keras-0.json: " + shown in last and "must be positive and finite" in last, last
    assert not (root / "reports").exists()


def test_a_non_numeric_history_cell_is_named(tmp_path):
    root = results(tmp_path)
    history = root / "metrics" / "repeats" / "tf_keras-0-r1.csv"
    history.write_text(history.read_text().replace("\n2,", "\nsecond,", 1))
    done = subprocess.run([sys.executable, "-m", "kerasbench", "compare", "workspace", "--repo", str(root)], cwd=root,
                          capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2 and done.stderr == (
        "compare: error: metrics/repeats/tf_keras-0-r1.csv: row 2, column epoch: 'second' is not a number\n")


@pytest.mark.parametrize("args, message", [
    (["--factor", "inf"], "--factor must be a finite number above 1"),
    (["--factor", "1"], "--factor must be a finite number above 1"),
    (["--repo", "/no/such/folder"], "--repo /no/such/folder: no such folder"),
])
def test_bad_compare_arguments_are_one_line(tmp_path, args, message):
    root = results(tmp_path)
    done = subprocess.run([sys.executable, "-m", "kerasbench", "compare", "workspace", "workspace", *args], cwd=root,
                          capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and message in done.stderr, done.stderr


def test_any_revision_git_accepts_is_accepted(tmp_path):
    from kerasbench.results import resolve
    from tests.helpers import git
    git(tmp_path, "init", "-q")
    git(tmp_path, "commit", "-q", "--allow-empty", "-m", "first results")
    git(tmp_path, "commit", "-q", "--allow-empty", "-m", "second")
    first = git(tmp_path, "rev-parse", "HEAD~1")
    assert resolve(":/first results", tmp_path).sha == first
    assert resolve("HEAD~1", tmp_path).sha == first
