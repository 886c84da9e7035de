"""Test helpers, written once: running commands and stages the way a user does (`sh`, `git`, `run_stage`, with a
git identity and this venv first on PATH), interpreters that see this venv's packages with some taken away or
relabelled (how the tests show what happens when a contender's environment lacks a package or holds another
version), and small params.yaml files for throwaway pipelines."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# `git commit` and `dvc exp run` need an identity; a clean CI machine may have none.
GIT_IDENTITY = {"GIT_AUTHOR_NAME": "kerasbench test", "GIT_AUTHOR_EMAIL": "test@example.invalid",
                "GIT_COMMITTER_NAME": "kerasbench test", "GIT_COMMITTER_EMAIL": "test@example.invalid"}


def tool_env(base: dict | None = None, **extra: str) -> dict[str, str]:
    """The environment of a user's shell in a throwaway repository: this venv's tools first on PATH, DVC's
    analytics off, a git identity, and no PYTHONPATH (the repository's own code is what runs)."""
    env = {**(os.environ if base is None else base), "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
           "DVC_NO_ANALYTICS": "1", "GIT_TERMINAL_PROMPT": "0", **GIT_IDENTITY, **extra}
    env.pop("PYTHONPATH", None)
    return env


def sh(cwd: Path, *cmd: str, env: dict | None = None, check: bool = True,
       timeout: float = 900) -> subprocess.CompletedProcess:
    """Run a command as a user would (tool_env unless `env`); with `check`, a failure shows both streams' ends."""
    result = subprocess.run(list(cmd), cwd=cwd, env=env or tool_env(), capture_output=True, text=True,
                            timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} failed ({result.returncode}):\n{result.stdout[-3000:]}\n"
                             f"{result.stderr[-3000:]}")
    return result


def git(cwd: Path, *args: str) -> str:
    """git's standard output, with the test identity."""
    return sh(cwd, "git", *args).stdout.strip()


PIPELINE = ("stages", "kerasbench", "scripts", "plots/templates", "dvc.yaml", ".gitignore", ".dvcignore")


def pipeline_copy(dest: Path) -> Path:
    """What `dvc repro` needs of this checkout (code, dvc.yaml, plot templates), copied into `dest`."""
    for name in PIPELINE:
        source = ROOT / name
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, dest / name)
    return dest


def run_stage(cwd: Path, module: str, *args: str, env: dict | None = None,
              timeout: float = 600) -> subprocess.CompletedProcess:
    """`python -m MODULE ARGS` from `cwd` (which holds params.yaml), with this checkout's code."""
    environ = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=environ, capture_output=True,
                          text=True, timeout=timeout)


def shadow_venv(root: Path, drop: tuple[str, ...] = (), versions: dict[str, str] | None = None) -> Path:
    """A venv under `root` whose site-packages is this one's, minus the entries whose names start with
    one of `drop`, and with each `.dist-info` starting with a key of `versions` claiming that version.
    Returns its python."""
    site = Path(next(p for p in sys.path if p.endswith("site-packages")))
    shadow = root / "site"
    shadow.mkdir(parents=True)
    for entry in site.iterdir():
        name = entry.name.lower()
        if name.startswith(drop):
            continue
        relabel = next((v for prefix, v in (versions or {}).items()
                        if name.startswith(prefix) and name.endswith(".dist-info")), None)
        if relabel is None:
            (shadow / entry.name).symlink_to(entry)
            continue
        shutil.copytree(entry, shadow / entry.name)
        meta = shadow / entry.name / "METADATA"
        meta.write_text(re.sub(r"(?m)^Version: .*$", f"Version: {relabel}", meta.read_text(), count=1))
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (next(venv.glob("lib/python*/site-packages")) / "shadow.pth").write_text(f"{shadow}\n")
    return venv / "bin" / "python"


def write_small_params(source: Path, dest: Path, frameworks: list[str], train_images: int, test_images: int,
                       epochs: int, evaluate_repeats: int, **train) -> Path:
    """`source`'s params.yaml with synthetic data of the given size, these contenders and a short
    training (`train` overrides more train.* keys), written to `dest`/params.yaml."""
    import yaml

    from kerasbench.params import read_yaml
    params = read_yaml((source / "params.yaml").read_text())
    params["data"].update(source="synthetic", md5=None, synthetic={"train": train_images, "test": test_images})
    params["frameworks"] = list(frameworks)
    params["train"].update(epochs=epochs, **train)
    params["evaluate"]["repeats"] = evaluate_repeats
    path = dest / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def write_data(dest: Path, x_train, y_train, x_test, y_test, class_names=tuple("abcdefghij")) -> None:
    """`dest`/data.npz and data.json as the prepare stage writes them, from arrays a test made (synthetic)."""
    import json

    import numpy as np
    np.savez(dest / "data.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
             class_names=np.array(list(class_names)))
    (dest / "data.json").write_text(json.dumps({"source": "synthetic", "md5": None, "sha256": None,
                                                "synthetic": True, "train": len(y_train), "test": len(y_test)}))


def write_random_data(dest: Path, train: int, test: int, seed: int = 0) -> Path:
    """`dest`/data.npz and data.json of random images with balanced labels (timing tests need no learnable data)."""
    import numpy as np
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (train, 32, 32, 3), dtype=np.uint8)
    y = (np.arange(train) % 10).astype(np.uint8)
    write_data(dest, x, y, x[:test], y[:test])
    return dest


def write_stage_params(dest: Path, frameworks: list[str], **train) -> dict:
    """The repository's params.yaml on the synthetic source, these contenders and train.* overrides, written
    to `dest`/params.yaml (for a stage run in `dest`); returns it, to change more and write again."""
    import yaml
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"].update(source="synthetic", md5=None)
    params["frameworks"] = list(frameworks)
    params["train"].update(train)
    (dest / "params.yaml").write_text(yaml.safe_dump(params))
    return params


def tiny_checkout(dest: Path, frameworks: list[str], env: dict) -> Path:
    """This pipeline at its tiny size (300/100 synthetic images, 2 epochs, one inference pass) for
    `frameworks`, in a fresh git and DVC repository at `dest`, fingerprinted under `env` and committed."""
    repo = pipeline_copy(dest)
    write_small_params(ROOT, repo, frameworks, 300, 100, epochs=2, evaluate_repeats=1)
    sh(repo, str(BIN / "python"), "-m", "kerasbench.fingerprint", env=env)
    sh(repo, "git", "init", "-q", env=env)
    sh(repo, str(BIN / "dvc"), "init", "-q", env=env)
    sh(repo, "git", "add", "-A", env=env)
    sh(repo, "git", "commit", "-qm", "tiny pipeline", env=env)
    return repo


def assert_trained_under(repo: Path, frameworks: list[str], pythons: dict[str, str], device: str) -> None:
    """Every contender in `repo` trained under its backend's interpreter (`pythons`: backend -> python), a
    CUDA build, on `device`, and was evaluated; the report was written."""
    import json

    from kerasbench import paths
    for fw in frameworks:
        files = paths.run_files(fw, 0)
        env_record = json.loads((repo / files[paths.ENV]).read_text())
        backend = env_record["backend"]
        assert env_record["executable"] == pythons[backend], fw   # its backend's venv
        assert env_record["cuda_build"], f"{fw}: {backend} under {pythons[backend]} is not a CUDA build"
        assert env_record["device"] == device, fw   # device: auto; without a GPU the CUDA build runs on the CPU
        evaluated = json.loads((repo / files[paths.EVAL]).read_text())
        assert 0 <= evaluated["test"]["accuracy"] <= 1
    assert (repo / paths.REPORTS / "report.md").exists() and (repo / paths.REPORTS / "index.html").exists()
